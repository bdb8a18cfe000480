"""PostgreSQL: the hot paths' statements straight through asyncpg.

SQLAlchemy's execution of one Core statement (cache key, execution context, cursor adapter,
result metadata) cost about as much CPU as asyncpg's own round trip: ~260 µs against ~120 for
a one-row select by primary key on the 2-core machine of the README's figures. The bot runs a
few statements per interaction, so on PostgreSQL that machinery was a large part of its CPU.

A statement marked with :func:`hot` (built once, at import, with ``bindparam``s) is compiled
once for the dialect. On PostgreSQL through asyncpg it then runs on the unit of work's
connection without SQLAlchemy's execution: the same SQL text, the same bind and result type
processing, the same prepared-statement cache and transaction start as SQLAlchemy's asyncpg
adapter, and errors wrapped and connections invalidated by SQLAlchemy's own handler. Its
result (:class:`DirectResult`) offers the calls the repositories make on a ``Result``; rows
are named tuples.

Everything else goes through SQLAlchemy as before: other dialects, statements not marked,
statements SQLAlchemy would add to at execution (Python-side column defaults, expanding
``IN`` lists, callable bind values), and any connection with event listeners (tests that
count statements, instrumentation), which then see every statement.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util import await_only

S = TypeVar("S", bound=ClauseElement)

#: id(statement) → the statement (kept alive, so its id stays its own)
_HOT: dict[int, ClauseElement] = {}
#: (id(statement), column keys of a bare insert/update) → how it runs, or None: not directly
_COMPILED: dict[tuple[int, tuple[str, ...]], _Compiled | None] = {}
_MISSING = object()
_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


def hot(statement: S) -> S:
    """Mark ``statement`` (built once, at import) to run straight through asyncpg on
    PostgreSQL; returns it unchanged."""
    _HOT[id(statement)] = statement
    return statement


#: the connection events that see each statement (the autocommit engine's own listener, on
#: ``engine_connect``, sets the isolation level and sees none)
_STATEMENT_EVENTS = ("before_execute", "after_execute", "before_cursor_execute",
                     "after_cursor_execute")


def usable(conn: Connection) -> bool:
    """Whether statements on ``conn`` may skip SQLAlchemy's execution: PostgreSQL through
    asyncpg, with no event listener that expects to see each statement."""
    dialect: Any = conn.dialect
    if dialect.driver != "asyncpg" or dialect._has_events:
        return False
    if not (conn._has_events or conn.engine._has_events):
        return True
    return not any(getattr(conn.dispatch, name) for name in _STATEMENT_EVENTS)


class _Compiled:
    """A hot statement compiled for one dialect: its SQL, how to build its positional
    arguments from a parameter dictionary, and how to make its rows."""

    __slots__ = ("args", "result_processors", "row", "sql")

    def __init__(self, sql: str, args: list[tuple[str, Any, Callable[[Any], Any] | None]],
                 row: Any, result_processors: list[Callable[[Any], Any] | None]) -> None:
        self.sql = sql
        self.args = args
        self.row = row
        #: per result column, or None when no column has one (decided here, not per row)
        self.result_processors = result_processors if any(result_processors) else None

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect,
           column_keys: tuple[str, ...]) -> _Compiled | None:
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.postfetch_lastrowid:
            return None  # SQLAlchemy computes Python-side defaults at execution
        sql = str(compiled)
        if "POSTCOMPILE" in sql:
            return None  # an expanding IN list: rendered per execution
        processors = compiled._bind_processors
        args = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.callable is not None:
                return None
            default = _MISSING if bind.required else bind.value
            args.append((bind.key, default, processors.get(name)))
        columns = compiled._result_columns
        # no result columns known (no rows, or a textual query): asyncpg's records as they are
        row: Any = namedtuple(
            "Row", [c[0] for c in columns], rename=True) if columns else None
        result_processors = [c[3]._cached_result_processor(dialect, None) for c in columns]
        return cls(sql, args, row, result_processors)

    def arguments(self, params: Mapping[str, Any]) -> list[Any] | None:
        out = []
        for key, default, process in self.args:
            value = params.get(key, default)
            if value is _MISSING:
                return None  # SQLAlchemy says which one is missing
            out.append(process(value) if process is not None else value)
        return out

    def run(self, conn: Connection, args: list[Any]) -> DirectResult:
        adapted: Any = conn.connection.dbapi_connection  # SQLAlchemy's asyncpg adapter
        dialect: Any = conn.dialect
        try:
            records, status = await_only(_fetch(adapted, self.sql, args,
                                                dialect._invalidate_schema_cache_asof))
        except BaseException as exc:  # as Connection._exec_single_context does
            conn._handle_dbapi_exception(exc, self.sql, tuple(args), None, None)
            raise  # (it always raises)
        match = _STATUS.match(status or "")
        rowcount = int(match.group(1)) if match else -1
        if self.row is None:
            return DirectResult(records, rowcount)
        make, procs = self.row._make, self.result_processors
        if procs is not None:
            rows = [make(v if p is None else p(v) for p, v in zip(procs, r, strict=True))
                    for r in records]
        else:
            rows = [make(r) for r in records]
        return DirectResult(rows, rowcount)


async def _fetch(adapted: Any, sql: str, args: list[Any],
                 invalidate_asof: float) -> tuple[list[Any], str | None]:
    """What SQLAlchemy's asyncpg cursor does for one statement: start the transaction if the
    connection is in one and it has not begun, prepare (cached per connection), fetch."""
    async with adapted._execute_mutex:
        if not adapted._started:
            await adapted._start_transaction()
        try:
            prepared, _ = await adapted._prepare(sql, invalidate_asof)
            records = await prepared.fetch(*args)
            return records, prepared.get_statusmsg()
        except Exception as error:
            adapted._handle_exception(error)  # raises the adapter's DBAPI error
            raise


def execute(conn: Connection, statement: Any,
            params: Mapping[str, Any] | None) -> DirectResult | None:
    """Run ``statement`` with ``params`` straight through asyncpg on ``conn``, or return None
    without running it (SQLAlchemy runs it)."""
    if id(statement) not in _HOT or not isinstance(params, Mapping | None):
        return None  # not marked, or many parameter sets (SQLAlchemy's executemany)
    params = params or {}
    bare = isinstance(statement, UpdateBase) and not getattr(statement, "_values", True)
    key = (id(statement), tuple(sorted(params)) if bare else ())
    try:
        compiled = _COMPILED[key]
    except KeyError:
        compiled = _COMPILED[key] = _Compiled.of(statement, conn.dialect, key[1])
    if compiled is None:
        return None
    args = compiled.arguments(params)
    return None if args is None else compiled.run(conn, args)


class DirectResult:
    """The rows of a statement run directly, with the calls the repositories make on a
    SQLAlchemy ``Result`` (rows are named tuples)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("Multiple rows were found when one or none "
                                              "was required")
        return self.first()

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise sa_exc.NoResultFound("No row was found when one was required")
        return row

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> DirectScalars:
        return DirectScalars([r[0] for r in self._rows])


class DirectScalars(list[Any]):
    """The first column of a :class:`DirectResult`'s rows (``Result.scalars()``)."""

    def all(self) -> list[Any]:
        return self

    def first(self) -> Any:
        return self[0] if self else None


__all__ = ["DirectResult", "DirectScalars", "execute", "hot", "usable"]
