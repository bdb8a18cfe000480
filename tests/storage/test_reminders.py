from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from bot.storage import InvalidInput, NotFound, Store
from tests.storage.observe import deliveries, delivery

if TYPE_CHECKING:
    from tests.conftest import FakeClock

ALICE = 7001
BOB = 7002
T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


async def _prefs(store: Store, user: int, due: datetime | None = T0, **kw: object) -> None:
    args: dict[str, object] = {
        "enabled": True,
        "weekday": 0,
        "hour": 9,
        "timezone": "Europe/Paris",
        "next_due_utc": due,
    }
    args.update(kw)
    await store.reminders.set(user, **args)  # type: ignore[arg-type]


async def test_preferences_set_update_pause_resume_disable(store: Store) -> None:
    assert await store.reminders.get(ALICE) is None
    rec = await store.reminders.set(
        ALICE, enabled=True, weekday=2, hour=18, timezone="America/New_York", next_due_utc=T0
    )
    assert (rec.enabled, rec.weekday, rec.hour, rec.timezone) == (True, 2, 18, "America/New_York")
    assert rec.next_due_utc == T0 and rec.next_due_utc.tzinfo is not None
    assert rec.paused_reason is None and rec.last_sent_at is None and rec.active
    assert await store.reminders.get(ALICE) == rec

    paused = await store.reminders.pause(ALICE, "DMs closed")
    assert paused.paused_reason == "DMs closed" and not paused.active and paused.enabled
    resumed = await store.reminders.set(  # setting again is how a pause ends
        ALICE, enabled=True, weekday=2, hour=18, timezone="America/New_York", next_due_utc=T0
    )
    assert resumed.paused_reason is None and resumed.active
    await store.reminders.pause(ALICE, "x" * 1000)
    assert len((await store.reminders.get(ALICE)).paused_reason or "") == 200  # type: ignore[union-attr]

    # setting again replaces everything (upsert) and clears the pause
    rec2 = await store.reminders.set(
        ALICE, enabled=True, weekday=6, hour=0, timezone="Asia/Kolkata", next_due_utc=None
    )
    assert (rec2.weekday, rec2.hour, rec2.timezone, rec2.next_due_utc) == (
        6,
        0,
        "Asia/Kolkata",
        None,
    )
    assert rec2.paused_reason is None

    off = await store.reminders.disable(ALICE)
    assert off is not None and off.enabled is False and off.weekday == 6
    assert await store.reminders.disable(BOB) is None
    with pytest.raises(NotFound):
        await store.reminders.pause(BOB, "why")


async def test_preferences_validation(store: Store) -> None:
    bad: list[dict[str, object]] = [
        {"weekday": 7},
        {"weekday": -1},
        {"hour": 24},
        {"hour": True},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": ""},
        {"timezone": "../../etc/passwd"},
        {"next_due_utc": datetime(2025, 1, 1, 9, 0)},  # naive
    ]
    for kw in bad:
        with pytest.raises(InvalidInput):
            await _prefs(store, ALICE, **kw)
    assert await store.reminders.get(ALICE) is None


async def test_timestamps_are_utc_whatever_zone_goes_in(store: Store) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2025, 6, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    rec = await store.reminders.set(
        ALICE, enabled=True, weekday=0, hour=9, timezone="Asia/Tokyo", next_due_utc=local
    )
    assert rec.next_due_utc == local
    assert rec.next_due_utc is not None and rec.next_due_utc.utcoffset() == timedelta(0)
    assert rec.next_due_utc.hour == 0


async def test_due_batch_filters_and_paginates(store: Store) -> None:
    due_users = [8001, 8002, 8003, 8004, 8005]
    for u in due_users:
        await _prefs(store, u, due=T0 - timedelta(minutes=u % 7))
    await _prefs(store, 8100, due=T0)
    await store.reminders.pause(8100, "DMs closed")  # paused
    await _prefs(store, 8200, due=T0, enabled=False)  # opted out
    await _prefs(store, 8300, due=T0 + timedelta(seconds=1))  # not yet
    await _prefs(store, 8400, due=None)  # never scheduled

    batch = await store.reminders.due_batch(T0, limit=100)
    assert [r.user_id for r in batch] == due_users
    pages: list[int] = []
    after = None
    while True:
        page = await store.reminders.due_batch(T0, limit=2, after_member_id=after)
        if not page:
            break
        assert len(page) <= 2
        pages += [r.user_id for r in page]
        after = page[-1].user_id
    assert pages == due_users
    with pytest.raises(InvalidInput):
        await store.reminders.due_batch(datetime(2025, 1, 1), limit=10)  # naive


async def test_claim_lease_reclaim_and_sent(store: Store) -> None:
    await _prefs(store, ALICE)
    claim = await store.reminders.claim(ALICE, "2025-W11", T0, lease_seconds=300)
    assert claim is not None and claim.attempts == 1 and claim.user_id == ALICE
    assert claim.lease_until == T0 + timedelta(seconds=300)
    # the lease is held: nobody else may send it
    assert await store.reminders.claim(ALICE, "2025-W11", T0 + timedelta(seconds=10), 300) is None
    # lease expired without a send (crashed process): re-claimed, attempt counted
    later = T0 + timedelta(seconds=301)
    again = await store.reminders.claim(ALICE, "2025-W11", later, 300)
    assert again is not None and again.delivery_id == claim.delivery_id and again.attempts == 2

    next_due = T0 + timedelta(days=7)
    sent = await store.reminders.mark_sent(again.delivery_id, later, next_due)
    assert sent.status == "sent" and sent.sent_at == later and sent.attempts == 2
    prefs = await store.reminders.get(ALICE)
    assert prefs is not None and prefs.last_sent_at == later and prefs.next_due_utc == next_due
    # once sent, never again for that period, even long after the lease
    assert await store.reminders.claim(ALICE, "2025-W11", T0 + timedelta(days=3), 300) is None
    # the next period is a new delivery
    nxt = await store.reminders.claim(ALICE, "2025-W12", next_due, 300)
    assert nxt is not None and nxt.delivery_id != claim.delivery_id and nxt.attempts == 1
    assert [d.period_key for d in await deliveries(store, ALICE)] == [
        "2025-W11",
        "2025-W12",
    ]


async def test_mark_failed_with_and_without_retry(store: Store) -> None:
    await _prefs(store, ALICE)
    c = await store.reminders.claim(ALICE, "p1", T0, 60)
    assert c is not None
    retry_at = T0 + timedelta(minutes=30)
    failed = await store.reminders.mark_failed(c.delivery_id, "HTTP 500 from Discord", retry_at)
    assert failed.status == "failed" and failed.error == "HTTP 500 from Discord"
    assert failed.lease_until == retry_at
    assert await store.reminders.claim(ALICE, "p1", T0 + timedelta(minutes=29), 60) is None
    c2 = await store.reminders.claim(ALICE, "p1", T0 + timedelta(minutes=31), 60)
    assert c2 is not None and c2.attempts == 2
    row = await delivery(store, c2.delivery_id)
    assert row is not None and row.error is None

    final = await store.reminders.mark_failed(c2.delivery_id, "403: cannot send to this user")
    assert final.status == "failed" and final.lease_until is None
    assert await store.reminders.claim(ALICE, "p1", T0 + timedelta(days=30), 60) is None

    c3 = await store.reminders.claim(ALICE, "p2", T0, 60)
    assert c3 is not None
    await store.reminders.mark_sent(c3.delivery_id, T0, None)
    # a late failure report from a process whose lease expired does not undo a send
    late = await store.reminders.mark_failed(c3.delivery_id, "timeout", T0)
    assert late.status == "sent" and late.error is None


async def test_delivery_errors(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.reminders.mark_sent(424242, T0, None)
    with pytest.raises(NotFound):
        await store.reminders.mark_failed(424242, "x")
    assert await delivery(store, 424242) is None
    with pytest.raises(NotFound):  # unknown member
        await store.reminders.claim(ALICE, "p1", T0, 60)
    await store.members.touch(ALICE)
    with pytest.raises(InvalidInput):
        await store.reminders.claim(ALICE, "", T0, 60)
    with pytest.raises(InvalidInput):
        await store.reminders.claim(ALICE, "p1", T0, 0)


async def test_concurrent_claims_have_one_winner(store: Store, db_url: str) -> None:
    """Two "processes" (separate engines) race for the same deliveries: one claim each."""
    other = Store.open(db_url)
    try:
        for u in (ALICE, BOB):
            await _prefs(store, u)
        results = await asyncio.gather(
            *(
                s.reminders.claim(u, "2025-W11", T0, 300)
                for _ in range(10)
                for s in (store, other)
                for u in (ALICE, BOB)
            )
        )
        won = [r for r in results if r is not None]
        assert sorted(r.user_id for r in won) == [ALICE, BOB]
        # after the lease, concurrent re-claims: again exactly one winner per member
        later = T0 + timedelta(seconds=301)
        results = await asyncio.gather(
            *(
                s.reminders.claim(ALICE, "2025-W11", later, 300)
                for _ in range(10)
                for s in (store, other)
            )
        )
        won = [r for r in results if r is not None]
        assert len(won) == 1 and won[0].attempts == 2
    finally:
        await other.close()


async def test_pause_keeps_updated_at_moving(store: Store, clock: FakeClock) -> None:
    first = await store.reminders.set(
        ALICE, enabled=True, weekday=0, hour=9, timezone="UTC", next_due_utc=T0
    )
    clock.advance(hours=1)
    paused = await store.reminders.pause(ALICE, "DMs closed")
    assert paused.updated_at > first.updated_at


async def test_mark_sent_does_not_overwrite_a_schedule_changed_during_the_send(
    store: Store,
) -> None:
    """Issue 11 point 7: compare-and-set on the schedule."""
    await _prefs(store, ALICE)
    due = (await store.reminders.get(ALICE)).next_due_utc  # type: ignore[union-attr]
    claim = await store.reminders.claim(ALICE, "2025-W11", T0, 300)
    assert claim is not None
    # while the DM is being sent, the member moves their reminder to Friday 18:00
    moved_to = T0 + timedelta(days=4, hours=10)
    await store.reminders.set(
        ALICE, enabled=True, weekday=4, hour=18, timezone="UTC", next_due_utc=moved_to
    )
    sent_at = T0 + timedelta(seconds=5)
    sent = await store.reminders.mark_sent(
        claim.delivery_id, sent_at, T0 + timedelta(days=7), expected_due=due
    )
    assert sent.status == "sent"
    pref = await store.reminders.get(ALICE)
    assert pref is not None
    assert (pref.weekday, pref.hour, pref.next_due_utc) == (4, 18, moved_to)  # kept
    assert pref.last_sent_at == sent_at  # the send is recorded all the same

    # unchanged schedule: the compare-and-set advances it
    claim2 = await store.reminders.claim(ALICE, "2025-W12", moved_to, 300)
    assert claim2 is not None
    nxt = moved_to + timedelta(days=7)
    await store.reminders.mark_sent(claim2.delivery_id, moved_to, nxt, expected_due=moved_to)
    assert (await store.reminders.get(ALICE)).next_due_utc == nxt  # type: ignore[union-attr]
