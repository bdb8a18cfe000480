"""Every button the engine offers, as one persistent ``DynamicItem``.

The button's custom_id is the engine's stable action id (``quiz:ans:12:3:y``, ``chk:done:…``),
so all the state a click needs is in the id and in the database: buttons keep working after a
restart, on any shard or process, with no view held in memory. The id families it accepts and
whether a press edits the message it sits on both come from the engine's route table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.engine.commands import declared_routes
from bot.engine.core import FLOW_CLASSES
from bot.frontends.discord.handling import handle

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

FAMILIES = sorted({spec.family for spec in declared_routes(FLOW_CLASSES)})


class EngineButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=rf"^(?P<action>(?:{'|'.join(FAMILIES)}):[^\s]{{1,95}})$"):
    def __init__(self, action: str) -> None:
        super().__init__(discord.ui.Button(label="…", custom_id=action))
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> EngineButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MentorBot = interaction.client  # type: ignore[assignment]
        route = bot.engine.route(self.action)
        # In a server the answer is only for the presser; in DMs nobody else sees it anyway.
        await handle(bot, interaction, "button:" + self.action.split(":")[0],
                     lambda member: bot.engine.act(member, self.action),
                     ephemeral=interaction.guild_id is not None,
                     update=route is not None and route.updates)
