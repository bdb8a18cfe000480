"""/roles on|off and /milestones on|off: what a member shows the server, when they opt in."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog


class CommunityCog(EngineCog):
    @app_commands.command(name="roles", description="Get the role of your phase in this server, "
                          "or not")
    @app_commands.describe(state="on: the role of your phase; off: no phase role")
    async def roles(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        await self.run(interaction, "roles", state=state == "on")

    @app_commands.command(name="milestones", description="Announce in this server when you "
                          "finish a phase, or not")
    @app_commands.describe(state="on: announce your finished phases; off: quiet")
    async def milestones(self, interaction: discord.Interaction,
                         state: Literal["on", "off"]) -> None:
        await self.run(interaction, "milestones", state=state == "on")
