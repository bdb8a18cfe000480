"""Shared plumbing for the repositories: clock, dialect upserts, validation, member rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Boolean, TextClause, bindparam, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.db import Database, UTCDateTime, utcnow
from bot.storage.direct import hot
from bot.storage.errors import InvalidInput, StorageError
from bot.storage.models import GuildMembership, Member
from bot.storage.records import MemberRecord
from bot.storage.tx import CoreConnection, Tx

Clock = Callable[[], datetime]
T = TypeVar("T")


class MemberMissing(StorageError):
    """Internal: a write hit the member foreign key; create the member and retry."""


def is_fk_violation(exc: sa_exc.IntegrityError) -> bool:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint" in str(orig)


@contextmanager
def member_must_exist(user_id: int) -> Iterator[None]:
    """Around a write of :meth:`Repo.run_for_member`'s ``fn`` that needs the member row: a
    foreign-key violation becomes :class:`MemberMissing` (the member is created, ``fn`` runs
    again)."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        if is_fk_violation(exc):
            raise MemberMissing(f"member {user_id} not found") from None
        raise


_MAX_BIGINT = 2**63 - 1

def shared_sql(statement: str, **types: Any) -> TextClause:
    """SQL as a text clause with typed parameters: mostly what SQLite and PostgreSQL spell alike
    (their ``ON CONFLICT`` upserts), and PostgreSQL's one-statement writes. On hot paths these
    beat the dialect constructs: SQLAlchemy compiles an ``on_conflict_do_*()`` anew on every
    execution (it has no cache key), a text clause once."""
    return hot(text(statement).bindparams(*(bindparam(k, type_=t) for k, t in types.items())))


#: how many member ids :meth:`Repo.run_for_member` remembers as stored (~100 bytes each)
STORED_MEMBERS_HINT = 20_000


async def core(s: Tx) -> CoreConnection:
    """The transaction's connection, for Core statements on hot paths.

    Run there instead of through ``s.execute`` (the ORM session, made on first use), a
    statement skips the ORM's execution and result machinery: a short read costs about half the
    CPU. Nothing is flushed first, so use it where no ORM object is pending (the hot paths add
    none), and build its statement once, at import, with ``bindparam``s: constructing a
    ``select()`` costs more than running it.
    """
    return await s.connection()


def row_source(row: str, after: str | None = None) -> str:
    """Where an ``INSERT`` takes its one row (``row``: its values, comma-separated): ``VALUES``,
    or with ``after``, the name of a CTE, ``SELECT`` from it, so PostgreSQL writes the row once
    that CTE's row exists (a lock it takes comes first: :data:`LOCKED_MEMBER`)."""
    return f"VALUES ({row})" if after is None else f"SELECT {row} FROM {after}"


def new_member_sql(after: str | None = None) -> str:
    """A member row as first written, up to what to do when it exists (``after``:
    :func:`row_source`)."""
    return (f"INSERT INTO {Member.__tablename__} (id, created_at, last_seen_at, sharing) "
            f"{row_source(':id, :now, :now, :sharing', after)} ON CONFLICT (id) DO ")


#: a member row as first written, up to what to do when it exists (``touch`` updates the visit)
NEW_MEMBER = new_member_sql()
MEMBER_TYPES: dict[str, Any] = {"id": BigInteger(), "now": UTCDateTime(), "sharing": Boolean()}
_ENSURE_MEMBER = shared_sql(NEW_MEMBER + "NOTHING", **MEMBER_TYPES)
#: PostgreSQL: the member's transaction-scoped lock (see :meth:`Repo.lock_member`)
_ADVISORY_LOCK = hot(select(func.pg_advisory_xact_lock(bindparam("id", type_=BigInteger))))
#: PostgreSQL: the start of a one-statement write for member ``:id``: the member's lock (CTE
#: ``lk``), then their row if missing. Rows the statement selects ``FROM lk`` are written after
#: the lock is taken (the one lock order, :meth:`Repo.lock_member`).
LOCKED_MEMBER = ("WITH lk AS (SELECT pg_advisory_xact_lock(:id)), "
                 f"ensured AS ({new_member_sql(after='lk')}NOTHING)")
#: PostgreSQL: the lock, then the member's row if missing, in one statement (one round trip)
_LOCK_AND_ENSURE = shared_sql(LOCKED_MEMBER + " SELECT 1 FROM lk", **MEMBER_TYPES)


_LOAD_MEMBER = hot(
    select(Member.id, Member.created_at, Member.last_seen_at, Member.current_phase,
           Member.phase_source, Member.sharing, GuildMembership.guild_id)
    .outerjoin(GuildMembership, GuildMembership.member_id == Member.id)
    .where(Member.id == bindparam("id"))
    .order_by(GuildMembership.guild_id)
)


async def load_member(session: Tx, user_id: int) -> MemberRecord | None:
    """The member and the servers they were seen in: one Core statement, built once and run on
    the transaction's connection (no ORM: this runs on most interactions)."""
    rows = (await (await core(session)).execute(_LOAD_MEMBER, {"id": user_id})).all()
    if not rows:
        return None
    first = rows[0]
    return MemberRecord(
        user_id=first.id,
        created_at=first.created_at,
        last_seen_at=first.last_seen_at,
        current_phase=first.current_phase,
        phase_source=first.phase_source,
        sharing=first.sharing,
        guild_ids=tuple(r.guild_id for r in rows if r.guild_id is not None),
    )


class Repo:
    """Base class: every repository shares the :class:`Database` and a clock (UTC now)."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def insert(self, table: Any) -> Any:
        """A dialect ``INSERT`` supporting ``on_conflict_do_update/do_nothing`` and ``excluded``."""
        if self._db.is_postgres:
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def ensure_member(self, session: Tx, user_id: int, now: datetime) -> None:
        """Create the member row if missing (progress may arrive before any ``touch``)."""
        await (await core(session)).execute(
            _ENSURE_MEMBER, {"id": user_id, "now": now, "sharing": False})

    async def lock_member(
        self, s: Tx, user_id: int, now: datetime | None = None, *, create: bool = True
    ) -> None:
        """Take the member's lock first: the one lock order of every write to a member.

        PostgreSQL: a transaction-scoped advisory lock on the user id
        (``pg_advisory_xact_lock``), taken before any row is touched by every write to that
        member and by :meth:`PrivacyRepo.delete`, so a deletion and the member's writes queue
        instead of deadlocking (row locks alone were taken in opposite orders: children first
        by a deletion, the member's row last). With ``create`` the member row is then ensured —
        no deletion can remove it until this transaction ends. SQLite serialises every write
        (one write lock), so there only ``create`` does anything.
        """
        if self._db.is_postgres:
            locked: set[int] = s.info.setdefault("locked_members", set())
            if user_id not in locked:  # held to the end of the transaction: once is enough
                if create:  # the lock, then the row, in one statement: nothing left to create
                    await (await core(s)).execute(_LOCK_AND_ENSURE, {
                        "id": user_id, "now": now or self.now(), "sharing": False})
                    create = False
                else:
                    await (await core(s)).execute(_ADVISORY_LOCK, {"id": user_id})
                locked.add(user_id)
        if create:
            await self.ensure_member(s, user_id, now or self.now())

    async def lock_members(self, s: Tx, user_ids: Iterable[int]) -> None:
        """:meth:`lock_member` (without ``create``) for a batch, in id order (no deadlock)."""
        if self._db.is_postgres:
            for user_id in sorted(set(user_ids)):
                await self.lock_member(s, user_id, create=False)

    async def run_for_member(
        self, user_id: int, fn: Callable[[Tx], Awaitable[T]],
        single: Callable[[Tx], Awaitable[T]] | None = None,
    ) -> T:
        """Run ``fn``, a write that needs the member's row.

        For a member this process has seen stored (:attr:`Database.stored_members`, a bounded
        hint) ``fn`` runs optimistically: one statement saved on the hot path. For any other
        member the row is ensured first in the same transaction, after the member's lock (the
        one lock order) — a member's first question is one transaction, not a failed one, a
        creation and a retry. If the hint was stale (the member was deleted, here or by
        another process), ``fn`` raises :class:`MemberMissing`: the member is created and
        ``fn`` runs again.

        ``single``, on PostgreSQL, is ``fn`` as one statement that takes the member's lock and
        ensures the member's row itself: it runs instead, without a transaction block
        (``Database.run``'s ``one_statement``).
        """
        seen = self._db.stored_members
        if single is not None and self._db.is_postgres:
            result = await self._db.run(single, one_statement=True)
            self._remember_stored(user_id)
            return result

        async def ensured(s: Tx) -> T:
            await self.lock_member(s, user_id)
            return await fn(s)

        for _ in range(3):  # a deletion may remove the member between create and retry
            try:
                result = await self._db.run(fn if user_id in seen else ensured)
            except MemberMissing:
                seen.pop(user_id, None)
                continue
            self._remember_stored(user_id)
            return result
        return await self._db.run(ensured)

    def _remember_stored(self, user_id: int) -> None:
        seen = self._db.stored_members
        seen[user_id] = None
        seen.move_to_end(user_id)
        while len(seen) > STORED_MEMBERS_HINT:
            seen.popitem(last=False)


def check_id(value: object, what: str = "user id") -> int:
    """Discord snowflakes: positive ints that fit a BIGINT."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_BIGINT:
        raise InvalidInput(f"{what} must be a positive 64-bit integer, got {value!r}")
    return value


def check_optional_id(value: object, what: str = "guild id") -> int | None:
    return None if value is None else check_id(value, what)


_MAX_SMALLINT = 2**15 - 1


def check_phase(phase: object) -> int:
    """A phase number as storage sees it: a positive SMALLINT. Which phases exist is the
    knowledge base's to say, and the engine checks that before it calls storage."""
    return _check_small(phase, "phase", 1)


def check_index(index: object) -> int:
    """A quiz question's index: 0 or more (the engine knows how many questions there are)."""
    return _check_small(index, "question index", 0)


def _check_small(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _MAX_SMALLINT:
        raise InvalidInput(f"{what} must be a whole number from {low}, got {value!r}")
    return value


def check_text_id(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInput(f"{what} must be a non-empty string of at most {max_len} characters")
    return value


def check_aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value
