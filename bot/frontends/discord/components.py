"""Every button the engine offers, as one persistent ``DynamicItem``.

The button's custom_id is the engine's stable action id (``quiz:ans:12:3:y``, ``chk:done:…``),
so all the state a click needs is in the id and in the database: buttons keep working after a
restart, on any shard or process, with no view held in memory.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.frontends.discord.context import member_from
from bot.frontends.discord.present import run_in_time, send_error, send_reply

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

# Flows whose buttons replace the message they sit on (a quiz advancing, a checklist ticking);
# every other button answers with a new (ephemeral) message.
UPDATING = ("quiz:", "chk:done:", "chk:undo:", "phase:set:", "priv:delete:")
PREFIXES = "ask|quiz|chk|phase|prog|rem|priv|share"


class EngineButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=rf"^(?P<action>(?:{PREFIXES}):[^\s]{{1,95}})$"):
    def __init__(self, action: str) -> None:
        super().__init__(discord.ui.Button(label="…", custom_id=action))
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> EngineButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        bot: MentorBot = interaction.client  # type: ignore[assignment]
        member = member_from(interaction)
        update = self.action.startswith(UPDATING)
        bot.metrics.interaction("button:" + self.action.split(":")[0])
        try:
            reply = await run_in_time(interaction, lambda: bot.engine.act(member, self.action),
                                      ephemeral=True, update=update)
            await send_reply(interaction, reply, ephemeral=True if interaction.guild_id else None,
                             update=update and reply.kind != "error")
        except Exception:
            error_id = await send_error(interaction, "That button failed on my side.")
            log.exception("button %s failed [%s]", self.action, error_id)
