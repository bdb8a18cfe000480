"""Engine, sessions, the UTC datetime type and the one place driver errors become typed errors.

``Database(url)`` accepts ``sqlite+aiosqlite:///path.db`` (default) or
``postgresql+asyncpg://user@host/db``; plain ``sqlite:///`` / ``postgresql://`` URLs are
upgraded to the async drivers.

SQLite connections get ``journal_mode=WAL``, ``foreign_keys=ON`` and ``synchronous=NORMAL``. On
a SQLite file the statements of the hot paths run on the event loop's own thread, through a
plain (sync) SQLAlchemy engine on the ``sqlite3`` module (the ``Tx``'s
:class:`~bot.storage.tx.SyncConnection`): a statement there takes tens of microseconds, and
handing each one to aiosqlite's worker thread and back, through SQLAlchemy's greenlet bridge,
cost several times that in CPU. Those connections cannot wait: their ``busy_timeout`` is 0,
their pool never blocks (``pool_timeout`` 0) and their WAL checkpoints run in a thread
(:class:`_Checkpointer`). Units of work that touch many rows (``run(..., offload=True)``:
stats, export, delete, purges), :attr:`Database.session` and tools use the async engine, whose
aiosqlite connections run in worker threads with a short ``busy_timeout``.

Pysqlite's own transaction handling is switched off and every write transaction starts with
``BEGIN IMMEDIATE`` (the SQLAlchemy recipe for pysqlite/aiosqlite), so a writer takes the write
lock up front instead of failing with "database is locked" when it upgrades a read lock.
Read-only units of work use ``BEGIN DEFERRED`` so readers never wait for writers (WAL).

Nothing blocks the event loop and every wait is bounded:

* SQLite writes of one process are serialised by one :class:`asyncio.Lock` per database file
  (per event loop), so the process's writers queue on the loop, not in SQLite's busy handler.
  Only another process can make a writer wait there: a connection on the loop fails at once, a
  threaded one after ``busy_timeout`` (0.25 s, in its worker thread); :meth:`Database.run`
  retries with jittered back-off until ``retry_budget`` (4 s) is spent and raises
  :class:`~bot.storage.errors.Busy`.
* aiosqlite cursors are closed in the connection's worker thread even when a statement fails
  (SQLAlchemy's adapter leaves a failed cursor to the garbage collector, which finalises it on
  the loop thread — and ``sqlite3_reset`` there waits for the connection mutex while the worker
  sits in the busy handler: a frozen loop). See :class:`_ClosingCursor`.
* PostgreSQL: asyncpg ``command_timeout`` and the server's ``statement_timeout`` /
  ``lock_timeout`` bound each statement; deadlocks and serialisation failures are retried within
  the same budget, then :class:`~bot.storage.errors.Busy`.
* The pool waits at most ``pool_timeout`` (2 s) for a connection, then raises
  :class:`~bot.storage.errors.CapacityExceeded` (shed, not "database unavailable"); the
  loop's SQLite pool never waits (its transactions do not yield, so it is never short).

PostgreSQL uses asyncpg with a short connect timeout, so an unreachable server fails fast. A
pooled connection the server closed (a restart, ``pg_terminate_backend``) is replaced at
checkout: asyncpg sees the server's goodbye and the closed socket without a round trip
(:func:`_replace_closed`). SQLAlchemy's ``pool_pre_ping`` did the same with three round trips
(``BEGIN``, ``;``, ``ROLLBACK``) on every checkout: ~0.4 ms of CPU per transaction here. A
``?search_path=<schema>`` URL parameter puts every table in that (existing) schema — handy in a
shared database, and how the test suite isolates each test.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import sqlite3
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite
from aiosqlite.context import contextmanager
from sqlalchemy import Connection, DateTime, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only, greenlet_spawn

from bot.storage.errors import (
    Busy,
    CapacityExceeded,
    DatabaseUnavailable,
    SchemaMissing,
    StorageError,
)
from bot.storage.tx import Tx

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLite busy timeout (ms): how long a connection waits (in its worker thread) for a writer of
#: another process before :meth:`Database.run` backs off and retries.
SQLITE_BUSY_TIMEOUT_MS = 250
#: connections on the event loop: checkpoint the WAL (in a thread) after this many commits ...
CHECKPOINT_EVERY = 500
#: ... or this many seconds after the last one, whichever comes first
CHECKPOINT_AFTER_S = 5.0
#: asyncpg connect timeout (s): an unreachable server fails within this.
PG_CONNECT_TIMEOUT_S = 5.0
#: Default bounds of every wait (seconds); parameters of :class:`Database` / ``Store.open``.
POOL_TIMEOUT_S = 2.0
#: the longest :meth:`Database.run` keeps a write waiting — queued for the SQLite write lock
#: and retrying lock/deadlock/serialisation failures — before it raises ``Busy``
RETRY_BUDGET_S = 4.0  # + one busy timeout: a clear answer within 5 s
#: PostgreSQL: per statement (server ``statement_timeout``; asyncpg ``command_timeout`` is this
#: plus one second, for a server that does not answer at all)
STATEMENT_TIMEOUT_S = 5.0
#: PostgreSQL: how long a statement waits for a row lock (``lock_timeout``)
LOCK_TIMEOUT_S = 2.0
#: At most this many retries of a transient lock/serialisation failure (the time budget above
#: normally ends retrying first).
MAX_RETRIES = 30

try:  # asyncpg is optional at import time (a SQLite-only install still works)
    import asyncpg

    _ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        asyncpg.InvalidCatalogNameError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.TooManyConnectionsError,
        asyncpg.AdminShutdownError,
    )
except ImportError:  # pragma: no cover
    _ASYNCPG_UNAVAILABLE = ()

_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError, TimeoutError (= asyncio.TimeoutError), socket.gaierror
    *_ASYNCPG_UNAVAILABLE,
)

_SQLITE_LOCKED = ("database is locked", "database table is locked", "database is busy")
_PG_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
#: lock_not_available (lock_timeout), query_canceled (statement_timeout): bounded waits ran out
_PG_BUSY_SQLSTATES = {"55P03", "57014"}


class _ClosingCursor(aiosqlite.Cursor):
    """An aiosqlite cursor that closes its ``sqlite3.Cursor`` in the worker thread on failure.

    SQLAlchemy's aiosqlite adapter closes the cursor only after a statement succeeded; a failed
    one (e.g. ``BEGIN IMMEDIATE`` → "database is locked") stays referenced from the exception's
    traceback cycle until the cyclic garbage collector frees it — on the event-loop thread, where
    finalising the statement waits for the connection mutex held by the worker thread sitting
    in the busy handler of the next attempt. Closing it here, in the worker, leaves the GC a
    closed cursor that needs no mutex.
    """

    async def _close_quietly(self) -> None:
        try:
            await self.close()
        except Exception:  # the statement's error is the one to report
            log.debug("closing a failed sqlite cursor failed", exc_info=True)

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _ClosingCursor:
        try:
            await super().execute(sql, parameters)
        except BaseException:
            await asyncio.shield(self._close_quietly())
            raise
        return self

    async def executemany(
        self, sql: str, parameters: Iterable[Iterable[Any]]
    ) -> _ClosingCursor:
        try:
            await super().executemany(sql, parameters)
        except BaseException:
            await asyncio.shield(self._close_quietly())
            raise
        return self

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        try:
            return await super().fetchall()
        except BaseException:
            await asyncio.shield(self._close_quietly())
            raise


class _ClosingConnection(aiosqlite.Connection):
    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return _ClosingCursor(self, await self._execute(self._conn.cursor))


def _sqlite_connector(path: Path, *, any_thread: bool = False) -> Callable[[], sqlite3.Connection]:
    """Opens ``path`` (its directory made first). ``any_thread`` switches sqlite3's same-thread
    check off: the loop's connections are used on its thread only, but SQLAlchemy's pool may
    close them from another (disposal, garbage collection)."""

    def connect() -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(str(path), check_same_thread=not any_thread)

    return connect


def _sqlite_creator(path: Path) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """aiosqlite connections (each with its worker thread) for the async engine."""
    connect = _sqlite_connector(path)

    async def create() -> aiosqlite.Connection:
        conn = _ClosingConnection(connect, 64)
        conn._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
        return await conn

    return create


#: one write lock per (event loop, SQLite file): a process's writers queue here, on the loop
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(key: str) -> asyncio.Lock:
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC text (which sorts correctly) and come back with ``tzinfo=UTC``. Naive datetimes are
    rejected on the way in: every timestamp in mentorbot is explicit about being UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _install_sqlite_hooks(
    engine: AsyncEngine | Engine, path: Path | None, *, busy_ms: int, autocheckpoint: bool,
    begin_hook: bool = True,
) -> None:
    """Pragmas on every new connection and, with ``begin_hook``, ``BEGIN`` emitted by SQLAlchemy
    (the loop's connections begin in :meth:`_LoopConnections.transaction` instead: an engine with
    any connection event listener dispatches events on every statement)."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "do_connect")
    def _make_parent_dir(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # BEGIN is ours (the "begin" hook below, or the loop's), not the sqlite3 module's
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
                if not autocheckpoint:
                    cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    if not begin_hook:
        return

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class _Checkpointer:
    """Moves the WAL's pages into the database file in a worker thread.

    Connections that run on the event loop have SQLite's automatic checkpoint off (it runs
    inside a ``COMMIT`` and fsyncs); this runs a ``PASSIVE`` checkpoint — which never waits for
    readers or writers — after every :data:`CHECKPOINT_EVERY` commits or :data:`CHECKPOINT_AFTER_S`
    seconds, whichever comes first, on its own connection in a thread.
    """

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.commits = 0
        self.last = time.monotonic()
        self.task: asyncio.Future[None] | None = None
        self._conn: sqlite3.Connection | None = None
        self.runs = 0

    def committed(self) -> None:
        self.commits += 1
        due = (self.commits >= CHECKPOINT_EVERY
               or time.monotonic() - self.last >= CHECKPOINT_AFTER_S)
        if due and (self.task is None or self.task.done()):
            self.commits = 0
            self.last = time.monotonic()
            self.task = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                             timeout=self.busy_timeout)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.Error:  # the next one catches up; nothing is lost (the WAL keeps it)
            log.warning("WAL checkpoint failed", exc_info=True)

    async def close(self) -> None:
        if self.task is not None:
            await asyncio.wait([self.task])
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _replace_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: a connection the server closed is replaced (the pool tries another)."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.DisconnectionError("the server closed this connection")


async def _transaction(engine: AsyncEngine, fn: Callable[[Tx], Awaitable[T]]) -> T:
    """``fn`` in one transaction on a connection of ``engine``, run as sync SQLAlchemy code in
    one greenlet (see :mod:`bot.storage.tx`)."""
    sync = engine.sync_engine

    def body() -> T:
        with sync.begin() as conn:
            return _drive(_in(Tx(conn), fn))

    return await greenlet_spawn(body)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` to its end in a SQLAlchemy greenlet. Its statements return without
    yielding; anything else it awaits (a unit of work rarely does) is awaited on the event loop
    through the bridge, and what that raises (a cancellation) is thrown back into ``coro``."""
    send: Callable[[Any], Any] = coro.send
    value: Any = None
    while True:
        try:
            yielded = send(value)
        except StopIteration as done:
            return cast(T, done.value)
        try:
            await_only(_resume(yielded))
            send, value = coro.send, None
        except BaseException as exc:  # the coroutine's to handle, a cancellation too
            send, value = coro.throw, exc


async def _resume(yielded: Any) -> None:
    """Waits on the loop for what a coroutine yielded: a future, or nothing (``sleep(0)``)."""
    if yielded is None:
        await asyncio.sleep(0)
    else:  # as a task does with what its coroutine yields: the flag is the coroutine's
        yielded._asyncio_future_blocking = False
        await yielded


class _LoopConnections:
    """A SQLite file's connections on the event loop's thread, and their transactions.

    A transaction's calls return without yielding to the loop (nothing here can wait), so it
    cannot be cancelled half-way through a statement. Between transactions a connection is
    kept as a SQLAlchemy ``Connection``: making one per transaction (pool checkout, connection
    events) cost about as much CPU as a short statement. ``BEGIN`` goes straight to ``sqlite3``.
    """

    def __init__(self, engine: Engine, keep: int = 2) -> None:
        self.engine = engine
        self.keep = keep
        self.idle: list[Connection] = []

    async def transaction(self, fn: Callable[[Tx], Awaitable[T]], *, readonly: bool) -> T:
        conn = self.idle.pop() if self.idle else self.engine.connect()
        try:
            with conn.begin():
                statement = "BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE"
                driver: Any = conn.connection.driver_connection  # sqlite3.Connection
                try:
                    driver.execute(statement)
                except sqlite3.Error:  # again, so the error comes out as SQLAlchemy's
                    conn.exec_driver_sql(statement)
                return await _in(Tx(conn), fn)
        finally:
            if conn.invalidated or conn.in_transaction() or len(self.idle) >= self.keep:
                conn.close()
            else:
                self.idle.append(conn)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
        self.engine.dispose()


class _KeptConnections:
    """PostgreSQL: connections kept checked out between short units of work, one list per
    engine (the transactional one and the autocommit one share a pool).

    A pool checkout and return (events, the reset's rollback, the autocommit engine's isolation
    level set and reset) cost about a third of a one-statement unit of work's CPU (~290 → ~195
    µs in autocommit, ~385 → ~345 µs in a transaction). A connection is kept only while the
    pool is far from full (no more checked out than ``pool_size``) and after a unit of work
    that raised nothing; a checkout that finds the pool full first gives back every idle one,
    so nothing waits on a connection that sits here unused. One that died while idle (the
    server closed it) is dropped when it is next taken.
    """

    def __init__(self, pool: Any, capacity: int, keep: int = 2) -> None:
        self.pool = pool
        self.capacity = capacity
        self.keep = keep
        self.idle: dict[Engine, list[Connection]] = {}

    async def transaction(self, engine: AsyncEngine, fn: Callable[[Tx], Awaitable[T]]) -> T:
        sync = engine.sync_engine
        idle = self.idle.setdefault(sync, [])

        def body() -> T:
            conn = self._take(sync, idle)
            done = False
            try:
                with conn.begin():
                    result = _drive(_in(Tx(conn), fn))
                done = True
                return result
            finally:
                if done and self._may_keep(conn, idle):
                    idle.append(conn)
                else:
                    conn.close()

        return await greenlet_spawn(body)

    def _take(self, sync: Engine, idle: list[Connection]) -> Connection:
        while idle:
            conn = idle.pop()
            driver: Any = conn.connection.driver_connection  # asyncpg's
            if not conn.invalidated and not driver.is_closed():
                return conn
            conn.invalidate()
            conn.close()
        if self.pool.checkedout() >= self.capacity:
            self._give_back()
        return sync.connect()

    def _may_keep(self, conn: Connection, idle: list[Connection]) -> bool:
        out = self.pool.checkedout()
        return (not conn.invalidated and not conn.in_transaction() and len(idle) < self.keep
                and out <= self.pool.size() and out < self.capacity)

    def _give_back(self) -> None:
        for idle in self.idle.values():
            while idle:
                idle.pop().close()

    async def close(self) -> None:
        await greenlet_spawn(self._give_back)


async def _in(tx: Tx, fn: Callable[[Tx], Awaitable[T]]) -> T:
    try:
        result = await fn(tx)
        await tx.finish()
    finally:
        await tx.close()
    return result


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and pick the async driver for plain ``sqlite://``/``postgresql://`` URLs."""
    try:
        u = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StorageError(f"invalid database URL: {exc}") from exc
    backend, driver = u.get_backend_name(), u.get_driver_name()
    if backend == "sqlite" and driver != "aiosqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and driver != "asyncpg":
        u = u.set(drivername="postgresql+asyncpg")
    elif backend not in ("sqlite", "postgresql"):
        raise StorageError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return u


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        msg = str(exc.orig).strip() or type(exc.orig).__name__
    line = msg.splitlines()[0].strip()
    # asyncpg error text arrives as "<class 'asyncpg.exceptions.X'>: message"
    if line.startswith("<class '") and "'>: " in line:
        line = line.split("'>: ", 1)[1]
    return line[:300]


class Database:
    """The engines of one database URL.

    Repositories use :meth:`run`, which adds the transaction (a :class:`~bot.storage.tx.Tx`),
    retries and error translation. ``session`` is an
    :class:`~sqlalchemy.ext.asyncio.async_sessionmaker` for code outside a repository (tests,
    tools): ``async with db.session() as s``.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = POOL_TIMEOUT_S,
        busy_timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
        retry_budget: float = RETRY_BUDGET_S,
        statement_timeout: float = STATEMENT_TIMEOUT_S,
        lock_timeout: float = LOCK_TIMEOUT_S,
        echo: bool = False,
    ) -> None:
        self.url: URL = normalize_url(url)
        self.busy_timeout = busy_timeout
        self.retry_budget = retry_budget
        self._write_key: str | None = None
        #: ids of members this process saw stored, least recent first: a hint for
        #: :meth:`Repo.run_for_member <bot.storage.repo._base.Repo.run_for_member>` (bounded
        #: there); a deletion forgets its member
        self.stored_members: OrderedDict[int, None] = OrderedDict()
        self.dialect_name: str = self.url.get_backend_name()
        self.safe_url: str = self.url.render_as_string(hide_password=True)
        kwargs: dict[str, Any] = {"echo": echo}
        #: a SQLite file's connections on the event loop's thread (see the module's docstring)
        self._loop: _LoopConnections | None = None
        #: PostgreSQL's connections kept between short units of work (see the class)
        self._kept: _KeptConnections | None = None
        if self.is_sqlite:
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file::memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
                self._sqlite_path: Path | None = None
                self._write_key = f"memory:{id(self)}"
            else:
                kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
                kwargs["pool_timeout"] = pool_timeout
                self._sqlite_path = Path(database.removeprefix("file:").split("?")[0])
                self._write_key = str(self._sqlite_path.resolve())
                if not database.startswith("file:") and not self.url.query:
                    loop_engine = create_engine(
                        f"sqlite:///{self._sqlite_path}",
                        creator=_sqlite_connector(self._sqlite_path, any_thread=True),
                        echo=echo, poolclass=QueuePool, pool_size=pool_size,
                        max_overflow=max_overflow, pool_timeout=0)
                    _install_sqlite_hooks(loop_engine, self._sqlite_path, busy_ms=0,
                                          autocheckpoint=False, begin_hook=False)
                    self._loop = _LoopConnections(loop_engine)
                    # the threaded engine takes only heavy work, tools and sessions
                    kwargs.update(pool_size=2, max_overflow=2,
                                  async_creator=_sqlite_creator(self._sqlite_path))
        else:
            server_settings = {
                "statement_timeout": str(int(statement_timeout * 1000)),
                "lock_timeout": str(int(lock_timeout * 1000)),
            }
            connect_args: dict[str, Any] = {
                "timeout": PG_CONNECT_TIMEOUT_S,
                "command_timeout": statement_timeout + 1.0,
                "server_settings": server_settings,
            }
            search_path = self.url.query.get("search_path")
            if search_path:
                # ?search_path=schema: keep every table (and alembic_version) in that schema
                server_settings["search_path"] = str(search_path)
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
                connect_args=connect_args,
            )
        engine_url = self.url.difference_update_query(["search_path"])
        self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        self._checkpointer: _Checkpointer | None = None
        if self.is_postgres:
            event.listen(self.engine.sync_engine.pool, "checkout", _replace_closed)
            self._kept = _KeptConnections(self.engine.sync_engine.pool,
                                          capacity=pool_size + max_overflow)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine, self._sqlite_path,
                                  busy_ms=int(busy_timeout * 1000),
                                  autocheckpoint=self._loop is None)
        if self._loop is not None:
            assert self._sqlite_path is not None
            self._checkpointer = _Checkpointer(self._sqlite_path, busy_timeout)
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        reader = self.engine.execution_options(sqlite_begin="DEFERRED")
        #: (readonly, offload) → the async engine :meth:`run` begins its transaction on (a
        #: SQLite file's hot paths begin on the loop's connections instead). Short read-only
        #: units of work (not offloaded) run on PostgreSQL in autocommit mode, without the
        #: ``BEGIN`` and ``COMMIT`` round trips (~0.1-0.2 ms of CPU here). Each statement then
        #: reads its own snapshot: a write committed between two statements of one read shows
        #: in the second only (these reads fill one reply; every write decides under its own
        #: lock). Heavy reads (export, stats: ``SET LOCAL``) keep a transaction.
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engines: dict[tuple[bool, bool], AsyncEngine] = {
            (False, False): self.engine, (False, True): self.engine, (True, True): reader,
            (True, False): autocommit if self.is_postgres else reader}
        #: PostgreSQL: where a write of one statement runs (``run(..., one_statement=True)``)
        self._one_statement = autocommit if self.is_postgres else None

    @property
    def _loop_engine(self) -> Engine | None:
        """The engine of the loop's SQLite connections, if there are any."""
        return self._loop.engine if self._loop is not None else None

    @property
    def sync_engines(self) -> tuple[Engine, ...]:
        """Every engine's sync core (the loop's SQLite engine first, if there is one): where
        SQLAlchemy's event hooks go (instrumentation, tests)."""
        core = self.engine.sync_engine
        return (core,) if self._loop is None else (self._loop.engine, core)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect_name == "postgresql"

    # -- public API -----------------------------------------------------------------------------

    async def check(self) -> None:
        """Run ``SELECT 1`` where the hot paths run (on a SQLite file: the loop's connections,
        no worker thread); raise :class:`DatabaseUnavailable` (one line) if it fails."""

        async def select_one(s: Tx) -> None:
            await (await s.connection()).execute(text("SELECT 1"))

        await self.run(select_one, readonly=True)

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.close()
        if self._loop is not None:
            self._loop.close()
        if self._kept is not None:
            await self._kept.close()
        await self.engine.dispose()

    async def run(
        self,
        fn: Callable[[Tx], Awaitable[T]],
        *,
        readonly: bool = False,
        offload: bool = False,
        one_statement: bool = False,
    ) -> T:
        """Run ``fn(tx)`` in one transaction: commit on success, roll back on any error.

        ``tx`` (:class:`~bot.storage.tx.Tx`) is the transaction's connection for Core
        statements, with an ORM session on it made only when ``fn`` uses one.

        Transient lock/serialisation failures are retried with jittered back-off; driver
        errors are translated (:meth:`translate`), so callers only ever see
        :class:`~bot.storage.errors.StorageError` subclasses. ``offload=True`` is for units of
        work that read or write many rows (stats, export, delete, purges): on a SQLite file
        they run in a worker thread rather than on the event loop. On PostgreSQL a short
        ``readonly`` unit of work (not ``offload``) runs without a transaction block (one
        snapshot per statement).

        ``one_statement=True`` says ``fn`` writes with exactly one statement. PostgreSQL then
        runs it without a transaction block: the statement is its own transaction, so the
        ``BEGIN`` and ``COMMIT`` round trips go. Such a write is not run again when its
        connection drops, as the server may have committed it before the drop. SQLite runs
        it as any other write.
        """
        single = self._one_statement if one_statement and not readonly else None
        transaction = self._runner(fn, single or self._engines[readonly, offload],
                                   readonly=readonly, offload=offload)
        lock = None if readonly or self._write_key is None else _write_lock(self._write_key)
        attempt = 0
        reconnected = False
        deadline = time.monotonic() + self.retry_budget
        while True:
            try:
                if lock is None:
                    return await transaction()
                await self._acquire(lock, deadline)
                try:
                    result = await transaction()
                finally:
                    lock.release()
                if self._checkpointer is not None:
                    self._checkpointer.committed()
                return result
            except StorageError:
                raise
            except Exception as exc:
                if not reconnected and single is None and self._lost_before_commit(exc):
                    reconnected = True  # once: the server may have just gone away for good
                    log.debug("retrying on a new connection: %s", exc)
                    continue
                retryable = self._is_retryable(exc)
                if retryable and attempt < MAX_RETRIES:
                    attempt += 1
                    delay = min(0.25, 0.005 * 2**attempt) * (0.5 + random.random())
                    if time.monotonic() + delay < deadline:
                        log.debug("retrying after transient error (%s): %s", attempt, exc)
                        await asyncio.sleep(delay)
                        continue
                if retryable:
                    raise Busy(
                        f"database busy ({self.safe_url}): {_first_line(exc)} "
                        f"(gave up after {attempt + 1} attempts)"
                    ) from exc
                translated = self.translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    def _runner(self, fn: Callable[[Tx], Awaitable[T]], engine: AsyncEngine, *,
                readonly: bool, offload: bool) -> Callable[[], Awaitable[T]]:
        """How :meth:`run` runs one attempt of ``fn``: an offloaded unit of work on a fresh
        connection of ``engine``; any other on a SQLite file's loop-thread connections, or on
        PostgreSQL's kept ones."""
        if offload:
            return functools.partial(_transaction, engine, fn)
        if self._loop is not None:
            return functools.partial(self._loop.transaction, fn, readonly=readonly)
        if self._kept is not None:
            return functools.partial(self._kept.transaction, engine, fn)
        return functools.partial(_transaction, engine, fn)

    async def _acquire(self, lock: asyncio.Lock, deadline: float) -> None:
        """Queue for this process's SQLite write lock, within what is left of the budget."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await lock.acquire()
        except TimeoutError:
            raise Busy(
                f"database busy ({self.safe_url}): too many writes queued "
                f"(waited {self.retry_budget:.1f} s)"
            ) from None

    # -- error translation ----------------------------------------------------------------------

    def _lost_before_commit(self, exc: BaseException) -> bool:
        """A PostgreSQL connection that dropped while a statement ran — not during ``COMMIT``,
        where SQLAlchemy reports no statement — so the server committed nothing: the unit of
        work can run again on a new connection (as after a deadlock). This is how a connection
        the server closed just after checkout is replaced."""
        return (self.is_postgres and isinstance(exc, sa_exc.DBAPIError)
                and exc.connection_invalidated and exc.statement is not None)

    def _is_retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, sa_exc.OperationalError) and self.is_sqlite:
            return any(m in str(exc.orig).lower() for m in _SQLITE_LOCKED)
        if isinstance(exc, sa_exc.DBAPIError) and self.is_postgres:
            return getattr(exc.orig, "sqlstate", None) in _PG_RETRY_SQLSTATES
        return False

    def translate(self, exc: BaseException) -> BaseException:
        """Map a driver/SQLAlchemy exception to a typed storage error (or return it unchanged)."""
        if isinstance(exc, StorageError):
            return exc
        reason = _first_line(exc)
        low = reason.lower()
        if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection free in pool_timeout
            return CapacityExceeded(f"database at capacity ({self.safe_url}): {reason}")
        if isinstance(exc, sa_exc.DBAPIError):
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate in _PG_BUSY_SQLSTATES:
                return Busy(f"database busy ({self.safe_url}): {reason}")
            if "no such table" in low or sqlstate in ("42P01", "3F000"):
                return SchemaMissing(
                    f"database schema missing or outdated ({reason}): run `mentorbot db upgrade`"
                )
            if exc.connection_invalidated or isinstance(
                exc, sa_exc.OperationalError | sa_exc.InterfaceError
            ):
                if any(m in low for m in _SQLITE_LOCKED):
                    return Busy(f"database busy ({self.safe_url}): {reason}")
                return DatabaseUnavailable(f"database unavailable ({self.safe_url}): {reason}")
            if isinstance(exc, sa_exc.IntegrityError):
                return StorageError(f"integrity error: {reason}")
            return exc
        if isinstance(exc, _UNAVAILABLE_TYPES):
            return DatabaseUnavailable(f"database unavailable ({self.safe_url}): {reason}")
        return exc


__all__ = ["Database", "UTCDateTime", "normalize_url", "utcnow"]
