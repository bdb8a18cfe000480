"""Browsing: /roadblock, /faq, /phase, /levels, /tools, /roadmap, /sources."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.engine.browse import ROADBLOCKS, TOPICS
from bot.frontends.discord.cogs._base import EngineCog, PhaseOption


class BrowseCog(EngineCog):
    def _choices(self, kinds: tuple[str, ...], current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=i.title[:100], value=i.id)
                for i in self.engine.browsing.complete(kinds, current)]

    @app_commands.command(name="roadblock", description="What unlocks a common career roadblock")
    @app_commands.describe(name="The roadblock (start typing; leave out to list them all)")
    async def roadblock(self, interaction: discord.Interaction,
                        name: str | None = None) -> None:
        await self.run(interaction, "roadblock", name=name)

    @roadblock.autocomplete("name")
    async def _roadblock_names(self, interaction: discord.Interaction,
                               current: str) -> list[app_commands.Choice[str]]:
        return self._choices(ROADBLOCKS, current)

    @app_commands.command(name="faq", description="A career question or technical topic")
    @app_commands.describe(topic="The topic (start typing; leave out to list them all)")
    async def faq(self, interaction: discord.Interaction, topic: str | None = None) -> None:
        await self.run(interaction, "faq", topic=topic)

    @faq.autocomplete("topic")
    async def _faq_topics(self, interaction: discord.Interaction,
                          current: str) -> list[app_commands.Choice[str]]:
        return self._choices(TOPICS, current)

    @app_commands.command(name="phase", description="What a career phase means, and its checklist")
    @app_commands.describe(number="The phase (default: your own)")
    async def phase(self, interaction: discord.Interaction,
                    number: PhaseOption | None = None) -> None:
        await self.run(interaction, "phase", number=number)

    @app_commands.command(name="levels", description="The MLOps level ladder")
    async def levels(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "levels")

    @app_commands.command(name="tools", description="The tools catalogue, with when to choose what")
    @app_commands.describe(phase="Only the tools of this phase")
    async def tools(self, interaction: discord.Interaction,
                    phase: PhaseOption | None = None) -> None:
        await self.run(interaction, "tools", phase=phase)

    @app_commands.command(name="roadmap", description="A month-by-month plan for the first year")
    async def roadmap(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "roadmap")

    @app_commands.command(name="sources", description="Where the mentor's answers come from")
    async def sources(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "sources")

    phase.autocomplete("number")(EngineCog.phase_choices)
    tools.autocomplete("phase")(EngineCog.phase_choices)
