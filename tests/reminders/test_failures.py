"""Delivery failures and members who change their mind: DMs closed, 429, 5xx, gone users,
rejected messages, opt-out and deletion between claim and send, the global rate."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.engine.context import Deps, Member
from bot.engine.reminders import RemindersFlow
from bot.reminders.ratelimit import TokenBucket
from bot.reminders.sender import DMsClosed, MemberGone, RateLimited, Rejected, TransientError
from bot.storage import Store
from tests.conftest import FakeClock
from tests.storage.observe import deliveries as stored_deliveries

from .conftest import FakeSleep, RecordingSender, at, opt_in

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
ALICE, BOB = 1001, 1002


async def _setup(store: Store, clock: FakeClock, *users: int) -> datetime:
    at(clock, T0)
    due = None
    for user in users or (ALICE,):
        due = (await opt_in(store, user, now=T0)).next_due_utc
    assert due is not None
    at(clock, due)
    return due


async def test_dms_closed_pauses_with_the_reason_and_never_retries(
    store: Store, kb, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    due = await _setup(store, clock, ALICE, BOB)
    sender.faults[ALICE] = [DMsClosed()]
    report = await dispatcher.run_once()
    assert (report.claimed, report.sent, report.paused) == (2, 1, 1)
    pref = await store.reminders.get(ALICE)
    assert pref is not None and pref.enabled and pref.paused_reason
    assert "DMs are closed" in pref.paused_reason
    [delivery] = await stored_deliveries(store, ALICE)
    assert delivery.status == "failed" and delivery.lease_until is None
    # no retry: not after the lease, not later in the week, not next week
    for later in (timedelta(minutes=10), timedelta(days=2), timedelta(days=8)):
        at(clock, due + later)
        await dispatcher.run_once()
    assert sender.attempts.count(ALICE) == 1
    # the member sees why in /reminders status
    flow = RemindersFlow(Deps(kb=kb, matcher=None, store=store,  # type: ignore[arg-type]
                              settings=Settings(_env_file=None), clock=clock))
    status = await flow.status(Member(ALICE))
    assert "paused" in status.body and "DMs are closed" in status.body
    # turning reminders on again clears the pause and they flow again
    await opt_in(store, ALICE, now=clock.current)
    at(clock, (await store.reminders.get(ALICE)).next_due_utc)  # type: ignore[union-attr,arg-type]
    assert (await dispatcher.run_once()).sent >= 1
    assert len(sender.to(ALICE)) == 1


async def test_429_waits_retry_after_then_sends(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock,
    fake_sleep: FakeSleep,
) -> None:
    bucket = TokenBucket(10, monotonic=fake_sleep.monotonic, sleep=fake_sleep)
    dispatcher = make_dispatcher(limiter=bucket)
    await _setup(store, clock, ALICE)
    sender.faults[ALICE] = [RateLimited(2.5), RateLimited(1.25)]
    report = await dispatcher.run_once()
    assert (report.sent, report.retried) == (1, 2)
    assert 2.5 in fake_sleep.calls and 1.25 in fake_sleep.calls
    assert sender.attempts == [ALICE] * 3 and len(sender.sent) == 1


async def test_429_holds_every_send_not_just_the_one_told(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock,
    fake_sleep: FakeSleep,
) -> None:
    bucket = TokenBucket(100, monotonic=fake_sleep.monotonic, sleep=fake_sleep)
    dispatcher = make_dispatcher(limiter=bucket, max_in_flight=1)
    due = await _setup(store, clock, ALICE, BOB)
    sender.faults[ALICE] = [RateLimited(3.0)]
    await dispatcher.run_once()
    assert len(sender.sent) == 2
    bob = sender.to(BOB)[0]
    assert bob.at >= due + timedelta(seconds=3)  # Bob waited out Alice's 429 too


async def test_429_beyond_the_retries_is_retried_by_a_later_run(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock,
) -> None:
    dispatcher = make_dispatcher(max_rate_limit_retries=1)
    due = await _setup(store, clock)
    sender.faults[ALICE] = [RateLimited(30), RateLimited(30)]
    report = await dispatcher.run_once()
    assert (report.sent, report.retried) == (0, 2)
    [delivery] = await stored_deliveries(store, ALICE)
    assert delivery.status == "failed" and delivery.lease_until is not None
    assert delivery.lease_until >= due + timedelta(seconds=60)
    at(clock, delivery.lease_until - timedelta(seconds=1))
    assert (await dispatcher.run_once()).sent == 0
    at(clock, delivery.lease_until + timedelta(seconds=1))
    assert (await dispatcher.run_once()).sent == 1


async def test_5xx_is_retried_with_backoff_within_the_period(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    dispatcher = make_dispatcher(backoff_base=60)
    due = await _setup(store, clock)
    sender.faults[ALICE] = [TransientError("502"), TransientError("503")]
    first = await dispatcher.run_once()
    assert (first.sent, first.retried) == (0, 1)
    [d] = await stored_deliveries(store, ALICE)
    assert d.status == "failed" and d.error and "502" in d.error
    first_retry = d.lease_until
    assert first_retry is not None and timedelta(seconds=59) < first_retry - due < timedelta(
        seconds=62)
    at(clock, due + timedelta(seconds=30))
    assert (await dispatcher.run_once()).claimed == 0  # not before the backoff
    at(clock, first_retry + timedelta(seconds=1))
    second = await dispatcher.run_once()
    assert (second.claimed, second.sent, second.retried) == (1, 0, 1)
    [d] = await stored_deliveries(store, ALICE)
    assert d.attempts == 2 and d.lease_until is not None
    assert d.lease_until - first_retry > timedelta(seconds=119)  # the backoff doubled
    at(clock, d.lease_until + timedelta(seconds=1))
    third = await dispatcher.run_once()
    assert third.sent == 1
    [d] = await stored_deliveries(store, ALICE)
    assert (d.status, d.attempts) == ("sent", 3)
    assert len(sender.sent) == 1


async def test_5xx_all_week_gives_up_at_the_period_end_and_schedules_the_next(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    dispatcher = make_dispatcher(backoff_base=3600, backoff_cap=2 * 86400, max_attempts=50)
    due = await _setup(store, clock)
    sender.faults[ALICE] = [TransientError("500")] * 100
    now = due
    while now < due + timedelta(days=7):
        at(clock, now)
        await dispatcher.run_once()
        now += timedelta(hours=1)
    attempts = sender.attempts.count(ALICE)
    # 1 h, 2 h, 4 h, ... (cap 2 days) backoff: 9 tries in the week, not one a minute or hour
    assert 5 <= attempts <= 10
    pref = await store.reminders.get(ALICE)
    assert pref is not None and pref.next_due_utc == due + timedelta(days=7)
    [d] = await stored_deliveries(store, ALICE)
    assert d.status == "failed" and d.lease_until is None  # given up for that week
    assert sender.sent == []


async def test_member_gone_disables_and_rejected_gives_up_the_week(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    due = await _setup(store, clock, ALICE, BOB)
    sender.faults[ALICE] = [MemberGone("404 unknown user")]
    sender.faults[BOB] = [Rejected("400 invalid form body")]
    report = await dispatcher.run_once()
    assert (report.disabled, report.failed, report.sent) == (1, 1, 0)
    alice = await store.reminders.get(ALICE)
    assert alice is not None and not alice.enabled
    bob = await store.reminders.get(BOB)
    assert bob is not None and bob.enabled and bob.next_due_utc == due + timedelta(days=7)
    at(clock, due + timedelta(days=7))
    assert (await dispatcher.run_once()).sent == 1
    assert [s.user_id for s in sender.sent] == [BOB]


async def test_opt_out_between_claim_and_send_is_not_sent(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    due = await _setup(store, clock, ALICE, BOB)
    original = store.reminders.claim_many

    async def claim_then_alice_opts_out(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = await original(*args, **kwargs)
        await store.reminders.disable(ALICE)
        return claims

    store.reminders.claim_many = claim_then_alice_opts_out  # type: ignore[method-assign]
    report = await dispatcher.run_once()
    store.reminders.claim_many = original  # type: ignore[method-assign]
    assert (report.claimed, report.sent, report.skipped) == (2, 1, 1)
    assert [s.user_id for s in sender.sent] == [BOB]
    [d] = await stored_deliveries(store, ALICE)
    assert d.status == "failed" and d.error and "opted out" in d.error
    at(clock, due + timedelta(minutes=30))
    assert (await dispatcher.run_once()).sent == 0


async def test_paused_or_snoozed_between_claim_and_send_is_not_sent(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    await _setup(store, clock, ALICE, BOB)
    original = store.reminders.claim_many

    async def claim_then_change(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = await original(*args, **kwargs)
        await store.reminders.pause(ALICE, "DMs closed (seen by another shard)")
        pref = await store.reminders.get(BOB)
        assert pref is not None and pref.next_due_utc is not None
        await store.reminders.set(BOB, enabled=True, weekday=pref.weekday, hour=pref.hour,
                                  timezone=pref.timezone,
                                  next_due_utc=pref.next_due_utc + timedelta(days=7))
        return claims

    store.reminders.claim_many = claim_then_change  # type: ignore[method-assign]
    report = await dispatcher.run_once()
    store.reminders.claim_many = original  # type: ignore[method-assign]
    assert (report.claimed, report.sent, report.skipped) == (2, 0, 2)
    assert sender.attempts == []


async def test_deleted_members_are_skipped_at_every_stage(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    carol, dave, erin = 1003, 1004, 1005
    await _setup(store, clock, ALICE, BOB, carol, dave, erin)
    await store.privacy.delete(ALICE)  # before the run: not due at all
    original_due, original_claim = store.reminders.due_batch, store.reminders.claim_many

    async def due_then_delete_bob(*args, **kwargs):  # type: ignore[no-untyped-def]
        batch = await original_due(*args, **kwargs)
        if batch:
            await store.privacy.delete(BOB)  # between selecting and claiming
        return batch

    async def claim_then_delete_carol(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = await original_claim(*args, **kwargs)
        await store.privacy.delete(carol)  # between claiming and sending
        return claims

    async def delete_dave_while_sending() -> None:
        await store.privacy.delete(dave)  # the DM goes out, then the delivery row is gone

    sender.faults[dave] = [delete_dave_while_sending]
    store.reminders.due_batch = due_then_delete_bob  # type: ignore[method-assign]
    store.reminders.claim_many = claim_then_delete_carol  # type: ignore[method-assign]
    report = await dispatcher.run_once()
    store.reminders.due_batch, store.reminders.claim_many = original_due, original_claim  # type: ignore[method-assign]
    assert report.due == 4 and report.claimed == 3  # Bob vanished before his claim
    assert sorted(s.user_id for s in sender.sent) == [dave, erin]
    assert report.sent == 2 and report.skipped == 2  # Bob (no claim), Carol (re-check)
    for gone in (ALICE, BOB, carol, dave):
        assert await store.reminders.get(gone) is None
        assert await stored_deliveries(store, gone) == []


async def test_global_rate_limit_paces_the_sends(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock,
    fake_sleep: FakeSleep,
) -> None:
    bucket = TokenBucket(10, monotonic=fake_sleep.monotonic, sleep=fake_sleep)
    handed_out: list[float] = []
    acquire = bucket.acquire

    async def recording_acquire() -> float:
        waited = await acquire()
        handed_out.append(fake_sleep.monotonic())
        return waited

    bucket.acquire = recording_acquire  # type: ignore[method-assign]
    dispatcher = make_dispatcher(limiter=bucket, rate_per_second=10, max_in_flight=8)
    at(clock, T0)
    for user in range(2000, 2030):
        await opt_in(store, user, now=T0)
    due = (await store.reminders.get(2000)).next_due_utc  # type: ignore[union-attr]
    at(clock, due)  # type: ignore[arg-type]
    report = await dispatcher.run_once()
    assert report.sent == 30 and len(handed_out) == 30
    # 30 DMs at 10 a second, 8 in flight: a token every 0.1 s (of fake time), never a burst
    gaps = [b - a for a, b in itertools.pairwise(handed_out)]
    assert min(gaps) >= 0.099
    assert handed_out[-1] - handed_out[0] >= 2.9 - 1e-6
    assert (clock.current - due).total_seconds() >= 2.9


async def test_token_bucket_rate_burst_and_hold(fake_sleep: FakeSleep) -> None:
    import asyncio

    bucket = TokenBucket(5, burst=2, monotonic=fake_sleep.monotonic, sleep=fake_sleep)
    times: list[float] = []

    async def take() -> None:
        await bucket.acquire()
        times.append(fake_sleep.monotonic())

    start = fake_sleep.monotonic()
    await asyncio.gather(*(take() for _ in range(12)))
    # two at once (the burst), then one every 0.2 s
    assert times[1] - start < 0.01
    assert all(b - a >= 0.199 for a, b in itertools.pairwise(times[1:]))
    assert times[-1] - start >= 2.0 - 1e-6
    bucket.hold(3.0)
    held = fake_sleep.monotonic()
    await take()
    assert times[-1] - held >= 3.0 - 1e-6
    with pytest.raises(ValueError):
        TokenBucket(0)


async def test_a_schedule_changed_while_the_dm_is_on_its_way_is_kept(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    due = await _setup(store, clock, ALICE, BOB)
    moved = due + timedelta(days=3, hours=2)

    async def alice_moves_her_reminder() -> None:  # /reminders on … during the send
        pref = await store.reminders.get(ALICE)
        assert pref is not None
        await store.reminders.set(ALICE, enabled=True, weekday=pref.weekday, hour=pref.hour + 2,
                                  timezone=pref.timezone, next_due_utc=moved)

    sender.faults[ALICE] = [alice_moves_her_reminder]
    report = await dispatcher.run_once()
    assert report.sent == 2 and {s.user_id for s in sender.sent} == {ALICE, BOB}
    alice, bob = await store.reminders.get(ALICE), await store.reminders.get(BOB)
    assert alice is not None and bob is not None
    assert alice.next_due_utc == moved  # her change, not the dispatcher's plan
    assert alice.last_sent_at is not None
    assert bob.next_due_utc == due + timedelta(days=7)  # untouched schedules move on a week


async def test_marking_sent_waits_out_a_busy_database(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    from bot.storage import Busy

    due = await _setup(store, clock, ALICE)
    original = store.reminders.mark_sent
    calls: list[int] = []

    async def busy_twice(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= 2:
            raise Busy("database busy (test): database is locked")
        return await original(*args, **kwargs)

    store.reminders.mark_sent = busy_twice  # type: ignore[method-assign]
    try:
        report = await dispatcher.run_once()
    finally:
        store.reminders.mark_sent = original  # type: ignore[method-assign]
    assert report.sent == 1 and len(calls) == 3
    [d] = await stored_deliveries(store, ALICE)
    assert d.status == "sent"
    pref = await store.reminders.get(ALICE)
    assert pref is not None and pref.next_due_utc == due + timedelta(days=7)
