"""/reminders on|off|status|snooze."""

from __future__ import annotations

import discord
from discord import app_commands
from rapidfuzz import fuzz, process

from bot.engine.schedule import WEEKDAYS, timezone_names
from bot.frontends.discord.cogs._base import EngineCog

WEEKDAY_CHOICES = [app_commands.Choice(name=d.title(), value=i) for i, d in enumerate(WEEKDAYS)]


def timezone_choices(current: str, limit: int = 25) -> list[app_commands.Choice[str]]:
    names = timezone_names()
    text = current.strip().replace(" ", "_")
    if not text:
        picks = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York",
                 "America/Los_Angeles", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"]
    else:
        starts = [n for n in names if n.lower().startswith(text.lower())
                  or n.lower().split("/")[-1].startswith(text.lower())]
        fuzzy = [k for k, _, _ in process.extract(text, names, scorer=fuzz.WRatio,
                                                  processor=str.casefold, limit=limit)]
        picks = list(dict.fromkeys(starts + fuzzy))
    return [app_commands.Choice(name=n, value=n) for n in picks[:limit]]


class RemindersCog(EngineCog):
    reminders = app_commands.Group(name="reminders", description="Weekly progress reminders by DM")

    @reminders.command(name="on", description="Get a weekly progress DM")
    @app_commands.describe(weekday="Day of the week (default Monday)",
                           hour="Hour 0-23 in your timezone (default 9)",
                           timezone="Your IANA timezone, e.g. Europe/Berlin (default UTC)")
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    async def on(self, interaction: discord.Interaction, weekday: int | None = None,
                 hour: app_commands.Range[int, 0, 23] | None = None,
                 timezone: str | None = None) -> None:
        await self.run(interaction, "reminders on", weekday=weekday, hour=hour,
                       timezone=timezone)

    @on.autocomplete("timezone")
    async def _timezones(self, interaction: discord.Interaction,
                         current: str) -> list[app_commands.Choice[str]]:
        return timezone_choices(current)

    @reminders.command(name="off", description="Stop the weekly reminders")
    async def off(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "reminders off")

    @reminders.command(name="status", description="When your next reminder comes")
    async def status(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "reminders status")

    @reminders.command(name="snooze", description="Skip the next reminder")
    async def snooze(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "reminders snooze")
