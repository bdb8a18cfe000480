"""/ask and /help."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog
from bot.limits import MAX_QUESTION_CHARS


class AskCog(EngineCog):
    @app_commands.command(name="ask", description="Ask the MLOps career mentor anything")
    @app_commands.describe(question="Your question, in your own words",
                           private="Only you see the answer (default: everyone can learn)")
    async def ask(self, interaction: discord.Interaction,
                  question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
                  private: bool = False) -> None:
        await self.run(interaction, "ask", private=private, question=question)

    @app_commands.command(name="help", description="What the mentor can do")
    async def help(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "help")
