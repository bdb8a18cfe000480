from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.storage import InvalidInput, Store
from tests.storage import observe

if TYPE_CHECKING:
    from tests.conftest import FakeClock

ALICE = 111_111_111_111_111_111
BOB = 222_222_222_222_222_222
G1 = 900_000_000_000_000_001
G2 = 900_000_000_000_000_002


async def test_touch_creates_then_updates_last_seen(store: Store, clock: FakeClock) -> None:
    first = await store.members.touch(ALICE)
    assert first.user_id == ALICE
    assert first.created_at == first.last_seen_at
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset().total_seconds() == 0
    assert first.current_phase is None and first.phase_source is None
    assert first.sharing is False
    assert first.guild_ids == ()

    clock.advance(hours=5)
    again = await store.members.touch(ALICE, guild_id=G2)
    assert again.created_at == first.created_at
    assert again.last_seen_at > first.last_seen_at
    assert again.guild_ids == (G2,)

    await store.members.touch(ALICE, guild_id=G1)
    await store.members.touch(ALICE, guild_id=G1)  # idempotent per guild
    got = await store.members.get(ALICE)
    assert got is not None
    assert got.guild_ids == (G1, G2)
    assert await store.members.get(BOB) is None


async def test_member_with_checklist_is_one_read(store: Store) -> None:
    assert await store.members.get_with_checklist(ALICE) == (None, {})
    await store.members.set_phase(ALICE, 2)
    await store.checklist.mark(ALICE, "p1-git", evidence_url="https://example.com/pr/1")
    await store.checklist.mark(ALICE, "p2-ci")
    await store.checklist.unmark(ALICE, "p2-ci")
    rec, states = await store.members.get_with_checklist(ALICE)
    assert rec == await store.members.get(ALICE) and rec is not None and rec.current_phase == 2
    assert states == await store.checklist.states(ALICE)
    assert states["p1-git"].done and states["p1-git"].evidence_url == "https://example.com/pr/1"
    assert not states["p2-ci"].done


async def test_phase_and_done_items_are_one_statement(store: Store) -> None:
    """What an answer's personal line needs (issue 11: one read, not two): the phase and the
    done items only, for a member not stored, one with nothing done, and one with both."""
    statements = observe.statements(store)
    assert await store.members.phase_and_done(ALICE) == (None, frozenset())
    assert len(statements) == 1
    await store.members.set_phase(ALICE, 2)
    assert await store.members.phase_and_done(ALICE) == (2, frozenset())
    await store.checklist.mark(ALICE, "p1-git")
    await store.checklist.mark(ALICE, "p2-ci")
    await store.checklist.mark(ALICE, "p2-tests")
    await store.checklist.unmark(ALICE, "p2-ci")
    await store.checklist.mark(BOB, "p2-ci")
    statements.clear()
    assert await store.members.phase_and_done(ALICE) == (2, frozenset({"p1-git", "p2-tests"}))
    assert len(statements) == 1
    assert await store.members.phase_and_done(BOB) == (None, frozenset({"p2-ci"}))


async def test_a_write_takes_the_members_lock_and_creates_the_row_in_one_statement(
    store: Store,
) -> None:
    """PostgreSQL: the member's lock and their row if missing are one statement at the start of
    a write (one round trip fewer on every write that creates); the row comes after the lock.
    SQLite has no lock to take: the row is ensured on its own."""
    sent = observe.statements(store)
    rec = await store.members.set_phase(ALICE, 2)
    assert rec.current_phase == 2
    firsts = [sql.split()[0].upper() for sql in sent]
    if store.db.is_postgres:
        assert sent[0].startswith("WITH lk AS (SELECT pg_advisory_xact_lock(")
        assert "INSERT INTO member" in sent[0]
        assert "INSERT" not in firsts and sum("pg_advisory" in sql for sql in sent) == 1
    else:
        assert firsts[0] == "INSERT" and "INSERT INTO member" in sent[0]
    assert await store.members.get(ALICE) == rec


async def test_set_phase_and_sharing(store: Store) -> None:
    rec = await store.members.set_phase(ALICE, 3)  # creates the member on the fly
    assert (rec.current_phase, rec.phase_source) == (3, "chosen")
    rec = await store.members.set_phase(ALICE, 2, source="quiz")
    assert (rec.current_phase, rec.phase_source) == (2, "quiz")
    rec = await store.members.set_phase(ALICE, None)
    assert (rec.current_phase, rec.phase_source) == (None, None)

    assert (await store.members.set_sharing(ALICE, True)).sharing is True
    assert (await store.members.get(ALICE)).sharing is True  # type: ignore[union-attr]
    assert (await store.members.set_sharing(ALICE, False)).sharing is False


async def test_invalid_phases_sources_and_ids_write_nothing(store: Store) -> None:
    for phase in (0, 2**15, -1, True, "2"):  # which phases exist is the engine's check
        with pytest.raises(InvalidInput):
            await store.members.set_phase(ALICE, phase)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="source"):
        await store.members.set_phase(ALICE, 1, source="guess")
    assert await store.members.get(ALICE) is None  # nothing written
    for user_id in (0, -5, 2**63, True, "123", 1.5):
        with pytest.raises(InvalidInput, match="user id"):
            await store.members.touch(user_id)  # type: ignore[arg-type]


async def test_max_snowflake_fits(store: Store) -> None:
    big = 2**63 - 1
    rec = await store.members.touch(big, guild_id=big)
    assert rec.user_id == big and rec.guild_ids == (big,)


async def test_touch_keeps_last_seen_to_its_precision(store: Store, clock: FakeClock) -> None:
    from bot.storage.repo.members import TOUCH_PRECISION

    first = await store.members.touch(ALICE, guild_id=G1)
    clock.advance(seconds=TOUCH_PRECISION.total_seconds() - 1)
    again = await store.members.touch(ALICE, guild_id=G1)
    assert again.last_seen_at == first.last_seen_at  # read only: an active member costs no write
    moved = await store.members.touch(ALICE, guild_id=G2)  # a new server is always written
    assert moved.guild_ids == (G1, G2) and moved.last_seen_at > first.last_seen_at
    clock.advance(seconds=TOUCH_PRECISION.total_seconds())
    later = await store.members.touch(ALICE)
    assert later.last_seen_at - moved.last_seen_at >= TOUCH_PRECISION  # written again
