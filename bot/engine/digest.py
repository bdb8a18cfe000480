"""The mentors' weekly digest of open blockers (``/setup blocker-digest``).

Once a week, at the hour a server chose in its own time zone, the reminder loop
(:mod:`bot.reminders.digest`) posts in the server's chosen channel what still blocks its
members: the blockers of the week before, grouped by the topic (roadblock, FAQ …) each was
matched to, with counts. A member's own words are quoted only when they share their progress
and the server lets members share (``/setup sharing``); otherwise the digest says "1 member,
not shared". A blocker is open when the member's latest check-in of the week names one.

This module composes the digest (a :class:`~bot.engine.replies.Reply`) and holds the setup
commands; sending is the reminder loop's, and Discord is the front end's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.engine.commands import Param, command
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Kind, Reply
from bot.engine.schedule import (
    ScheduleError,
    next_occurrence,
    parse_hour,
    parse_timezone,
    parse_weekday,
)
from bot.engine.setup import BlockerDigest, GuildSetup, SetupFlow
from bot.render import render

if TYPE_CHECKING:
    from bot.storage.repo.checkins import OpenBlocker
    from bot.storage.store import Store

#: the title of a topic by its intent id (None: not known any more)
Titles = Callable[[str], "str | None"]

#: what the digest covers: the week before its time
WINDOW = timedelta(days=7)
#: Discord's embed description holds 4096 characters; the digest stays in one, with room
BODY_BUDGET = 3800
MAX_GROUPS = 20
MAX_QUOTES = 5  # members' own words per topic, at most
QUOTE_LIMIT = 200
UNMATCHED = "Not matched to a topic yet"


@dataclass(frozen=True)
class DigestGroup:
    """The open blockers matched to one topic (``intent`` None: matched to none)."""

    title: str
    intent: str | None
    count: int
    quotes: tuple[tuple[int, str], ...]  # (member id, their blocker) of members who share
    private: int  # members whose blocker is not shown


def digest_period(setup: BlockerDigest, now: datetime) -> tuple[datetime, datetime] | None:
    """The digest period under way at ``now``: ``[start, end)`` from the latest weekly
    occurrence at or before ``now`` to the next (UTC per occurrence, so DST moves nothing);
    None when that occurrence came before the digest was switched on."""
    start = next_occurrence(setup.weekday, setup.hour, setup.timezone, now - timedelta(days=8))
    while True:
        end = next_occurrence(setup.weekday, setup.hour, setup.timezone, start)
        if end > now:
            break
        start = end
    if start < setup.since:
        return None
    return start, end


def titles_of(deps: Deps) -> Titles:
    """Topic titles from the knowledge base and what mentors taught."""
    def title(intent_id: str) -> str | None:
        topic = deps.intent(intent_id)
        return None if topic is None else topic.title
    return title


def _groups(titles: Titles, blockers: Sequence[OpenBlocker], shown: bool) -> list[DigestGroup]:
    by_topic: dict[str | None, list[OpenBlocker]] = {}
    for b in blockers:
        by_topic.setdefault(b.blocker_intent, []).append(b)
    groups = []
    for intent_id, found in by_topic.items():
        title = UNMATCHED if intent_id is None else (titles(intent_id) or intent_id)
        quotes = tuple((b.member_id, b.blocker) for b in found if shown and b.sharing)
        groups.append(DigestGroup(title, intent_id, len(found), quotes,
                                  len(found) - len(quotes)))
    # what no topic answers first (a mentor is needed there), then the biggest
    groups.sort(key=lambda g: (g.intent is not None, -g.count, g.title))
    return groups


async def compose_digest(store: Store, titles: Titles, guild_id: int, setup: GuildSetup,
                         since: datetime, until: datetime, *, title: str | None = None) -> Reply:
    """The digest of ``guild_id``'s blockers open at the end of ``[since, until)``."""
    blockers = await store.checkins.open_blockers(guild_id, since, until)
    groups = _groups(titles, blockers, setup.sharing == "members")
    members = sum(g.count for g in groups)
    body = ""
    for quotes, kept in ((MAX_QUOTES, MAX_GROUPS), (2, MAX_GROUPS), (1, 12), (0, 12),
                         (0, 6)):
        body = render("digest", groups=groups[:kept], hidden=groups[kept:], members=members,
                      since=since, until=until, max_quotes=quotes, quote_limit=QUOTE_LIMIT)
        if len(body) <= BODY_BUDGET:
            break
    body = body[:BODY_BUDGET]  # never reached with the texts' own limits; a last guard
    heading = title or "Open blockers this week"
    return Reply(f"{heading} · {members} member{'s' if members != 1 else ''}", body,
                 kind=Kind.DIGEST, tone="warning" if members else "info")


class DigestFlow:
    def __init__(self, deps: Deps, setup: SetupFlow):
        self.deps = deps
        self.setup = setup

    @command("setup blocker-digest", "a weekly digest of members' open blockers for mentors",
             Param("state", "on_off", "on or off", required=True),
             Param("channel", "channel", "a text channel for the digest"),
             Param("weekday", "weekday", "day of the week (default: Monday)"),
             Param("hour", "hour", "hour 0-23 in the time zone (default: 9)"),
             Param("timezone", "timezone", "an IANA time zone, e.g. Europe/Berlin"),
             private=True, admin=True)
    async def blocker_digest(self, member: Member, state: bool, channel: int | None = None,
                             weekday: str | int | None = None, hour: str | int | None = None,
                             timezone: str | None = None) -> Reply:
        guild_id = self.setup._check(member)
        if not state:
            return await self.setup._change(member, blocker_digest=None)
        current = (await self.setup.of(guild_id)).blocker_digest
        channel = channel or (current.channel if current else None)
        if channel is None:
            raise UserError("Choose the channel for the digest, e.g. "
                            "`/setup blocker-digest on #mentors`.")
        try:
            wd = parse_weekday(weekday) if weekday not in (None, "") or not current \
                else current.weekday
            hr = parse_hour(hour) if hour not in (None, "") or not current else current.hour
            tz = parse_timezone(timezone) if timezone or not current else current.timezone
        except ScheduleError as exc:
            raise UserError(f"That schedule doesn't work: {exc}.") from exc
        # a new schedule starts now; the same one keeps its start (a digest due and not yet
        # posted, e.g. while the bot was down, still goes out)
        same = current is not None and (wd, hr, tz) == (current.weekday, current.hour,
                                                        current.timezone)
        since = current.since if current is not None and same else self.deps.clock()
        digest = BlockerDigest(channel=channel, weekday=wd, hour=hr, timezone=tz, since=since)
        return await self.setup._change(member, blocker_digest=digest)

    @command("setup digest-preview", "the mentors' blocker digest as it would be posted now",
             private=True, admin=True)
    async def preview(self, member: Member) -> Reply:
        guild_id = self.setup._check(member)
        setup = await self.setup.of(guild_id)
        now = self.deps.clock()
        reply = await compose_digest(self.deps.store, titles_of(self.deps), guild_id, setup,
                                     now - WINDOW, now,
                                     title="Preview: open blockers")
        return Reply(reply.title, reply.body, kind=Kind.ADMIN, private=True, tone=reply.tone)


__all__ = ["DigestFlow", "DigestGroup", "Titles", "compose_digest", "digest_period",
           "titles_of"]
