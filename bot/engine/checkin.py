"""The weekly check-in: what you got done, what's next, what blocks you.

The reminder DM carries a *Check in* button (:data:`OPEN_FORM`) that opens a form with the
three fields (:data:`FIELDS`); ``/checkin`` does the same, and takes them as options too.
The blocker is matched at once, as ``/ask`` would, and answered with the roadblock or topic it
fits — or an honest "I don't know", noted for the mentors. A private streak counts the weeks
in a row with a check-in; a week the member snoozed the reminder is skipped, not a break, and
the week under way counts only once it has one. A member who shares their progress has what
they did and what's next posted in the server's progress channel (``/setup
progress-channel``), if it has one; the blocker is never posted there. The server's mentors
can get a weekly digest of the open blockers (``/setup blocker-digest``,
:mod:`bot.engine.digest`), which quotes a member's blocker only while they share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.engine.ask import AskFlow
from bot.engine.commands import Param, command, route
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Announcement, CheckInOutcome, Kind, Reply
from bot.engine.setup import setup_of
from bot.render import render

if TYPE_CHECKING:
    from bot.storage.repo.checkins import CheckInRecord

#: The action id of the *Check in* button: a front end with forms (Discord) answers it with
#: the form at once, without the engine; the form's answers go to the ``checkin`` command.
#: Elsewhere (the console) the route below says how to check in.
OPEN_FORM = "form:checkin"
FORM_FAMILY = "form"
MAX_FIELD = 500


@dataclass(frozen=True)
class FormField:
    name: str  # the ``checkin`` command's parameter
    label: str
    placeholder: str
    long: bool = True


FORM_TITLE = "Weekly check-in"
FIELDS = (
    FormField("done", "What did you get done?", "Shipped the retraining job; wrote the ADR"),
    FormField("next_step", "What's next?", "Alerts on drift for the churn model"),
    FormField("blocker", "What's in your way?",
              "No access to production, so nothing I build ships"),
)


def week_of(moment: datetime, timezone: str = "UTC") -> str:
    """The ISO week of ``moment`` where the member is: ``2026-W49``."""
    year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year:04d}-W{week:02d}"


def _monday(week: str) -> date:
    year, _, number = week.partition("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def streak(weeks: list[CheckInRecord], current: str) -> int:
    """Weeks in a row with a check-in, up to ``current``: a snoozed week is skipped, a week
    with neither ends the streak; ``current`` without a check-in yet doesn't end it."""
    kinds = {w.week: w.kind for w in weeks}
    if not kinds:
        return 0
    oldest = min(_monday(w) for w in kinds)
    day = _monday(current)
    if current not in kinds:
        day -= timedelta(days=7)  # this week is still open
    count = 0
    while day >= oldest:
        year, number, _ = day.isocalendar()
        kind = kinds.get(f"{year:04d}-W{number:02d}")
        if kind == "checkin":
            count += 1
        elif kind != "snoozed":
            break
        day -= timedelta(days=7)
    return count


class CheckInFlow:
    def __init__(self, deps: Deps, asking: AskFlow):
        self.deps = deps
        self.asking = asking

    async def _posts(self, user_id: int, guilds: list[int] | tuple[int, ...],
                     done: str | None, next_step: str | None) -> tuple[Announcement, ...]:
        """The check-in for the progress channels of ``guilds`` that have one and let members
        share (done and next only: the blocker stays private)."""
        body = render("checkin_post", user_id=user_id, done=done, next_step=next_step)
        posts = []
        for guild_id in guilds:
            setup = await setup_of(self.deps, guild_id)
            if setup.progress_channel is not None and setup.sharing == "members":
                posts.append(Announcement(guild_id, setup.progress_channel, user_id, None,
                                          "Weekly check-in", body, what="checkin"))
        return tuple(posts)

    @route(OPEN_FORM)
    async def open_form(self, member: Member) -> Reply:
        return Reply(FORM_TITLE, render("checkin", streak=None, done=None, next_step=None,
                                        blocker=None, answer=None, posted=[]),
                     kind=Kind.CHECKIN, private=True)

    async def week_now(self, member: Member) -> str:
        prefs = await self.deps.store.reminders.get(member.user_id)
        return week_of(self.deps.clock(), prefs.timezone if prefs else "UTC")

    @command("checkin", "your weekly check-in: what you did, what's next, what's in your way",
             Param("done", "text", "what you got done"),
             Param("next_step", "text", "what you do next"),
             Param("blocker", "text", "what's in your way (answered at once)"), private=True)
    async def checkin(self, member: Member, done: str | None = None,
                      next_step: str | None = None, blocker: str | None = None) -> Reply:
        done, next_step, blocker = (" ".join((v or "").split())[:MAX_FIELD] or None
                                    for v in (done, next_step, blocker))
        if not (done or next_step or blocker):
            raise UserError("A check-in needs at least one line: what you got done, what's "
                            "next, or what's in your way.")
        record = await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        answer = await self.asking.ask(member, blocker) if blocker else None
        fits = answer.match.intent if answer and answer.match and answer.match.status == \
            "answered" and not answer.match.uncovered else None
        week = await self.week_now(member)
        await self.deps.store.checkins.check_in(member.user_id, week, done=done,
                                                next_step=next_step, blocker=blocker,
                                                blocker_intent=fits)
        weeks = await self.deps.store.checkins.history(member.user_id)
        count = streak(weeks, week)
        posts: tuple[Announcement, ...] = ()
        if record.sharing and (done or next_step):
            guilds = [member.guild_id] if member.guild_id is not None else record.guild_ids
            posts = await self._posts(member.user_id, guilds, done, next_step)
        body = render("checkin", streak=count, done=done, next_step=next_step,
                      blocker=blocker, answer=answer, posted=[p.channel_id for p in posts])
        reply = Reply(f"Checked in · {count} week{'s' if count != 1 else ''} in a row", body,
                      kind=Kind.CHECKIN, private=True, tone="success",
                      checkin=CheckInOutcome(week, count, fits), announce=posts)
        if answer is not None:  # the answer's buttons (More, Helpful, the closest topics)
            reply = replace(reply, actions=answer.actions, match=answer.match,
                            intent=answer.intent)
        return reply
