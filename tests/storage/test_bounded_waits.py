"""Every database wait is bounded (issue 11 point 3), with its own error type."""

from __future__ import annotations

import contextlib
import time

import pytest
from sqlalchemy import text

from bot.storage import Busy, CapacityExceeded, DatabaseUnavailable, Store
from bot.storage.migrate import upgrade_async
from bot.storage.tx import Tx


async def test_pool_exhaustion_is_capacity_not_unavailable(db_url: str) -> None:
    await upgrade_async(db_url)
    store = Store.open(db_url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    loop_engine = store.db._loop_engine  # a SQLite file's hot paths: never waits for the pool
    try:
        async with contextlib.AsyncExitStack() as stack:  # the only connection is taken
            if loop_engine is not None:
                stack.enter_context(loop_engine.connect()).execute(text("SELECT 1"))
            else:
                held = await stack.enter_async_context(store.db.engine.connect())
                await held.execute(text("SELECT 1"))
            started = time.monotonic()
            with pytest.raises(CapacityExceeded) as info:
                await store.members.get(1)
            assert time.monotonic() - started < (0.1 if loop_engine is not None else 2.0)
            assert not isinstance(info.value, DatabaseUnavailable)
        assert await store.members.get(1) is None  # free again: served
    finally:
        await store.close()


@pytest.mark.backends("postgres")
async def test_postgres_statement_timeout_is_busy(db_url: str) -> None:
    await upgrade_async(db_url)
    store = Store.open(db_url, statement_timeout=0.3)
    try:

        async def hang(s: Tx) -> None:
            await s.execute(text("SELECT pg_sleep(5)"))

        started = time.monotonic()
        with pytest.raises(Busy):
            await store.db.run(hang)
        assert time.monotonic() - started < 2.0
    finally:
        await store.close()
