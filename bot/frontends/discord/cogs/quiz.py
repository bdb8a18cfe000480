"""/quiz: yes/no questions in DMs, placing the member in a phase."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands

from bot.engine.context import Member
from bot.engine.reminders import DMS_CLOSED_HELP
from bot.engine.replies import ErrorCause, Kind, Reply
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.present import send_to

log = logging.getLogger(__name__)

DMS_CLOSED = 50007
DM_TIMEOUT = 5.0  # seconds to open the DM and send the question (discord.py retries 5xx)
_SAVED = "Your quiz is saved: run `/quiz` again in a minute and you'll continue where you are."
#: Discord answered the DM with an error (a 5xx after discord.py's retries, a refusal)
DISCORD_DOWN = f"Discord didn't accept my direct message just now. {_SAVED}"
#: no answer within DM_TIMEOUT (Discord slow, or its rate limit making discord.py wait): the
#: message may still arrive, so the member is not told it failed
DM_SLOW = ("Sending you the quiz by direct message is taking too long right now, so I stopped "
           f"waiting; it may still arrive. {_SAVED}")


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
                message = await asyncio.wait_for(send_to(interaction.user, reply), DM_TIMEOUT)
            except discord.Forbidden as exc:
                if exc.code != DMS_CLOSED:
                    raise
                return Reply("I can't DM you", DMS_CLOSED_HELP.replace(
                    "run `/reminders on` again", "run `/quiz` again"), kind=Kind.QUIZ,
                    private=True, tone="warning")
            except (discord.HTTPException, TimeoutError) as exc:
                log.warning("quiz DM to %s failed: %s %s", member.user_id, type(exc).__name__, exc)
                slow = isinstance(exc, TimeoutError)
                return Reply("Your DM is slow to go out" if slow else "Discord didn't take my DM",
                             DM_SLOW if slow else DISCORD_DOWN, kind=Kind.ERROR,
                             private=True, tone="warning", error=ErrorCause.DISCORD)
            return Reply("Check your DMs", f"The quiz is waiting for you: {message.jump_url}",
                         kind=Kind.QUIZ, private=True, tone="success")

        await self.answer(interaction, in_dms, ephemeral=True)
