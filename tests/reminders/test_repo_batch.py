"""The batch additions to RemindersRepo: claim_many, snapshots, advance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import InvalidInput, Store
from tests.conftest import FakeClock

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
KEY = "2025-03-10T08:00Z"


async def _members(store: Store, *ids: int) -> None:
    for uid in ids:
        await store.reminders.set(uid, enabled=True, weekday=0, hour=9, timezone="UTC",
                                  next_due_utc=T0)


async def test_claim_many_has_the_same_rules_as_claim(store: Store) -> None:
    await _members(store, 1, 2, 3, 4)
    claims = await store.reminders.claim_many([(1, KEY), (2, KEY), (3, KEY), (99, KEY)], T0, 60)
    assert [c.user_id for c in claims] == [1, 2, 3]  # 99 does not exist
    assert all(c.attempts == 1 and c.lease_until == T0 + timedelta(seconds=60) for c in claims)
    # held: nobody gets them again, by batch or one by one
    assert await store.reminders.claim_many([(1, KEY), (2, KEY)], T0 + timedelta(seconds=59),
                                            60) == []
    assert await store.reminders.claim(1, KEY, T0 + timedelta(seconds=59), 60) is None
    # 1 sent, 2 failed for good, 3 left to expire; 4 is new
    await store.reminders.mark_sent(claims[0].delivery_id, T0, T0 + timedelta(days=7))
    await store.reminders.mark_failed(claims[1].delivery_id, "gone")
    later = T0 + timedelta(seconds=61)
    again = await store.reminders.claim_many([(1, KEY), (2, KEY), (3, KEY), (4, KEY)], later, 60)
    assert [(c.user_id, c.attempts) for c in again] == [(3, 2), (4, 1)]
    # a retry_at makes a failed delivery claimable from then on
    await store.reminders.mark_failed(again[0].delivery_id, "500", later + timedelta(seconds=30))
    assert await store.reminders.claim_many([(3, KEY)], later + timedelta(seconds=29), 60) == []
    [retry] = await store.reminders.claim_many([(3, KEY)], later + timedelta(seconds=31), 60)
    assert retry.attempts == 3
    # another period is another row
    [nxt] = await store.reminders.claim_many([(1, "2025-03-17T08:00Z")], later, 60)
    assert nxt.delivery_id != claims[0].delivery_id


async def test_claim_many_validates(store: Store) -> None:
    await _members(store, 1)
    assert await store.reminders.claim_many([], T0, 60) == []
    with pytest.raises(InvalidInput):
        await store.reminders.claim_many([(1, KEY), (1, "other")], T0, 60)
    with pytest.raises(InvalidInput):
        await store.reminders.claim_many([(1, "")], T0, 60)
    with pytest.raises(InvalidInput):
        await store.reminders.claim_many([(1, KEY)], T0, 0)


async def test_concurrent_claim_many_on_two_stores_split_the_rows(
    store: Store, db_url: str
) -> None:
    ids = list(range(100, 300))
    await _members(store, *ids)
    other = Store.open(db_url)
    try:
        batches = [[(u, KEY) for u in ids[i:i + 50]] for i in range(0, len(ids), 50)]
        results = await asyncio.gather(
            *(s.reminders.claim_many(b, T0, 60) for b in batches for s in (store, other))
        )
    finally:
        await other.close()
    won = [c.user_id for r in results for c in r]
    assert sorted(won) == ids  # each member claimed exactly once


async def test_snapshots_and_advance(store: Store, clock: FakeClock) -> None:
    clock.current = T0
    await _members(store, 1, 2)
    await store.members.set_phase(1, 3, source="chosen")
    await store.checklist.mark(1, "p3.tool-evaluation")
    await store.checklist.mark(1, "p3.platform-monitoring")
    await store.checklist.unmark(1, "p3.platform-monitoring")
    snaps = await store.reminders.snapshots([1, 2, 404])
    assert set(snaps) == {1, 2}
    one = snaps[1]
    assert one.current_phase == 3 and set(one.done) == {"p3.tool-evaluation"}
    assert one.last_event_at is not None and one.last_event_at > T0
    assert one.pref is not None and one.pref.next_due_utc == T0
    assert one.done_since(T0) == ["p3.tool-evaluation"]
    assert one.done_since(T0 + timedelta(days=1)) == []
    assert snaps[2].done == {} and snaps[2].last_event_at is None
    assert await store.checklist.done_since(1, T0) == one.done_since(T0)

    nxt = T0 + timedelta(days=7)
    assert await store.reminders.advance(1, T0, nxt) is True
    assert await store.reminders.advance(1, T0, nxt + timedelta(days=7)) is False  # moved on
    assert (await store.reminders.get(1)).next_due_utc == nxt  # type: ignore[union-attr]
    assert await store.reminders.advance(404, T0, nxt) is False
