"""/checklist view|done|undo: the items to finish before moving on."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog, PhaseOption
from bot.frontends.discord.context import member_from

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)


AUTOCOMPLETE_DB_BUDGET = 0.5  # seconds; Discord drops autocomplete answers after 3 s
PHASE_CACHE = 50_000  # members whose phase autocomplete remembers


class ChecklistCog(EngineCog):
    checklist = app_commands.Group(name="checklist",
                                   description="Your checklist before moving to the next phase")

    def __init__(self, bot: MentorBot) -> None:
        super().__init__(bot)
        self._phases: dict[int, int | None] = {}  # user id → phase, for a slow database

    async def _items(self, interaction: discord.Interaction,
                     current: str) -> list[app_commands.Choice[str]]:
        """Items matching what is typed, the member's phase first. Autocomplete can't defer,
        so the phase is read within a short budget and otherwise taken from the cache."""
        member = member_from(interaction)
        phase, outcome = self._phases.get(member.user_id), "ok"
        try:
            phase = await asyncio.wait_for(self.engine.checklist.member_phase(member),
                                           AUTOCOMPLETE_DB_BUDGET)
            self._phases[member.user_id] = phase
            while len(self._phases) > PHASE_CACHE:
                self._phases.pop(next(iter(self._phases)))
        except TimeoutError:
            outcome = "slow"
        except Exception:  # autocomplete must answer even when the database does not
            log.warning("autocomplete: could not read the member's phase", exc_info=True)
            outcome = "error"
        self.bot.metrics.interaction("autocomplete:checklist", outcome)
        items = self.engine.checklist.complete_items(current, phase)
        return [app_commands.Choice(name=f"P{i.id[1]} · {i.title}"[:100], value=i.id)
                for i in items]

    @checklist.command(name="view", description="See your checklist (done / not yet, with hints)")
    @app_commands.describe(phase="The phase (default: your own)")
    async def view(self, interaction: discord.Interaction,
                   phase: PhaseOption | None = None) -> None:
        await self.run(interaction, "checklist view", phase=phase)

    @checklist.command(name="done", description="Mark a checklist item as done")
    @app_commands.describe(item="The item (start typing)",
                           evidence="Optional link to show it (a PR, a doc, a dashboard)")
    async def done(self, interaction: discord.Interaction, item: str,
                   evidence: app_commands.Range[str, 1, 500] | None = None) -> None:
        await self.run(interaction, "checklist done", item=item, evidence=evidence)

    @checklist.command(name="undo", description="Mark a checklist item as not done")
    @app_commands.describe(item="The item (start typing)")
    async def undo(self, interaction: discord.Interaction, item: str) -> None:
        await self.run(interaction, "checklist undo", item=item)

    done.autocomplete("item")(_items)
    undo.autocomplete("item")(_items)
    view.autocomplete("phase")(EngineCog.phase_choices)
