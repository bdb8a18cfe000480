"""/quiz: six yes/no questions in DMs, placing the member in a phase."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.engine.reminders import DMS_CLOSED_HELP
from bot.engine.replies import Reply
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.present import send_to

log = logging.getLogger(__name__)
DMS_CLOSED = 50007


class QuizCog(EngineCog):
    @app_commands.command(name="quiz", description="Find your career phase: six yes/no questions")
    async def quiz(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:  # already in DMs: the quiz goes right here
            await self.answer(interaction, self.engine.quiz, ephemeral=False)
            return

        async def in_dms(member) -> Reply:  # type: ignore[no-untyped-def]
            reply = await self.engine.quiz(member)
            if reply.kind == "error":
                return reply
            try:
                message = await send_to(interaction.user, reply)
            except discord.Forbidden as exc:
                if exc.code != DMS_CLOSED:
                    raise
                return Reply("I can't DM you", DMS_CLOSED_HELP.replace(
                    "run `/reminders on` again", "run `/quiz` again"), kind="quiz",
                    private=True, tone="warning")
            return Reply("Check your DMs", f"The quiz is waiting for you: {message.jump_url}",
                         kind="quiz", private=True, tone="success")

        await self.answer(interaction, in_dms, ephemeral=True)
