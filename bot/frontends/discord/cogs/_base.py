"""What every cog does with an interaction: time it, call the engine, answer in time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.engine.context import Member
from bot.engine.replies import Reply
from bot.frontends.discord.handling import handle

if TYPE_CHECKING:
    from bot.engine.core import Engine
    from bot.frontends.discord.client import MentorBot


class EngineCog(commands.Cog):
    def __init__(self, bot: MentorBot) -> None:
        self.bot = bot

    @property
    def engine(self) -> Engine:
        return self.bot.engine

    async def answer(
        self,
        interaction: discord.Interaction,
        work: Callable[[Member], Awaitable[Reply]],
        *,
        ephemeral: bool,
    ) -> Reply | None:
        """Run ``work(member)`` and send its reply; never lets an exception reach Discord."""
        command = interaction.command.qualified_name if interaction.command else "?"
        return await handle(self.bot, interaction, command, work, ephemeral=ephemeral)
