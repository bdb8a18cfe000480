"""Engine set-up, the UTC type, error translation, unreachable databases and lost connections."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select, text
from sqlalchemy import exc as sa_exc

from bot.storage import (
    Busy,
    Database,
    DatabaseUnavailable,
    SchemaMissing,
    StorageError,
    Store,
)
from bot.storage import db as db_module
from bot.storage.db import normalize_url
from bot.storage.migrate import upgrade_async
from bot.storage.models import Member
from bot.storage.tx import Tx

CLOSED_PORT_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, msg
    return msg


async def test_configured_postgres_is_reachable() -> None:
    """With MENTORBOT_TEST_POSTGRES_URL set, an unreachable server fails the run (never skips)."""
    url = os.environ.get("MENTORBOT_TEST_POSTGRES_URL")
    if not url:
        return  # a SQLite-only run
    db = Database(url)
    try:
        await db.check()
    except DatabaseUnavailable as exc:
        pytest.fail(f"MENTORBOT_TEST_POSTGRES_URL is set but unusable: {exc}")
    finally:
        await db.close()


def test_normalize_url_picks_async_drivers() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+asyncpg"
    with pytest.raises(StorageError, match="unsupported"):
        normalize_url("mysql://u@h/db")
    with pytest.raises(StorageError, match="invalid"):
        normalize_url("not a url")


async def test_sqlite_pragmas_and_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "bot.db"
    db = Database(f"sqlite:///{path}")
    try:
        await db.check()
        assert path.parent.is_dir()
        seen = {}
        pragmas = ("journal_mode", "foreign_keys", "busy_timeout", "wal_autocheckpoint")
        assert db._loop_engine is not None
        with db._loop_engine.connect() as sync_conn:
            seen["loop"] = [sync_conn.scalar(text(f"PRAGMA {p}")) for p in pragmas]
        async with db.engine.connect() as conn:
            seen["offload"] = [await conn.scalar(text(f"PRAGMA {p}")) for p in pragmas]
        # on the loop nothing may wait (busy 0, checkpoints in a thread); the threaded pool
        # waits briefly in its worker
        assert seen == {"loop": ["wal", 1, 0, 0],
                        "offload": ["wal", 1, db_module.SQLITE_BUSY_TIMEOUT_MS, 0]}
    finally:
        await db.close()


async def test_sqlite_file_hot_paths_run_on_the_loop_heavy_ones_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 10)
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    assert len(db.sync_engines) == 2  # the loop's and the threaded one
    for engine in db.sync_engines:  # which thread SQLite itself runs on
        event.listen(engine, "connect",
                     lambda conn, _: conn.create_function("thread_id", 0, threading.get_ident))
    try:
        async def create(s: Tx) -> None:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))

        await db.run(create)
        checkpointer = db._checkpointer
        assert checkpointer is not None
        for i in range(25):
            async def insert(s: Tx, i: int = i) -> None:
                await s.execute(text("INSERT INTO t VALUES (:x)"), {"x": i})
            await db.run(insert)
            if checkpointer.task is not None:
                await checkpointer.task  # one at a time: a commit while one runs starts none

        async def count(s: Tx) -> tuple[int, int]:
            row = (await s.execute(text("SELECT count(*), thread_id() FROM t"))).one()
            return int(row[0]), int(row[1])

        assert await db.run(count, readonly=True) == (25, threading.get_ident())
        rows, thread = await db.run(count, readonly=True, offload=True)
        assert rows == 25 and thread != threading.get_ident()
        assert checkpointer.runs >= 2  # 26 commits, one checkpoint per 10 (or per 5 s)
    finally:
        await db.close()


async def test_sqlite_loop_connections_are_kept_between_transactions(tmp_path: Path) -> None:
    """The loop's SQLAlchemy connections outlive a transaction (one is not built per
    transaction) and come back clean after a failure, a lock held by another process or a
    read; every transaction begins on them with the right ``BEGIN``."""
    path = tmp_path / "bot.db"
    db = Database(f"sqlite:///{path}")
    loop = db._loop
    assert loop is not None
    trace: list[str] = []  # every statement SQLite runs on the loop's connections
    event.listen(db._loop_engine, "connect",
                 lambda dbapi, _: dbapi.set_trace_callback(trace.append))
    try:
        async def create(s: Tx) -> None:
            await (await s.connection()).execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))

        async def insert(s: Tx, x: int) -> None:
            await (await s.connection()).execute(text("INSERT INTO t VALUES (:x)"), {"x": x})

        async def count(s: Tx) -> int:
            return int((await (await s.connection()).execute(
                text("SELECT count(*) FROM t"))).scalar_one())

        await db.run(create)
        kept = list(loop.idle)
        assert len(kept) == 1
        await db.run(lambda s: insert(s, 1))
        with pytest.raises(StorageError):  # a duplicate: rolled back, the connection kept
            await db.run(lambda s: insert(s, 1))
        assert loop.idle == kept and not kept[0].in_transaction()
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")  # another process holds the write lock a moment
        asyncio.get_running_loop().call_later(0.2, raw.execute, "COMMIT")
        del trace[:]
        await db.run(lambda s: insert(s, 2))  # BEGIN IMMEDIATE failed, was retried
        raw.close()
        assert trace.count("BEGIN IMMEDIATE") >= 2 and trace[-2:] == [
            "INSERT INTO t VALUES (2)", "COMMIT"]
        del trace[:]
        assert await db.run(count, readonly=True) == 2
        assert trace == ["BEGIN DEFERRED", "SELECT count(*) FROM t", "COMMIT"]
        assert loop.idle == kept
    finally:
        await db.close()
    assert loop.idle == []


async def test_utc_datetime_round_trip_and_naive_rejected(store: Store) -> None:
    rec = await store.members.touch(42)
    assert rec.created_at.tzinfo is not None
    assert rec.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

    async def naive(s: Tx) -> None:
        s.add(Member(id=43, created_at=datetime(2025, 1, 1), last_seen_at=datetime(2025, 1, 1)))
        await s.flush()

    with pytest.raises(sa_exc.StatementError, match="naive datetime"):
        await store.db.run(naive)
    assert await store.members.get(43) is None

    async def read(s: Tx) -> datetime:
        value = await s.scalar(select(Member.created_at).where(Member.id == 42))
        assert value is not None
        return value

    assert (await store.db.run(read, readonly=True)).tzinfo == UTC


def _member(user_id: int) -> Member:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Member(id=user_id, created_at=now, last_seen_at=now)


async def test_unit_of_work_core_and_orm_share_one_transaction(store: Store) -> None:
    """``Database.run``'s ``Tx``: Core statements need no ORM session; one made on demand joins
    the same transaction, what it holds is written at commit and undone with a rollback."""
    sessions: list[bool] = []

    async def core_only(s: Tx) -> int:
        value = (await (await s.connection()).execute(text("SELECT 7"))).scalar_one()
        sessions.append(s._session is not None)
        return int(value)

    assert await store.db.run(core_only) == 7
    assert sessions == [False]  # the hot paths' case: no session was built

    async def add_unflushed(s: Tx) -> None:
        s.add(_member(501))  # not flushed here: written before the commit
        conn = await s.connection()
        await conn.execute(text("UPDATE member SET sharing = sharing WHERE id = 0"))

    await store.db.run(add_unflushed)
    assert (await store.members.get(501)) is not None

    async def orm_then_core(s: Tx) -> int:
        s.add(_member(502))
        await s.flush()  # the ORM's write, seen by a Core read in the same transaction
        conn = await s.connection()
        return int((await conn.execute(
            text("SELECT count(*) FROM member WHERE id = 502"))).scalar_one())

    assert await store.db.run(orm_then_core) == 1

    async def fails(s: Tx) -> None:
        s.add(_member(503))
        await s.flush()
        await (await s.connection()).execute(
            text("UPDATE member SET sharing = :on WHERE id = 501"), {"on": True})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.db.run(fails)
    assert await store.members.get(503) is None  # ORM and Core writes both rolled back
    rec = await store.members.get(501)
    assert rec is not None and rec.sharing is False

    async def savepoint(s: Tx) -> bool:
        s.add(_member(504))
        try:
            async with s.begin_nested():
                s.add(_member(501))  # a duplicate: only the savepoint is undone
        except sa_exc.IntegrityError:
            return True
        return False

    assert await store.db.run(savepoint) is True
    assert await store.members.get(504) is not None


async def test_unreachable_postgres_is_one_clear_line() -> None:
    started = time.monotonic()
    store = Store.open(CLOSED_PORT_URL)
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            await store.check()
        msg = _one_line(info.value)
        assert msg.startswith("database unavailable (postgresql+asyncpg://postgres@127.0.0.1:1/")
        with pytest.raises(DatabaseUnavailable):
            await store.members.touch(1)
        with pytest.raises(DatabaseUnavailable):
            await Store.open(CLOSED_PORT_URL)  # `await Store.open()` checks
    finally:
        await store.close()
    assert time.monotonic() - started < 10


async def test_await_open_checks_and_returns_the_store(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'ok.db'}")
    try:
        assert isinstance(store, Store) and store.db.is_sqlite
    finally:
        await store.close()
    async with Store.open(f"sqlite:///{tmp_path / 'ok.db'}") as again:
        await again.check()


async def test_password_is_not_printed() -> None:
    store = Store.open("postgresql+asyncpg://bot:s3cr3t@127.0.0.1:1/test")
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            await store.check()
        assert "s3cr3t" not in str(info.value) and "***" in str(info.value)
    finally:
        await store.close()


async def test_unwritable_sqlite_location_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = Store.open(f"sqlite+aiosqlite:///{blocker / 'sub' / 'bot.db'}")
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            await store.check()
        assert _one_line(info.value).startswith("database unavailable (sqlite+aiosqlite:///")
        with pytest.raises(DatabaseUnavailable):
            await store.checklist.mark(1, "x")
    finally:
        await store.close()


async def test_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory where the file should be
    store = Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dir.db'}")
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            await store.members.get(1)
        _one_line(info.value)
    finally:
        await store.close()
    # aiosqlite stops the worker thread of a failed connect without waiting for it; let it
    # finish while this test's event loop is still open.
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)


async def test_missing_schema_says_run_upgrade(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        await store.check()  # reachable...
        with pytest.raises(SchemaMissing, match="mentorbot db upgrade"):
            await store.members.get(1)  # ...but never migrated
    finally:
        await store.close()


async def test_failure_mid_transaction_rolls_everything_back(store: Store) -> None:
    await store.members.touch(1)

    async def half(s: Tx) -> None:
        s.add(Member(id=2, created_at=datetime.now(UTC), last_seen_at=datetime.now(UTC)))
        await s.flush()
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(DatabaseUnavailable, match="connection reset"):
        await store.db.run(half)
    assert await store.members.get(2) is None
    assert await store.members.get(1) is not None  # the store still works


@pytest.mark.backends("postgres")
async def test_connection_killed_mid_operation_postgres(store: Store) -> None:
    await store.members.touch(1)

    async def killed(s: Tx) -> None:
        s.add(Member(id=2, created_at=datetime.now(UTC), last_seen_at=datetime.now(UTC)))
        await s.flush()
        await s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(DatabaseUnavailable) as info:
        await store.db.run(killed)
    _one_line(info.value)
    assert await store.members.get(2) is None  # nothing half-written
    assert (await store.members.touch(3)).user_id == 3  # the pool recovered


async def _own_backend(s: Tx) -> int:
    """PostgreSQL: the server process of the unit of work's connection."""
    conn = await s.connection()
    return int(conn.sync.connection.driver_connection.get_server_pid())  # type: ignore[union-attr]


async def _terminate(store: Store, pid: int) -> None:
    """PostgreSQL: end server process ``pid`` from another connection (as an admin would)."""
    import asyncpg

    url = store.db.url.set(drivername="postgresql").difference_update_query(["search_path"])
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@pytest.mark.backends("postgres")
async def test_stale_pooled_connections_are_replaced_postgres(store: Store) -> None:
    await store.members.touch(1)

    async def backend_pid(s: Tx) -> int:
        return int(await s.scalar(text("SELECT pg_backend_pid()")) or 0)

    pid = await store.db.run(backend_pid)  # that connection now sits in the pool
    await _terminate(store, pid)
    assert (await store.members.get(1)) is not None  # the dead connection was replaced
    assert await store.db.run(backend_pid) != pid


@pytest.mark.backends("postgres")
async def test_connection_closed_after_checkout_runs_again_postgres(store: Store) -> None:
    """The server closes the connection between checkout and the first statement: nothing was
    committed, so the unit of work runs once more on a new connection (no error for the
    member), and its write is stored once."""
    attempts: list[int] = []

    async def write(s: Tx) -> None:
        attempts.append(await _own_backend(s))
        if len(attempts) == 1:
            await _terminate(store, attempts[0])
        s.add(Member(id=7, created_at=datetime.now(UTC), last_seen_at=datetime.now(UTC)))
        await s.flush()

    await store.db.run(write)
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert await store.members.get(7) is not None


@pytest.mark.backends("postgres")
async def test_a_one_statement_write_is_not_run_again_when_its_connection_drops_postgres(
    store: Store,
) -> None:
    """Without a transaction block the server may have committed the statement before the
    connection dropped: a ``one_statement`` write is not run again (no phantom second write);
    the caller is told the database is unavailable, and the pool recovers."""
    attempts: list[int] = []

    async def write(s: Tx) -> None:
        attempts.append(await _own_backend(s))
        await _terminate(store, attempts[-1])
        await (await s.connection()).execute(text(
            "INSERT INTO member (id, created_at, last_seen_at, sharing) "
            "VALUES (8, now(), now(), false)"))

    with pytest.raises(DatabaseUnavailable):
        await store.db.run(write, one_statement=True)
    assert len(attempts) == 1
    assert await store.members.get(8) is None
    assert (await store.members.touch(9)).user_id == 9  # the pool recovered


@pytest.mark.backends("postgres")
async def test_short_reads_run_without_a_transaction_block_postgres(store: Store) -> None:
    """A short read on PostgreSQL skips BEGIN/COMMIT (each statement its own transaction), and
    so does a ``one_statement`` write; other writes and offloaded reads (stats, export) keep
    one transaction."""

    async def two_timestamps(s: Tx) -> bool:
        conn = await s.connection()
        first = await conn.scalar(text("SELECT transaction_timestamp()"))
        await conn.execute(text("SELECT pg_sleep(0.01)"))
        return first == await conn.scalar(text("SELECT transaction_timestamp()"))

    assert await store.db.run(two_timestamps, readonly=True) is False
    assert await store.db.run(two_timestamps, readonly=True, offload=True) is True
    assert await store.db.run(two_timestamps, one_statement=True) is False
    assert await store.db.run(two_timestamps) is True


@pytest.mark.backends("postgres")
async def test_short_units_of_work_keep_their_connections_postgres(store: Store) -> None:
    """Consecutive short units of work on PostgreSQL reuse the connections kept between them
    (one per kind: autocommit reads and one-statement writes, transactions) instead of a pool
    checkout each; an offloaded unit of work still checks one out."""
    checkouts = [0]

    def on_checkout(*args: object) -> None:
        checkouts[0] += 1

    event.listen(store.db.engine.sync_engine.pool, "checkout", on_checkout)

    async def pid(s: Tx) -> int:
        return await _own_backend(s)

    reads = {await store.db.run(pid, readonly=True) for _ in range(5)}
    writes = {await store.db.run(pid) for _ in range(5)}
    singles = {await store.db.run(pid, one_statement=True) for _ in range(5)}
    assert len(reads) == len(writes) == 1 and singles == reads
    assert checkouts[0] <= 2
    await store.db.run(pid, readonly=True, offload=True)
    assert checkouts[0] <= 3


@pytest.mark.backends("postgres")
async def test_kept_connections_never_hold_up_a_full_pool_postgres(db_url: str) -> None:
    """With two connections in the pool, units of work of both kinds (autocommit, transaction)
    run side by side without waiting on a connection kept idle for the other kind; a unit of
    work that raised does not leave its connection kept."""
    await upgrade_async(db_url)
    store = Store.open(db_url, pool_size=1, max_overflow=1, pool_timeout=0.3)
    kept = store.db._kept
    assert kept is not None

    async def pid(s: Tx) -> int:
        return await _own_backend(s)

    async def slow_pid(s: Tx) -> int:
        await asyncio.sleep(0.5)  # holds its connection past the pool timeout
        return await _own_backend(s)

    def idle_pids() -> set[int]:
        return {c.connection.driver_connection.get_server_pid()  # type: ignore[union-attr]
                for idle in kept.idle.values() for c in idle}

    try:
        for _ in range(2):
            await store.db.run(pid, readonly=True)  # an autocommit connection kept idle
            assert len(idle_pids()) == 1
            slow = asyncio.create_task(store.db.run(slow_pid))  # a transaction: the other one
            await asyncio.sleep(0.05)
            quick = await store.db.run(pid)  # gets the idle one, given back to the pool
            assert quick != await slow

        failed: list[int] = []

        async def fail(s: Tx) -> None:
            failed.append(await _own_backend(s))
            await s.execute(text("SELECT 1/0"))

        with pytest.raises(sa_exc.DataError):
            await store.db.run(fail)
        assert failed and failed[0] not in idle_pids()
        assert store.db.engine.sync_engine.pool.checkedout() == len(idle_pids())
    finally:
        await store.close()


async def test_a_unit_of_work_may_await_more_than_statements(store: Store) -> None:
    """Units of work on the async engines run in one greenlet (bot.storage.tx); what they
    await besides statements is awaited on the loop and the transaction still commits."""

    async def write(s: Tx) -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        s.add(Member(id=11, created_at=datetime.now(UTC), last_seen_at=datetime.now(UTC)))
        await s.flush()
        return "stored"

    assert await store.db.run(write, offload=True) == "stored"
    assert await store.members.get(11) is not None


async def test_a_cancelled_unit_of_work_rolls_back(store: Store) -> None:
    started, cleaned_up = asyncio.Event(), []

    async def stuck(s: Tx) -> None:
        s.add(Member(id=12, created_at=datetime.now(UTC), last_seen_at=datetime.now(UTC)))
        await s.flush()
        started.set()
        try:
            await asyncio.sleep(10)
        finally:
            cleaned_up.append(True)

    task = asyncio.create_task(store.db.run(stuck, offload=True))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up == [True]  # the cancellation went through the unit of work
    assert await store.members.get(12) is None
    assert (await store.members.touch(13)).user_id == 13  # and the store still works


@pytest.mark.backends("sqlite")
async def test_sqlite_waits_for_another_writer(store: Store) -> None:
    path = store.db.url.database
    assert path
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")  # another process holds the write lock...

    async def release() -> None:
        await asyncio.sleep(0.3)
        raw.execute("COMMIT")

    releaser = asyncio.create_task(release())
    started = time.monotonic()
    state = await store.checklist.mark(1, "p1-git")  # ...we wait instead of failing
    await releaser
    raw.close()
    assert state.done and time.monotonic() - started >= 0.25


async def test_lock_errors_are_retried_then_reported(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "MAX_RETRIES", 3)
    locked = sqlite3.OperationalError("database is locked")
    calls = {"n": 0}

    async def flaky(s: Tx) -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise sa_exc.OperationalError("INSERT ...", {}, locked)
        return "ok"

    async def always(s: Tx) -> str:
        calls["n"] += 1
        raise sa_exc.OperationalError("INSERT ...", {}, locked)

    if store.db.is_sqlite:
        assert await store.db.run(flaky) == "ok" and calls["n"] == 3
        calls["n"] = 0
        with pytest.raises(Busy, match="locked"):  # exhausted retries: "try again"
            await store.db.run(always)
        assert calls["n"] == 4  # first try + 3 retries
    else:

        class Deadlock(Exception):
            sqlstate = "40P01"

        async def deadlock_once(s: Tx) -> str:
            calls["n"] += 1
            if calls["n"] == 1:
                raise sa_exc.DBAPIError("UPDATE ...", {}, Deadlock("deadlock detected"))
            return "ok"

        assert await store.db.run(deadlock_once) == "ok" and calls["n"] == 2
