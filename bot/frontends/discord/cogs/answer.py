"""*Apps → Answer with mentorbot*: answer the question in someone else's message, publicly.

Discord sends the target message, text included, with the interaction, so no privileged intent
is needed. The answer names the asker without pinging them (mentions are off on every message
and the name is escaped) and carries the usual buttons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.engine.context import Member
from bot.engine.replies import Reply
from bot.engine.setup import setup_of
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.cogs.admin import refused

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

MENU_NAME = "Answer with mentorbot"


class AnswerCog(EngineCog):
    def __init__(self, bot: MentorBot) -> None:
        super().__init__(bot)
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.answer_message)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def answer_message(self, interaction: discord.Interaction,
                             message: discord.Message) -> None:
        asker = message.author.display_name if message.author else "someone"
        text = message.content or ""

        async def work(member: Member) -> Reply:
            setup = await setup_of(self.engine.deps, member.guild_id)
            roles = {r.id for r in getattr(interaction.user, "roles", ())}
            if setup.answer_role and setup.answer_role not in roles and not member.is_admin:
                return refused("In this server, answering others' messages with mentorbot is "
                               "for members with a role the admins chose.")
            return await self.engine.asking.answer_for(member, text, asker)

        await self.answer(interaction, work, ephemeral=False)  # a refusal is private
