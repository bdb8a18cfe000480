"""/stats: server progress and unanswered questions, for Manage Server only."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog


class StatsCog(EngineCog):
    @app_commands.command(name="stats", description="Server progress and unanswered questions")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def stats(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "stats")
