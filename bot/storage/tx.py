"""One unit of work's transaction, as :meth:`bot.storage.db.Database.run` hands it to a
repository: a connection for Core statements, and an ORM session on that connection made only
if the unit of work asks for one.

Most units of work are the bot's hot paths — a member's visit, a checklist mark, a quiz
answer, a logged question — and run Core statements only. Building an ORM session for each of
them, beginning and committing through the ORM's transaction bookkeeping, cost about a quarter
of a SQLite transaction's CPU (a one-statement transaction: ~235 µs with it, ~180 without).
Here the transaction is the connection's (``engine.begin()``); the ORM session, when one is
made, joins it (SQLAlchemy's default ``join_transaction_mode``: it neither commits nor rolls
back the connection's transaction) and is flushed before the commit, so objects ``add``-ed are
written in the same transaction.

The connection is always a plain (sync) SQLAlchemy ``Connection`` behind awaitable calls
(:class:`SyncConnection`, :class:`SyncSession`), in one of two places:

* on the event loop's own thread, for a SQLite file's hot paths: its statements cannot wait
  (see :mod:`bot.storage.db`), and skipping SQLAlchemy's greenlet bridge and the async driver
  adapter made a two-statement transaction ~3x cheaper in CPU (~290 → ~100 µs; ~70 with the
  connections :mod:`bot.storage.db` keeps between transactions);
* inside one SQLAlchemy greenlet for the whole unit of work, for the async engines (PostgreSQL
  through asyncpg; SQLite in worker threads through aiosqlite): each statement awaits its
  driver through the bridge, but the connection, transaction and results are the sync ones and
  no greenlet is made per call (``AsyncConnection`` makes one for every call: a two-statement
  transaction on PostgreSQL cost ~720 µs of CPU that way, ~530 µs this way).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from sqlalchemy import Connection, Result, ScalarResult
from sqlalchemy.orm import Session

from bot.storage.direct import DirectResult, usable
from bot.storage.direct import execute as direct_execute


class SyncConnection:
    """A sync connection with the awaitable Core calls of an ``AsyncConnection``. On
    PostgreSQL a statement marked :func:`~bot.storage.direct.hot` runs straight through
    asyncpg (see :mod:`bot.storage.direct`)."""

    __slots__ = ("direct", "sync")

    def __init__(self, sync: Connection) -> None:
        self.sync = sync
        self.direct = usable(sync)

    def _direct(self, statement: Any, parameters: Any, kw: dict[str, Any]) -> DirectResult | None:
        """``statement`` run straight through asyncpg, or None: SQLAlchemy runs it."""
        return None if kw or not self.direct else direct_execute(self.sync, statement, parameters)

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Result[Any]:
        result = self._direct(statement, parameters, kw)
        if result is not None:
            return cast(Result[Any], result)
        return self.sync.execute(statement, parameters, **kw)

    async def scalar(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        result = self._direct(statement, parameters, kw)
        if result is not None:
            return result.scalar()
        return self.sync.scalar(statement, parameters, **kw)

    async def scalars(self, statement: Any, parameters: Any = None,
                      **kw: Any) -> ScalarResult[Any]:
        result = self._direct(statement, parameters, kw)
        if result is not None:
            return cast(ScalarResult[Any], result.scalars())
        return self.sync.scalars(statement, parameters, **kw)


class SyncSession:
    """A sync ORM session with the awaitable calls of an ``AsyncSession`` that :class:`Tx`
    offers."""

    __slots__ = ("sync",)

    def __init__(self, sync: Session) -> None:
        self.sync = sync

    async def execute(self, *args: Any, **kwargs: Any) -> Result[Any]:
        return self.sync.execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync.scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> ScalarResult[Any]:
        return self.sync.scalars(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync.get(*args, **kwargs)

    async def flush(self) -> None:
        self.sync.flush()

    def add(self, instance: object) -> None:
        self.sync.add(instance)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self.sync.begin_nested():
            yield

    async def close(self) -> None:
        self.sync.close()


#: what :meth:`Tx.connection` returns (the name repositories use)
CoreConnection = SyncConnection


class Tx:
    """The transaction of one unit of work (what repositories call ``s``)."""

    __slots__ = ("_session", "conn", "info")

    def __init__(self, conn: Connection) -> None:
        self.conn = SyncConnection(conn)
        #: per-transaction scratch space for repositories (as ``Session.info``)
        self.info: dict[str, Any] = {}
        self._session: SyncSession | None = None

    async def connection(self) -> CoreConnection:
        """The transaction's connection: Core statements run here without the ORM."""
        return self.conn

    @property
    def orm(self) -> SyncSession:
        """An ORM session in this transaction, made on first use."""
        if self._session is None:
            self._session = SyncSession(Session(bind=self.conn.sync, expire_on_commit=False))
        return self._session

    # the ORM calls the repositories make, on that session ----------------------------------------

    async def execute(self, *args: Any, **kwargs: Any) -> Result[Any]:
        return await self.orm.execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self.orm.scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> ScalarResult[Any]:
        return await self.orm.scalars(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self.orm.get(*args, **kwargs)

    async def flush(self) -> None:
        await self.orm.flush()

    def add(self, instance: object) -> None:
        self.orm.add(instance)

    def begin_nested(self) -> Any:
        """A savepoint (``async with s.begin_nested():``)."""
        return self.orm.begin_nested()

    async def finish(self) -> None:
        """Before the commit: write what the ORM session holds."""
        if self._session is not None:
            await self._session.flush()

    async def close(self) -> None:
        """After the commit or rollback: let the ORM session go (its objects stay usable)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


__all__ = ["CoreConnection", "SyncConnection", "SyncSession", "Tx"]
