"""200 concurrent mark/unmark calls for one member: no lost update, no duplicate, no lock error.

Half of the calls go through a second :class:`Store` (its own engine and pool), like a second
bot process on the same database.
"""

from __future__ import annotations

import asyncio
import itertools
import random

from sqlalchemy import func, select

from bot.storage import Store
from bot.storage.models import ChecklistEvent, ChecklistProgress

MEMBER = 9_000_000_000_000_001
HOT = "hot-item"


async def test_200_concurrent_mark_unmark_same_member(store: Store, db_url: str) -> None:
    # 200 calls at once on one process exceed the default bounded waits (2 s pool queue, lock
    # and retry budgets): that load is shed on purpose. This test is about correctness under
    # contention, so its two "processes" are configured to wait.
    patient = {"pool_timeout": 60.0, "retry_budget": 60.0, "lock_timeout": 60.0}
    store = Store.open(db_url, **patient)
    other = Store.open(db_url, **patient)
    try:
        rng = random.Random(42)
        calls = []
        # 120 distinct items marked once each (every one must end up done, exactly one row)...
        for i in range(120):
            s = store if i % 2 else other
            calls.append(("mark", f"item-{i:03d}", s.checklist.mark(MEMBER, f"item-{i:03d}")))
        # ...and 80 racing marks/unmarks on one hot item
        for i in range(80):
            s = store if i % 2 else other
            if rng.random() < 0.5:
                calls.append(("mark", HOT, s.checklist.mark(MEMBER, HOT)))
            else:
                calls.append(("unmark", HOT, s.checklist.unmark(MEMBER, HOT)))
        order = list(range(len(calls)))
        rng.shuffle(order)
        results = await asyncio.gather(*(calls[i][2] for i in order))  # raises on any error
        assert len(results) == 200

        # every call saw its own effect
        for idx, state in zip(order, results, strict=True):
            op, item, _ = calls[idx]
            assert state.item_id == item
            assert state.done is (op == "mark")

        states = await store.checklist.states(MEMBER)
        assert len(states) == 121
        assert all(states[f"item-{i:03d}"].done for i in range(120))

        async with store.db.session() as s:
            rows = await s.scalar(select(func.count()).where(ChecklistProgress.member_id == MEMBER))
            dupes = await s.scalar(
                select(func.count()).select_from(
                    select(ChecklistProgress.item_id)
                    .group_by(ChecklistProgress.member_id, ChecklistProgress.item_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            events = (
                await s.execute(
                    select(ChecklistEvent.item_id, ChecklistEvent.action)
                    .where(ChecklistEvent.member_id == MEMBER)
                    .order_by(ChecklistEvent.id)
                )
            ).all()
        assert rows == 121 and dupes == 0

        # one "done" event per distinct item: none lost, none doubled
        per_item = [e for e in events if e.item_id != HOT]
        assert sorted(e.item_id for e in per_item) == [f"item-{i:03d}" for i in range(120)]
        assert {e.action for e in per_item} == {"done"}
        # the hot item's events are real transitions: they alternate, and the last one is
        # the stored state (no update lost between the row and its history)
        hot = [e.action for e in events if e.item_id == HOT]
        assert hot, "the hot item changed at least once"
        assert hot[0] == "done"
        assert all(a != b for a, b in itertools.pairwise(hot))
        assert (hot[-1] == "done") is states[HOT].done
    finally:
        await other.close()
        await store.close()
