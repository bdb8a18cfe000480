"""/progress: your progress, or another member's when they share it."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog


class ProgressCog(EngineCog):
    @app_commands.command(name="progress", description="Your progress (or a member's who shares)")
    @app_commands.describe(member="Another member (only if they share their progress)")
    async def progress(self, interaction: discord.Interaction,
                       member: discord.User | None = None) -> None:
        await self.run(interaction, "progress", member_id=member.id if member else None)
