"""One way every interaction is handled, whether a slash command or a button: time it, run the
engine, answer in time, count it, and never let an exception reach Discord."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.engine.context import Member
from bot.engine.replies import ErrorCause, Kind, Reply
from bot.frontends.discord.context import member_from
from bot.frontends.discord.present import run_in_time, send_error, send_reply

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)


async def handle(
    bot: MentorBot,
    interaction: discord.Interaction,
    name: str,
    work: Callable[[Member], Awaitable[Reply]],
    *,
    ephemeral: bool,
    update: bool = False,
) -> Reply | None:
    """Run ``work(member)`` and send its reply: a new message (ephemeral when asked or when the
    reply is private), or with ``update`` an edit of the message whose button was pressed."""
    started = time.perf_counter()
    metrics = bot.metrics
    try:
        member = member_from(interaction)
        reply = await run_in_time(interaction, lambda: work(member), ephemeral=ephemeral,
                                  update=update)
        await send_reply(interaction, reply, ephemeral=ephemeral or reply.private,
                         update=update and reply.kind != Kind.ERROR)
    except Exception:
        metrics.interaction(name, "error")
        error_id = await send_error(interaction, "Something went wrong on my side.")
        log.exception("%s failed [%s]", name, error_id)
        return None
    metrics.latency.labels(command=name).observe(time.perf_counter() - started)
    metrics.interaction(name, "error" if reply.kind == Kind.ERROR else "ok")
    if reply.unanswered:
        metrics.unanswered.inc()
    if reply.error == ErrorCause.DATABASE:
        metrics.db_errors.inc()
    if reply.kind == Kind.QUIZ_RESULT:
        metrics.quiz_completions.inc()
    return reply
