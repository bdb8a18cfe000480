"""PostgreSQL runs the hot statements straight through asyncpg (bot.storage.direct): same rows,
same errors, same transactions as through SQLAlchemy; every other case goes through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from bot.storage import StorageError, Store
from bot.storage.direct import DirectResult
from bot.storage.repo._base import _ENSURE_MEMBER, _LOAD_MEMBER, core
from bot.storage.repo.checklist import _DONE_IDS, _STATES
from bot.storage.repo.members import _PHASE_AND_DONE
from bot.storage.repo.questions import _LOG
from bot.storage.repo.quiz import _OPEN, _OWNED
from bot.storage.tx import Tx

from .test_db import _own_backend, _terminate

ALICE = 101


def _sqlalchemy_only(store: Store) -> list[str]:
    """A listener on every engine (as tests that count statements have): statements then go
    through SQLAlchemy, which reports each; returns what it saw."""
    seen: list[str] = []
    for engine in store.db.sync_engines:
        event.listen(engine, "before_cursor_execute",
                     lambda conn, cursor, sql, *rest: seen.append(sql))
    return seen


async def _execute(store: Store, statement: Any, params: dict[str, Any]) -> Any:
    async def read(s: Tx) -> Any:
        return await (await core(s)).execute(statement, params)

    return await store.db.run(read, readonly=True)


async def test_hot_statements_run_directly_only_on_postgres(store: Store) -> None:
    await store.members.touch(ALICE)
    result = await _execute(store, _LOAD_MEMBER, {"id": ALICE})
    assert isinstance(result, DirectResult) is store.db.is_postgres
    seen = _sqlalchemy_only(store)
    result = await _execute(store, _LOAD_MEMBER, {"id": ALICE})
    assert not isinstance(result, DirectResult)
    assert len(seen) == 1 and "FROM member" in seen[0]


@pytest.mark.backends("postgres")
async def test_direct_rows_are_the_rows_sqlalchemy_makes_postgres(store: Store) -> None:
    await store.members.touch(ALICE, guild_id=5)
    await store.checklist.mark(ALICE, "p1-git", "https://github.com/alice/dotfiles")
    await store.checklist.mark(ALICE, "p1-python")
    await store.checklist.unmark(ALICE, "p1-python")
    attempt = await store.quiz.start(ALICE)
    await store.quiz.answer(attempt.id, ALICE, 0, True)
    await store.quiz.answer(attempt.id, ALICE, 1, False)
    reads = [(_LOAD_MEMBER, {"id": ALICE}), (_STATES, {"id": ALICE}),
             (_PHASE_AND_DONE, {"id": ALICE}), (_OPEN, {"member_id": ALICE}),
             (_OWNED, {"attempt_id": attempt.id}), (_DONE_IDS, {"id": ALICE})]
    direct = [(await _execute(store, st, params)).all() for st, params in reads]
    _sqlalchemy_only(store)
    through_sqlalchemy = [(await _execute(store, st, params)).all() for st, params in reads]
    assert all(direct) and [len(rows) for rows in direct] == [1, 2, 1, 1, 2, 1]
    for mine, theirs in zip(direct, through_sqlalchemy, strict=True):
        assert [tuple(r) for r in mine] == [tuple(r) for r in theirs]
        assert [[type(v) for v in r] for r in mine] == [[type(v) for v in r] for r in theirs]
        assert all(r._fields == t._fields for r, t in zip(mine, theirs, strict=True))
    member = direct[0][0]
    assert member.id == ALICE and member.guild_id == 5
    assert member.last_seen_at.tzinfo is not None and member.last_seen_at.utcoffset().seconds == 0


@pytest.mark.backends("postgres")
async def test_a_direct_write_is_inside_the_transaction_postgres(store: Store) -> None:
    """The unit of work's first statement is a direct write: the transaction has begun before
    it, so an error later in the unit of work rolls it back."""

    async def write_then_fail(s: Tx) -> None:
        await (await core(s)).execute(_ENSURE_MEMBER, {
            "id": 77, "now": datetime.now(UTC), "sharing": False})
        raise RuntimeError("after the write")

    with pytest.raises(RuntimeError):
        await store.db.run(write_then_fail)
    assert await store.members.get(77) is None


@pytest.mark.backends("postgres")
async def test_direct_errors_are_sqlalchemys_errors_postgres(store: Store) -> None:
    now = datetime.now(UTC)
    row = {"member_id": 404, "text": "q", "normalized": "q", "outcome": "answered",
           "intent_id": None, "score": 1.0, "guild_id": None, "created_at": now}

    async def log_for_nobody(s: Tx) -> int:
        return int((await (await core(s)).execute(_LOG, row)).scalar_one())

    with pytest.raises(StorageError, match="integrity error"):  # the member's foreign key
        await store.db.run(log_for_nobody)
    with pytest.raises(sa_exc.StatementError, match="value is required"):  # said by SQLAlchemy
        await _execute(store, _LOAD_MEMBER, {})

    attempts: list[int] = []

    async def dropped_then_write(s: Tx) -> None:
        attempts.append(await _own_backend(s))
        if len(attempts) == 1:
            await _terminate(store, attempts[0])
        await (await core(s)).execute(_ENSURE_MEMBER, {"id": 78, "now": now, "sharing": False})

    await store.db.run(dropped_then_write)  # nothing was committed: run again, stored once
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert await store.members.get(78) is not None
