"""/quiz: yes/no questions in DMs, placing the member in a phase."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.engine.context import Member
from bot.engine.reminders import DMS_CLOSED_HELP
from bot.engine.replies import Kind, Reply
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.present import send_to

log = logging.getLogger(__name__)

DMS_CLOSED = 50007


class QuizCog(EngineCog):
    @app_commands.command(name="quiz", description="Find your career phase: yes/no questions")
    @app_commands.describe(restart="Start a new quiz instead of resuming the open one")
    async def quiz(self, interaction: discord.Interaction, restart: bool = False) -> None:
        if interaction.guild_id is None:  # already in DMs: the quiz goes right here
            await self.run(interaction, "quiz", private=False, restart=restart)
            return

        async def in_dms(member: Member) -> Reply:
            reply = await self.engine.run("quiz", member, restart=restart)
            if reply.kind == Kind.ERROR:
                return reply
            try:
                message = await send_to(interaction.user, reply)
            except discord.Forbidden as exc:
                if exc.code != DMS_CLOSED:
                    raise
                return Reply("I can't DM you", DMS_CLOSED_HELP.replace(
                    "run `/reminders on` again", "run `/quiz` again"), kind=Kind.QUIZ,
                    private=True, tone="warning")
            return Reply("Check your DMs", f"The quiz is waiting for you: {message.jump_url}",
                         kind=Kind.QUIZ, private=True, tone="success")

        await self.answer(interaction, in_dms, ephemeral=True)
