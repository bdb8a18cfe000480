"""Engine, sessions, the UTC datetime type and the one place driver errors become typed errors.

``Database(url)`` accepts ``sqlite+aiosqlite:///path.db`` (default) or
``postgresql+asyncpg://user@host/db``; plain ``sqlite:///`` / ``postgresql://`` URLs are
upgraded to the async drivers.

SQLite connections get ``journal_mode=WAL``, ``foreign_keys=ON``, a ``busy_timeout`` and
``synchronous=NORMAL``. Pysqlite's own transaction handling is switched off and every write
transaction starts with ``BEGIN IMMEDIATE`` (the SQLAlchemy recipe for pysqlite/aiosqlite), so a
writer waits for the write lock up front — inside the busy timeout — instead of failing with
"database is locked" when it upgrades a read lock. Read-only units of work use ``BEGIN DEFERRED``
so readers never wait for writers (WAL). :meth:`Database.run` retries the rare lock error left.

PostgreSQL uses asyncpg with ``pool_pre_ping`` (a dropped connection is replaced on the next
checkout) and a short connect timeout, so an unreachable server fails fast. A
``?search_path=<schema>`` URL parameter puts every table in that (existing) schema — handy in a
shared database, and how the test suite isolates each test.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from bot.storage.errors import DatabaseUnavailable, SchemaMissing, StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLite busy timeout (ms): how long a connection waits for another writer.
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: asyncpg connect timeout (s): an unreachable server fails within this.
PG_CONNECT_TIMEOUT_S = 5.0
#: How often :meth:`Database.run` retries a transient lock/serialisation failure.
MAX_RETRIES = 8

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
    sa_exc.TimeoutError,  # pool exhausted
    *_ASYNCPG_UNAVAILABLE,
)

_SQLITE_LOCKED = ("database is locked", "database table is locked", "database is busy")
_PG_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


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
    """One engine + session factory for a database URL.

    ``session`` is an :class:`~sqlalchemy.ext.asyncio.async_sessionmaker` (``async with
    db.session() as s``); repositories use :meth:`run`, which adds the transaction, retries and
    error translation.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        echo: bool = False,
    ) -> None:
        self.url: URL = normalize_url(url)
        self.dialect_name: str = self.url.get_backend_name()
        self.safe_url: str = self.url.render_as_string(hide_password=True)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file::memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
                self._sqlite_path: Path | None = None
            else:
                kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
                kwargs["pool_timeout"] = pool_timeout
                self._sqlite_path = Path(database.removeprefix("file:").split("?")[0])
        else:
            connect_args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT_S}
            search_path = self.url.query.get("search_path")
            if search_path:
                # ?search_path=schema: keep every table (and alembic_version) in that schema
                connect_args["server_settings"] = {"search_path": str(search_path)}
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
                pool_pre_ping=True,
                connect_args=connect_args,
            )
        engine_url = self.url.difference_update_query(["search_path"])
        self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        if self.is_sqlite:
            self._install_sqlite_hooks()
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        reader = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._reader: AsyncEngine = reader
        self._read_session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            reader, expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect_name == "postgresql"

    # -- SQLite connection set-up -------------------------------------------------------------

    def _install_sqlite_hooks(self) -> None:
        sync_engine = self.engine.sync_engine
        path = self._sqlite_path

        @event.listens_for(sync_engine, "do_connect")
        def _make_parent_dir(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
            # Let SQLAlchemy (the "begin" hook below) emit BEGIN, not the sqlite3 module.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                if path is not None:
                    cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA synchronous = NORMAL")
            finally:
                cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

    # -- public API -----------------------------------------------------------------------------

    async def check(self) -> None:
        """Connect and run ``SELECT 1``; raise :class:`DatabaseUnavailable` (one line) if not."""
        try:
            async with self._reader.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise self.translate(exc) from exc

    async def close(self) -> None:
        await self.engine.dispose()

    async def run(self, fn: Callable[[AsyncSession], Awaitable[T]], *, readonly: bool = False) -> T:
        """Run ``fn(session)`` in one transaction: commit on success, roll back on any error.

        Transient lock/serialisation failures are retried with jittered back-off; driver
        errors are translated (:meth:`translate`), so callers only ever see
        :class:`~bot.storage.errors.StorageError` subclasses.
        """
        factory = self._read_session if readonly else self.session
        attempt = 0
        while True:
            try:
                async with factory() as session, session.begin():
                    return await fn(session)
            except StorageError:
                raise
            except Exception as exc:
                if self._is_retryable(exc) and attempt < MAX_RETRIES:
                    attempt += 1
                    delay = min(0.5, 0.005 * 2**attempt) * (0.5 + random.random())
                    log.debug("retrying after transient error (%s): %s", attempt, exc)
                    await asyncio.sleep(delay)
                    continue
                translated = self.translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    # -- error translation ----------------------------------------------------------------------

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
        if isinstance(exc, sa_exc.DBAPIError):
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if "no such table" in low or sqlstate in ("42P01", "3F000"):
                return SchemaMissing(
                    f"database schema missing or outdated ({reason}): run `mentorbot db upgrade`"
                )
            if exc.connection_invalidated or isinstance(
                exc, sa_exc.OperationalError | sa_exc.InterfaceError
            ):
                if any(m in low for m in _SQLITE_LOCKED):
                    reason = f"{reason} (still locked by another writer after retries)"
                return DatabaseUnavailable(f"database unavailable ({self.safe_url}): {reason}")
            if isinstance(exc, sa_exc.IntegrityError):
                return StorageError(f"integrity error: {reason}")
            return exc
        if isinstance(exc, _UNAVAILABLE_TYPES):
            return DatabaseUnavailable(f"database unavailable ({self.safe_url}): {reason}")
        return exc


__all__ = ["Database", "UTCDateTime", "normalize_url", "utcnow"]
