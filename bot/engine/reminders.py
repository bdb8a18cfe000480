"""Reminder settings: on (weekday, hour, IANA timezone), off, snooze a week, status."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine.checkin import week_of
from bot.engine.commands import Param, action_id, command, route
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Kind, Reply
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

    @route("rem:on")
    async def on_button(self, member: Member) -> Reply:
        return await self.on(member)

    @command("reminders on", "a weekly progress DM",
             Param("weekday", "weekday", "day of the week (default: Monday)"),
             Param("hour", "hour", "hour 0-23 in your time zone (default: 9)"),
             Param("timezone", "timezone", "your IANA time zone, e.g. Europe/Berlin"),
             private=True)
    async def on(
        self,
        member: Member,
        weekday: str | int | None = None,
        hour: str | int | None = None,
        timezone: str | None = None,
    ) -> Reply:
        current = await self.deps.store.reminders.get(member.user_id)
        given = _by_shape(weekday, hour, timezone)
        problems: list[str] = []

        def parsed(value: object, parse: Callable[[Any], Any], kept: Any) -> Any:
            if value in (None, ""):
                return kept if current else parse(None)
            try:
                return parse(value)
            except ScheduleError as exc:
                problems.append(str(exc))
                return None

        wd = parsed(given[0], parse_weekday, current.weekday if current else None)
        hr = parsed(given[1], parse_hour, current.hour if current else None)
        tz = parsed(given[2], parse_timezone, current.timezone if current else None)
        if problems:  # every problem at once, not one per try
            raise UserError("That schedule doesn't work: " + "; ".join(problems) + ". "
                            "For example: `/reminders on friday 18 Europe/Berlin`.")
        due = next_occurrence(wd, hr, tz, self.deps.clock())
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.reminders.set(
            member.user_id, enabled=True, weekday=wd, hour=hr, timezone=tz, next_due_utc=due
        )
        reply = await self.status(member)
        return Reply("Weekly reminders are on", reply.body, kind=Kind.REMINDERS,
                     actions=reply.actions, private=True, tone="success")

    @route("rem:off")
    async def off_button(self, member: Member) -> Reply:
        return await self.off(member)

    @command("reminders off", "stop the weekly reminders", private=True)
    async def off(self, member: Member) -> Reply:
        await self.deps.store.reminders.disable(member.user_id)
        return Reply(
            "Weekly reminders are off",
            "No more reminders. Turn them back on any time with `/reminders on`.",
            kind=Kind.REMINDERS,
            actions=(Action(action_id(self.on_button), "Turn back on"),),
            private=True,
        )

    @route("rem:snooze")
    async def snooze_button(self, member: Member) -> Reply:
        return await self.snooze(member)

    @command("reminders snooze", "skip the next reminder", private=True)
    async def snooze(self, member: Member) -> Reply:
        prefs = await self.deps.store.reminders.get(member.user_id)
        if not prefs or not prefs.enabled:
            raise UserError("Weekly reminders are off, so there is nothing to snooze.")
        after = max(prefs.next_due_utc or self.deps.clock(), self.deps.clock())
        due = next_occurrence(prefs.weekday, prefs.hour, prefs.timezone, after)
        # the skipped week keeps the member's check-in streak alive
        await self.deps.store.checkins.snoozed(member.user_id, week_of(after, prefs.timezone))
        await self.deps.store.reminders.set(
            member.user_id, enabled=True, weekday=prefs.weekday, hour=prefs.hour,
            timezone=prefs.timezone, next_due_utc=due,
        )
        reply = await self.status(member)
        return Reply("Snoozed for a week", reply.body, kind=Kind.REMINDERS,
                     actions=reply.actions, private=True)

    @route("rem:status")
    async def status_button(self, member: Member) -> Reply:
        return await self.status(member)

    @command("reminders status", "when your next reminder comes", private=True, default=True)
    async def status(self, member: Member) -> Reply:
        prefs = await self.deps.store.reminders.get(member.user_id)
        on = bool(prefs and prefs.enabled)
        buttons = (
            (Action(action_id(self.snooze_button), "Snooze a week"),
             Action(action_id(self.off_button), "Stop reminders", "danger"))
            if on and prefs and not prefs.paused_reason
            else (Action(action_id(self.on_button), "Turn on", "primary"),)
        )
        return Reply(
            "Weekly reminders",
            render(
                "reminders_status",
                prefs=prefs,
                weekday=WEEKDAYS[prefs.weekday].title() if prefs else "",
                next_due=prefs.next_due_utc if prefs else None,
                local_due=_in_zone(prefs.next_due_utc, prefs.timezone)
                if prefs and prefs.next_due_utc else "",
                paused_help=DMS_CLOSED_HELP if prefs and prefs.paused_reason else "",
            ),
            kind=Kind.REMINDERS,
            actions=buttons,
            private=True,
        )


_HOUR = re.compile(r"^\d{1,2}(?::00)?\s*(?:am|pm)?$", re.I)


def _by_shape(*values: str | int | None) -> tuple[str | int | None, ...]:
    """Typed words (weekday, hour, timezone) sorted by what they look like (an hour is a
    number, a zone has a "/"), so that "/reminders on 18 Europe/Berlin" means 18:00 in
    Berlin. Numbers from Discord's typed options already sit in their place; two words of one
    kind stay as given (and fail)."""
    if not all(v is None or isinstance(v, str) for v in values):
        return values
    slots: list[str | int | None] = [None, None, None]
    for value in values:
        if value is None or value == "":
            continue
        text = str(value).strip().casefold()
        kind = (1 if _HOUR.match(text) else
                2 if "/" in text or text.upper() in ("UTC", "GMT") else 0)
        if slots[kind] is not None:
            return values
        slots[kind] = value
    return tuple(slots)


def _in_zone(moment: datetime, zone: str) -> str:
    """``Tue 08 Dec, 00:00``: the reminder's time where the member said they are."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b, %H:%M")
