"""What every cog does with an interaction: run the engine's command, answer in time.

A cog only translates Discord's typed options into the engine command's parameters; whether
the answer is private comes from the command table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.context import Member
from bot.engine.replies import Reply
from bot.frontends.discord.handling import handle

if TYPE_CHECKING:
    from bot.engine.core import Engine
    from bot.frontends.discord.client import MentorBot

#: A phase number option: the knowledge base says which exist (autocomplete offers them and
#: the engine checks the number).
PhaseOption = app_commands.Range[int, 1, 99]


class EngineCog(commands.Cog):
    def __init__(self, bot: MentorBot) -> None:
        self.bot = bot

    @property
    def engine(self) -> Engine:
        return self.bot.engine

    async def run(self, interaction: discord.Interaction, name: str, /, *,
                  private: bool | None = None, **args: Any) -> Reply | None:
        """Run the engine command ``name`` with ``args`` and send its reply (ephemeral when the
        table says the command is private, or when ``private`` asks for it)."""
        spec = self.engine.command(name)
        return await self.answer(
            interaction, lambda member: self.engine.run(name, member, **args),
            ephemeral=spec.private if private is None else private)

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

    async def phase_choices(self, interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[int]]:
        phases = self.engine.kb.phase_by_number.values()
        return [app_commands.Choice(name=f"Phase {p.number}: {p.title}"[:100], value=p.number)
                for p in phases if current.strip() in (str(p.number), "")
                or current.strip().casefold() in p.title.casefold()]
