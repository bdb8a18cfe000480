"""Reminder settings: on (weekday, hour, IANA timezone), off, snooze a week, status."""

from __future__ import annotations

from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Reply
from bot.engine.schedule import (
    WEEKDAYS,
    ScheduleError,
    next_occurrence,
    parse_hour,
    parse_timezone,
    parse_weekday,
)
from bot.render import render

DMS_CLOSED_HELP = (
    "I couldn't DM you: your DMs are closed to me. In the server, open *Privacy Settings* "
    "(server name → Privacy Settings) and allow direct messages from server members, then "
    "run `/reminders on` again."
)


class RemindersFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    async def on(
        self,
        member: Member,
        weekday: str | int | None = None,
        hour: str | int | None = None,
        timezone: str | None = None,
    ) -> Reply:
        current = await self.deps.store.reminders.get(member.user_id)
        try:
            wd = parse_weekday(weekday) if weekday not in (None, "") else (
                current.weekday if current else parse_weekday(None))
            hr = parse_hour(hour) if hour not in (None, "") else (
                current.hour if current else parse_hour(None))
            tz = parse_timezone(timezone) if timezone else (
                current.timezone if current else parse_timezone(None))
        except ScheduleError as exc:
            raise UserError(str(exc)) from exc
        due = next_occurrence(wd, hr, tz, self.deps.clock())
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.reminders.set(
            member.user_id, enabled=True, weekday=wd, hour=hr, timezone=tz, next_due_utc=due
        )
        reply = await self.status(member)
        return Reply("Weekly reminders are on", reply.body, kind="reminders",
                     actions=reply.actions, private=True, tone="success")

    async def off(self, member: Member) -> Reply:
        await self.deps.store.reminders.disable(member.user_id)
        return Reply(
            "Weekly reminders are off",
            "No more reminders. Turn them back on any time with `/reminders on`.",
            kind="reminders",
            actions=(Action("rem:on", "Turn back on"),),
            private=True,
        )

    async def snooze(self, member: Member) -> Reply:
        prefs = await self.deps.store.reminders.get(member.user_id)
        if not prefs or not prefs.enabled:
            raise UserError("Weekly reminders are off, so there is nothing to snooze.")
        after = max(prefs.next_due_utc or self.deps.clock(), self.deps.clock())
        due = next_occurrence(prefs.weekday, prefs.hour, prefs.timezone, after)
        await self.deps.store.reminders.set(
            member.user_id, enabled=True, weekday=prefs.weekday, hour=prefs.hour,
            timezone=prefs.timezone, next_due_utc=due,
        )
        reply = await self.status(member)
        return Reply("Snoozed for a week", reply.body, kind="reminders",
                     actions=reply.actions, private=True)

    async def status(self, member: Member) -> Reply:
        prefs = await self.deps.store.reminders.get(member.user_id)
        on = bool(prefs and prefs.enabled)
        buttons = (
            (Action("rem:snooze", "Snooze a week"), Action("rem:off", "Stop reminders", "danger"))
            if on and prefs and not prefs.paused_reason
            else (Action("rem:on", "Turn on", "primary"),)
        )
        return Reply(
            "Weekly reminders",
            render(
                "reminders_status",
                prefs=prefs,
                weekday=WEEKDAYS[prefs.weekday].title() if prefs else "",
                next_due=prefs.next_due_utc if prefs else None,
                paused_help=DMS_CLOSED_HELP if prefs and prefs.paused_reason else "",
            ),
            kind="reminders",
            actions=buttons,
            private=True,
        )
