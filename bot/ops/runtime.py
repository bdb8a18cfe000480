"""What ``mentorbot run`` adds around the bot: the HTTP endpoint (when ``HTTP_PORT`` is set),
the SIGHUP knowledge reload, and the gauges read at scrape time.

    async with operations(bot), bot:
        await bot.start(token)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.ops.http import CONNECTED, OpsServer, gateway_state
from bot.ops.reload import install_reload_signal

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot


@contextlib.asynccontextmanager
async def operations(bot: MentorBot) -> AsyncIterator[OpsServer | None]:
    """Serve ``/healthz`` + ``/metrics`` (if configured) and reload on SIGHUP while inside.

    A port that cannot be bound stops the start with a :class:`ConfigError` (one line)."""
    settings = bot.settings
    bot.metrics.observe(intents=lambda: float(len(bot.engine.kb.intents)),
                        gateway_up=lambda: float(gateway_state(bot) == CONNECTED))
    server: OpsServer | None = None
    if settings.http_port is not None:
        server = OpsServer(bot, settings.http_host, settings.http_port)
        try:
            await server.start()
        except (OSError, OverflowError) as exc:  # taken / not allowed / port > 65535
            from bot.frontends.discord.client import ConfigError

            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError(
                f"cannot serve /healthz and /metrics on {settings.http_host}:"
                f"{settings.http_port} (HTTP_HOST / HTTP_PORT): {reason}"
            ) from None
    remove_signal = install_reload_signal(bot)
    try:
        yield server
    finally:
        remove_signal()
        if server is not None:
            await server.stop()
