"""Snowflake ids and timestamps shaped like Discord's."""

from __future__ import annotations

import datetime as dt
import itertools
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Monotonic snowflake generator: ``(ms since Discord epoch) << 22 | worker | increment``.

    The timestamp part is real, so ``discord.utils.snowflake_time`` gives sensible values.
    """

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._counter = itertools.count()
        self._last = 0

    def next(self, *, ms: int | None = None) -> int:
        now = int(time.time() * 1000) - DISCORD_EPOCH_MS if ms is None else ms
        # Never go backwards, so ids stay sortable by creation even within one millisecond.
        now = max(now, self._last)
        self._last = now
        inc = next(self._counter) & 0xFFF
        return (now << 22) | (self._worker << 17) | (self._process << 12) | inc

    def for_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh id with ``(id >> 22) % shard_count == shard_id`` (Discord's guild→shard rule)."""
        base = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._last)
        ms = base + ((shard_id - base) % shard_count)
        return self.next(ms=ms)


def shard_for(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def iso_from_snowflake(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
