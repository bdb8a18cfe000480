"""A global token bucket for outgoing DMs (default 10 a second, configurable).

One bucket is shared by everything that sends reminders in a process, so the bot stays well
under Discord's global limit (50 requests a second; a DM costs two: open the DM channel, post
the message — the DM channel is cached after the first). With several processes, give each a
share of the rate (``REMINDER_RATE_PER_SECOND`` divided by the number of processes).

A 429 from the platform stops the whole bucket for ``retry_after`` seconds (:meth:`hold`):
when Discord says slow down, every sender slows down, not just the one that was told.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; :meth:`acquire` takes one.

    Waiters are served first come, first served. ``monotonic`` and ``sleep`` are injectable
    so tests run on a fake clock.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        if not burst >= 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = monotonic()
        self._hold_until = self._stamp
        self._lock = asyncio.Lock()
        self.acquired = 0
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    async def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                now = self._monotonic()
                self._refill(now)
                wait = self._hold_until - now
                if wait <= 0:
                    if self._tokens >= 1:
                        self._tokens -= 1
                        self.acquired += 1
                        self.waited += waited
                        return waited
                    wait = (1 - self._tokens) / self.rate
                await self._sleep(wait)
                waited += wait

    def hold(self, seconds: float) -> None:
        """Hand out no token for ``seconds`` from now (a 429's ``retry_after``)."""
        if seconds > 0:
            now = self._monotonic()
            self._refill(now)
            self._hold_until = max(self._hold_until, now + seconds)
            self._tokens = min(self._tokens, 1.0)  # no burst right after a rate limit


class Unlimited:
    """A limiter that never waits (benchmarks, and tests that are not about rate)."""

    acquired = 0
    waited = 0.0

    async def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def hold(self, seconds: float) -> None:
        return None


__all__ = ["TokenBucket", "Unlimited"]
