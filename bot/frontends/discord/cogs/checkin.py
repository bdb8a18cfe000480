"""/checkin: the weekly check-in; with no options it opens the form, as *Check in* does."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.engine.checkin import MAX_FIELD
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.components import open_check_in

Line = app_commands.Range[str, 1, MAX_FIELD]


class CheckInCog(EngineCog):
    @app_commands.command(name="checkin", description="Your weekly check-in: done, next, "
                          "what's in your way")
    @app_commands.describe(done="What you got done", next_step="What you do next",
                           blocker="What's in your way (answered at once)")
    async def checkin(self, interaction: discord.Interaction, done: Line | None = None,
                      next_step: Line | None = None, blocker: Line | None = None) -> None:
        if done is None and next_step is None and blocker is None:
            await open_check_in(interaction)
            return
        await self.run(interaction, "checkin", done=done, next_step=next_step, blocker=blocker)
