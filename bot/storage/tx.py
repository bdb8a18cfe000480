"""One unit of work's transaction, as :meth:`bot.storage.db.Database.run` hands it to a
repository: a connection for Core statements, and an ORM session on that connection made only
if the unit of work asks for one.

Most units of work are the bot's hot paths — a member's visit, a checklist mark, a quiz
answer, a logged question — and run Core statements only. Building an ``AsyncSession`` for each
of them, beginning and committing through the ORM's transaction bookkeeping, cost about a quarter
of a SQLite transaction's CPU (a one-statement transaction: ~235 µs with it, ~180 without).
Here the transaction is the connection's (``engine.begin()``); the ORM session, when one is
made, joins it (SQLAlchemy's default ``join_transaction_mode``: it neither commits nor rolls
back the connection's transaction) and is flushed before the commit, so objects ``add``-ed are
written in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result, ScalarResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


class Tx:
    """The transaction of one unit of work (what repositories call ``s``)."""

    __slots__ = ("_session", "conn", "info")

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        #: per-transaction scratch space for repositories (as ``Session.info``)
        self.info: dict[str, Any] = {}
        self._session: AsyncSession | None = None

    async def connection(self) -> AsyncConnection:
        """The transaction's connection: Core statements run here without the ORM."""
        return self.conn

    @property
    def orm(self) -> AsyncSession:
        """An ORM session in this transaction, made on first use."""
        if self._session is None:
            self._session = AsyncSession(bind=self.conn, expire_on_commit=False)
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


__all__ = ["Tx"]
