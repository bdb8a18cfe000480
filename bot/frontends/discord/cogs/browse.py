"""Browsing: /roadblock, /faq, /phase, /levels, /tools, /roadmap."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog

PhaseNumber = app_commands.Range[int, 1, 4]


class BrowseCog(EngineCog):
    def _choices(self, kinds: tuple[str, ...], current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=i.title[:100], value=i.id)
                for i in self.engine.browsing.complete(kinds, current)]

    @app_commands.command(name="roadblock", description="What unlocks a common career roadblock")
    @app_commands.describe(name="The roadblock (start typing)")
    async def roadblock(self, interaction: discord.Interaction, name: str) -> None:
        await self.answer(interaction, lambda m: self.engine.roadblock(m, name), ephemeral=False)

    @roadblock.autocomplete("name")
    async def _roadblock_names(self, interaction: discord.Interaction, current: str):
        return self._choices(("roadblock",), current)

    @app_commands.command(name="faq", description="A career question or technical topic")
    @app_commands.describe(topic="The topic (start typing)")
    async def faq(self, interaction: discord.Interaction, topic: str) -> None:
        await self.answer(interaction, lambda m: self.engine.faq(m, topic), ephemeral=False)

    @faq.autocomplete("topic")
    async def _faq_topics(self, interaction: discord.Interaction, current: str):
        return self._choices(("faq", "topic", "phase"), current)

    @app_commands.command(name="phase", description="What a career phase means, and its checklist")
    @app_commands.describe(number="Phase 1-4 (default: your own)")
    async def phase(self, interaction: discord.Interaction,
                    number: PhaseNumber | None = None) -> None:
        await self.answer(interaction, lambda m: self.engine.phase(m, number), ephemeral=True)

    @app_commands.command(name="levels", description="The MLOps level ladder")
    async def levels(self, interaction: discord.Interaction) -> None:
        await self.answer(interaction, self.engine.levels, ephemeral=False)

    @app_commands.command(name="tools", description="The tools catalogue, with when to choose what")
    @app_commands.describe(phase="Only the tools of this phase")
    async def tools(self, interaction: discord.Interaction,
                    phase: PhaseNumber | None = None) -> None:
        await self.answer(interaction, lambda m: self.engine.tools(m, phase), ephemeral=False)

    @app_commands.command(name="roadmap", description="A month-by-month plan for the first year")
    async def roadmap(self, interaction: discord.Interaction) -> None:
        await self.answer(interaction, self.engine.roadmap, ephemeral=False)
