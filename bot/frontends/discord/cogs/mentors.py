"""*Apps → Mark as answer*: a mentor marks a reply in an *Ask a mentor* thread as the answer.

Discord sends the target message, text included, with the interaction (no privileged intent
needed). The engine stores it as the question's proposed answer and names the DM for the
asker; the DM is sent here, before the mentor's (private) reply, which says whether it
arrived — closed DMs (403/50007) are normal and not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.engine.context import Member
from bot.engine.escalate import EscalationFlow
from bot.engine.replies import Reply
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.cogs.admin import refused
from bot.frontends.discord.effects import send_direct

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

MENU_NAME = "Mark as answer"


class MentorsCog(EngineCog):
    def __init__(self, bot: MentorBot) -> None:
        super().__init__(bot)
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.mark_answer)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def mark_answer(self, interaction: discord.Interaction,
                          message: discord.Message) -> None:
        author = message.author
        text = message.content or ""
        thread_id = message.channel.id

        async def work(member: Member) -> Reply:
            if author is None or author.bot:
                return refused("Mark as answer works on a mentor's reply, not on a bot's "
                               "message.")
            reply = await self.engine.mark_answer(member, thread_id, text, author.id,
                                                  author.display_name, message.id)
            if reply.dm is None:
                return reply
            return EscalationFlow.delivered(reply, await send_direct(self.bot, reply.dm))

        await self.answer(interaction, work, ephemeral=True)
