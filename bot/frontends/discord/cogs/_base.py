"""What every cog does with an interaction: time it, call the engine, answer in time."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.engine.context import Member
from bot.engine.replies import Reply
from bot.frontends.discord.context import member_from
from bot.frontends.discord.present import run_in_time, send_error, send_reply

if TYPE_CHECKING:
    from bot.engine.core import Engine
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)


class EngineCog(commands.Cog):
    def __init__(self, bot: MentorBot) -> None:
        self.bot = bot

    @property
    def engine(self) -> Engine:
        return self.bot.engine

    async def answer(
        self,
        interaction: discord.Interaction,
        work: Callable[[Member], Awaitable[Reply]],
        *,
        ephemeral: bool,
    ) -> Reply | None:
        """Run ``work(member)`` and send its reply; never lets an exception reach Discord."""
        command = interaction.command.qualified_name if interaction.command else "?"
        started = time.perf_counter()
        metrics = self.bot.metrics
        try:
            member = member_from(interaction)
            reply = await run_in_time(interaction, lambda: work(member), ephemeral=ephemeral)
            await send_reply(interaction, reply, ephemeral=ephemeral or reply.private)
        except Exception:
            metrics.interaction(command, "error")
            error_id = await send_error(interaction, "Something went wrong on my side.")
            log.exception("/%s failed [%s]", command, error_id)
            return None
        metrics.latency.labels(command=command).observe(time.perf_counter() - started)
        metrics.interaction(command, reply.kind if reply.kind == "error" else "ok")
        match = reply.meta.get("match")
        if match is not None and match.status == "unanswered":
            metrics.unanswered.inc()
        if reply.meta.get("error") == "database":
            metrics.db_errors.inc()
        if reply.kind == "quiz_result":
            metrics.quiz_completions.inc()
        return reply
