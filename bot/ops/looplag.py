"""A loop-lag watchdog: how late the event loop wakes a task that asked to sleep.

``LoopLag`` runs one task that sleeps ``interval`` seconds again and again and records how much
later than asked it woke up. Anything that holds the loop thread (a blocking call, a lock wait
in a finaliser, a long computation) shows up as lag. Figures are exposed for metrics
(:meth:`LoopLag.snapshot`) and tests; no Discord or database import here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LagSnapshot:
    samples: int
    last: float
    p50: float
    p99: float
    max: float  # since start (not only the window)
    stalls: int  # samples over ``stall_threshold`` since start


class LoopLag:
    def __init__(
        self, interval: float = 0.02, window: int = 3000, stall_threshold: float = 0.25
    ) -> None:
        self.interval = interval
        self.stall_threshold = stall_threshold
        self._samples: deque[float] = deque(maxlen=window)
        self._max = 0.0
        self._stalls = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> LoopLag:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self._samples.append(lag)
        self._max = max(self._max, lag)
        if lag > self.stall_threshold:
            self._stalls += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - started - self.interval)

    def snapshot(self) -> LagSnapshot:
        ordered = sorted(self._samples)

        def pct(q: float) -> float:
            if not ordered:
                return 0.0
            return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

        return LagSnapshot(
            samples=len(ordered),
            last=self._samples[-1] if self._samples else 0.0,
            p50=pct(0.50),
            p99=pct(0.99),
            max=self._max,
            stalls=self._stalls,
        )


__all__ = ["LagSnapshot", "LoopLag"]
