"""The optional health and metrics endpoint (on only when ``HTTP_PORT`` is set).

* ``GET /healthz`` → ``200 {"gateway": "connected", "database": "ok"}`` when every gateway
  shard is connected (ready, not closed, heartbeats acknowledged) and the database answers
  ``SELECT 1``; otherwise ``503`` with the same two keys telling which part failed.
* ``GET /metrics`` → the Prometheus text exposition of the bot's registry.

Both are cheap enough to be scraped every few seconds; neither touches Discord.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.storage.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from bot.ops.metrics import Metrics
    from bot.storage.store import Store

log = logging.getLogger(__name__)

DB_CHECK_TIMEOUT = 5.0

# /healthz values
CONNECTED = "connected"
OK = "ok"

#: what /healthz serves: (healthy, {"gateway": ..., "database": ...})
Health = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


async def database_state(store: Store, metrics: Metrics, timeout: float = DB_CHECK_TIMEOUT) -> str:
    """``ok`` when the store answers within ``timeout``; else ``unreachable`` / ``timeout`` /
    ``error`` (the detail is logged, not served)."""
    try:
        await asyncio.wait_for(store.check(), timeout)
    except DatabaseUnavailable as exc:
        log.warning("health check: database unreachable: %s", exc)
        state = "unreachable"
    except TimeoutError:
        log.warning("health check: database did not answer within %.0f s", timeout)
        state = "timeout"
    except Exception:
        log.exception("health check: database check failed")
        state = "error"
    else:
        return OK
    metrics.db_errors.inc()
    return state


class OpsServer:
    """aiohttp server for ``/healthz`` (``health`` says what it is; the Discord front end
    adds the gateway) and ``/metrics``; ``port=0`` picks a free port."""

    def __init__(self, health: Health, metrics: Metrics, host: str = "127.0.0.1",
                 port: int = 8080) -> None:
        self.health = health
        self.registry = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        ok, body = await self.health()
        return web.json_response(body, status=200 if ok else 503,
                                 headers={"Cache-Control": "no-store"})

    async def metrics(self, request: web.Request) -> web.Response:
        await self.registry.refresh()  # the database-backed gauges (answer quality, inbox)
        return web.Response(body=self.registry.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        """Bind and serve (raises :class:`OSError` when the address is taken)."""
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses: list[Any] = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("health and metrics on http://%s:%d/healthz and /metrics", self.host, self.port)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
