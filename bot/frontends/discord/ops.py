"""What ``mentorbot run`` adds around the bot: gateway health for ``/healthz`` (when
``HTTP_PORT`` is set), the gauges read at scrape time, ``SIGHUP`` → knowledge reload, and
``SIGTERM`` / ``SIGINT`` → a clean stop.

    async with operations(bot), bot:
        await bot.start(token)

Signals (:class:`~bot.ops.signals.StopSignals`, recorded from the CLI's first line and then
handled with ``loop.add_signal_handler``, so they work as PID 1 in a container, where the kernel
drops a signal that has no handler):

* ``SIGTERM``, ``SIGINT`` — stop: the gateway is closed, then the database; exit code 0. A
  second one while stopping exits at once with 128 + the signal number.
* ``SIGHUP`` — reload ``knowledge/`` (:func:`bot.ops.reload.reload_knowledge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from bot.config import OperatorError
from bot.ops.http import CONNECTED, OK, OpsServer, database_state
from bot.ops.looplag import LoopLag
from bot.ops.reload import reload_knowledge
from bot.ops.signals import StopSignals

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)


# --- health -------------------------------------------------------------------------------------


def gateway_state(bot: MentorBot) -> str:
    """``connected``, or why not: ``closed`` (shut down), ``starting`` (not ready yet),
    ``disconnected`` (a shard's socket is down: reconnecting) or ``no heartbeat`` (no
    heartbeat acknowledged yet, or none at all)."""
    if bot.is_closed():
        return "closed"
    if not bot.is_ready():
        return "starting"
    shards = getattr(bot, "shards", None) or {}
    if any(shard.is_closed() for shard in shards.values()):
        return "disconnected"
    ws = getattr(bot, "ws", None)
    if not shards and (ws is None or not ws.open):
        return "disconnected"
    if not math.isfinite(bot.latency):
        return "no heartbeat"
    return CONNECTED


async def health(bot: MentorBot) -> tuple[bool, dict[str, str]]:
    """``/healthz``: every shard connected and the database answering."""
    gateway = gateway_state(bot)
    database = await database_state(bot.engine.deps.store, bot.metrics)
    return gateway == CONNECTED and database == OK, {"gateway": gateway, "database": database}


# --- SIGHUP -------------------------------------------------------------------------------------


async def on_sighup(bot: MentorBot) -> tuple[bool, str]:
    """What SIGHUP does: reload, and log the outcome (the report is logged by the reload)."""
    log.info("SIGHUP received: reloading the knowledge base")
    return await reload_knowledge(bot)


def install_reload_signal(bot: MentorBot) -> Callable[[], None]:
    """Reload on SIGHUP (``kill -HUP <pid>``, ``docker kill -s HUP``) from the running loop.
    Returns a function that removes the handler. Does nothing where SIGHUP does not exist or
    outside the main thread (logged)."""
    sig = getattr(signal, "SIGHUP", None)
    loop = asyncio.get_running_loop()
    if sig is None:
        return lambda: None
    tasks: set[asyncio.Task[tuple[bool, str]]] = set()

    def handler() -> None:
        task = loop.create_task(on_sighup(bot))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(sig, handler)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        log.warning("SIGHUP reload not available here: %s", exc)
        return lambda: None

    def remove() -> None:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
        for task in tasks:
            task.cancel()

    return remove


@contextlib.asynccontextmanager
async def operations(bot: MentorBot) -> AsyncIterator[OpsServer | None]:
    """Serve ``/healthz`` + ``/metrics`` (if configured) and reload on SIGHUP while inside.

    A port that cannot be bound stops the start with an :class:`OperatorError` (one line)."""
    settings = bot.settings
    lag = LoopLag()  # a watchdog: the loop must never stall (a slow database waits off it)
    lag.start()
    bot.metrics.observe(intents=lambda: float(len(bot.engine.kb.intents)),
                        gateway_up=lambda: float(gateway_state(bot) == CONNECTED), lag=lag)
    bot.metrics.watch_quality(bot.engine.deps.store)
    server: OpsServer | None = None
    if settings.http_port is not None:
        server = OpsServer(lambda: health(bot), bot.metrics, settings.http_host,
                           settings.http_port)
        try:
            await server.start()
        except (OSError, OverflowError) as exc:  # taken / not allowed / port > 65535
            reason = getattr(exc, "strerror", None) or exc
            raise OperatorError(
                f"cannot serve /healthz and /metrics on {settings.http_host}:"
                f"{settings.http_port} (HTTP_HOST / HTTP_PORT): {reason}"
            ) from None
    remove_signal = install_reload_signal(bot)
    try:
        yield server
    finally:
        remove_signal()
        await lag.stop()
        if server is not None:
            await server.stop()


__all__ = ["StopSignals", "gateway_state", "health", "install_reload_signal", "operations"]
