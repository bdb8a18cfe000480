"""Exactly once: repeated runs, crashes between claim and send, downtime, two dispatchers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.engine.replies import Reply
from bot.engine.schedule import next_occurrence, period_key
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.ratelimit import Unlimited
from bot.storage import Store
from bot.storage.migrate import upgrade_async
from tests.conftest import FakeClock
from tests.storage.observe import deliveries as stored_deliveries

from .conftest import RecordingSender, at, opt_in

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # Monday
ALICE = 1001


async def _due(store: Store, user: int = ALICE) -> datetime:
    pref = await store.reminders.get(user)
    assert pref is not None and pref.next_due_utc is not None
    return pref.next_due_utc


async def test_twice_in_the_same_minute_and_all_period_long_sends_once(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    pref = await opt_in(store, ALICE, weekday=1, hour=9, tz="Europe/Paris", now=T0)
    due = pref.next_due_utc
    assert due is not None
    at(clock, due)
    first, second = await dispatcher.run_once(), await dispatcher.run_once()
    assert (first.sent, second.sent, second.due) == (1, 0, 0)
    # every minute for the first hour, then hourly for the rest of the week
    for minutes in [*range(1, 60), *range(60, 7 * 24 * 60 - 60, 60)]:
        at(clock, due + timedelta(minutes=minutes))
        assert (await dispatcher.run_once()).sent == 0
    assert len(sender.sent) == 1
    # the next week's occurrence sends the next one
    at(clock, await _due(store))
    assert (await dispatcher.run_once()).sent == 1
    deliveries = await stored_deliveries(store, ALICE)
    assert [d.status for d in deliveries] == ["sent", "sent"]
    assert len({d.period_key for d in deliveries}) == 2


async def test_run_once_with_an_explicit_now(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    pref = await opt_in(store, ALICE, now=T0)
    assert pref.next_due_utc is not None
    assert (await dispatcher.run_once(now=pref.next_due_utc - timedelta(seconds=1))).sent == 0
    report = await dispatcher.run_once(now=pref.next_due_utc)
    assert report.sent == 1
    deliveries = await stored_deliveries(store, ALICE)
    assert deliveries[0].sent_at is not None and deliveries[0].sent_at >= pref.next_due_utc


async def test_crash_between_claim_and_send_is_retried_only_after_the_lease(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    dispatcher = make_dispatcher(lease_seconds=300)
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0)).next_due_utc
    assert due is not None
    sender.faults[ALICE] = [RuntimeError("process died mid-send")]
    at(clock, due)
    crashed = await dispatcher.run_once()
    assert (crashed.claimed, crashed.sent, crashed.failed) == (1, 0, 1)
    [delivery] = await stored_deliveries(store, ALICE)
    assert delivery.status == "claimed"
    # within the lease: nobody re-sends it
    for seconds in (1, 60, 299):
        at(clock, due + timedelta(seconds=seconds))
        report = await dispatcher.run_once()
        assert (report.claimed, report.sent, report.skipped) == (0, 0, 1)
    # after the lease: claimed again and sent, once
    at(clock, due + timedelta(seconds=301))
    retried = await dispatcher.run_once()
    assert (retried.claimed, retried.sent) == (1, 1)
    [delivery] = await stored_deliveries(store, ALICE)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    # never after a success, even long after the lease, even if asked directly
    at(clock, due + timedelta(hours=2))
    assert (await dispatcher.run_once()).sent == 0
    assert await store.reminders.claim(ALICE, delivery.period_key, clock(), 300) is None
    assert len(sender.sent) == 1 and sender.attempts == [ALICE, ALICE]


async def test_process_that_died_after_claiming_leaves_it_to_the_lease(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    """Another process claimed the delivery and died before sending (no exception here)."""
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0)).next_due_utc
    assert due is not None
    at(clock, due)
    [dead] = await store.reminders.claim_many([(ALICE, period_key(due))], due, 300)
    report = await dispatcher.run_once()
    assert (report.due, report.claimed, report.sent) == (1, 0, 0)
    at(clock, dead.lease_until + timedelta(seconds=1))
    report = await dispatcher.run_once()
    assert (report.claimed, report.sent) == (1, 1)
    at(clock, dead.lease_until + timedelta(minutes=10))
    assert (await dispatcher.run_once()).sent == 0
    assert len(sender.sent) == 1


async def test_back_within_the_period_sends_the_missed_reminder_once(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    due = (await opt_in(store, ALICE, weekday=0, hour=9, tz="Asia/Tokyo", now=T0)).next_due_utc
    assert due is not None
    # the bot was down from before the due time until 3 days later
    at(clock, due + timedelta(days=3, hours=5))
    assert (await dispatcher.run_once()).sent == 1
    for minutes in (1, 2, 3, 60, 24 * 60):
        at(clock, due + timedelta(days=3, hours=5, minutes=minutes))
        assert (await dispatcher.run_once()).sent == 0
    assert await _due(store) == next_occurrence(0, 9, "Asia/Tokyo", due)
    [delivery] = await stored_deliveries(store, ALICE)
    assert delivery.period_key == period_key(due)


async def test_back_after_weeks_sends_one_reminder_not_one_per_missed_week(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    due = (await opt_in(store, ALICE, weekday=0, hour=9, tz="UTC", now=T0)).next_due_utc
    assert due is not None
    back = due + timedelta(weeks=3, days=2)  # three Mondays missed, back on a Wednesday
    at(clock, back)
    report = await dispatcher.run_once()
    assert (report.due, report.sent) == (1, 1)
    for minutes in range(1, 30):
        at(clock, back + timedelta(minutes=minutes))
        assert (await dispatcher.run_once()).sent == 0
    assert len(sender.sent) == 1
    [delivery] = await stored_deliveries(store, ALICE)
    this_monday = due + timedelta(weeks=3)
    assert delivery.period_key == period_key(this_monday)  # the period we are in
    nxt = await _due(store)
    assert nxt == this_monday + timedelta(weeks=1) and nxt > back  # back on schedule


async def test_two_dispatchers_on_two_stores_never_send_twice(
    store: Store, db_url: str, kb, clock: FakeClock
) -> None:
    """Two dispatchers (own Store, own engine and connection pool — on PostgreSQL that is
    the two-process case) race over the same due members, several rounds."""
    members = 120
    at(clock, T0)
    zones = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "Pacific/Kiritimati"]
    for i in range(members):
        await opt_in(store, 5000 + i, weekday=T0.weekday(), hour=0, tz=zones[i % len(zones)],
                     now=T0 - timedelta(days=7))
    sender = RecordingSender(clock, delay=0.001)
    other = Store.open(db_url, clock=clock)
    from bot.reminders.dispatcher import Dispatcher

    try:
        one = Dispatcher(store, kb, sender, clock=clock, limiter=Unlimited(), batch_size=17,
                         max_in_flight=4)
        two = Dispatcher(other, kb, sender, clock=clock, limiter=Unlimited(), batch_size=23,
                         max_in_flight=4)
        at(clock, T0 + timedelta(days=1))  # everyone is due
        reports = []
        for _ in range(3):
            reports += await asyncio.gather(one.run_once(), two.run_once(), one.run_once())
    finally:
        await other.close()
    counts = Counter(s.user_id for s in sender.sent)
    assert len(sender.sent) == members, counts.most_common(3)
    assert set(counts.values()) == {1}
    assert sum(r.sent for r in reports) == members
    # they really raced: the concurrent first round split the work and saw each other's claims
    assert sum(1 for r in reports[:3] if r.sent) >= 2
    assert sum(r.skipped for r in reports[:3]) > 0
    assert sum(r.claimed for r in reports) == members
    for i in range(0, members, 11):
        deliveries = await stored_deliveries(store, 5000 + i)
        assert [d.status for d in deliveries] == ["sent"]


async def test_run_forever_sends_once_and_survives_a_failed_run(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    dispatcher = make_dispatcher()
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0)).next_due_utc
    assert due is not None
    at(clock, due)
    real_run_once = dispatcher.run_once
    runs = 0

    async def flaky_run_once(now=None):  # type: ignore[no-untyped-def]
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionError("database went away")
        report = await real_run_once(now)
        if runs >= 5:
            dispatcher.stop()
        return report

    dispatcher.run_once = flaky_run_once  # type: ignore[method-assign]
    await asyncio.wait_for(dispatcher.run_forever(interval=0.01), timeout=10)
    assert runs == 5
    assert len(sender.sent) == 1


async def test_a_send_never_starts_with_too_little_lease_left(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock,
) -> None:
    """A run that fell behind (here: the clock jumps past the lease margin between claim and
    send) leaves the delivery to whoever claims it after the lease, instead of racing them."""
    dispatcher = make_dispatcher(lease_seconds=300)
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0)).next_due_utc
    assert due is not None
    at(clock, due)
    original = store.reminders.claim_many

    async def slow_claim(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = await original(*args, **kwargs)
        clock.advance(seconds=250)  # only 50 s of the lease left: under the 60 s margin
        return claims

    store.reminders.claim_many = slow_claim  # type: ignore[method-assign]
    report = await dispatcher.run_once()
    store.reminders.claim_many = original  # type: ignore[method-assign]
    assert (report.claimed, report.sent, report.skipped) == (1, 0, 1)
    assert sender.attempts == []
    at(clock, due + timedelta(seconds=301))
    assert (await dispatcher.run_once()).sent == 1
    assert len(sender.sent) == 1


def _minimum_lease() -> int:
    """The smallest REMINDER_LEASE_SECONDS the settings accept (its ``ge`` bound)."""
    field = Settings.model_fields["reminder_lease_seconds"]
    return int(next(m.ge for m in field.metadata if getattr(m, "ge", None) is not None))


@dataclass
class HangingSender:
    """A Discord that sits on the first DM to each member far longer than the lease, then
    delivers it (a slow API, a stuck connection); later DMs go out at once. A DM counts as
    delivered only when the send returns, like a request Discord answered."""

    hang: float
    delivered: list[tuple[int, datetime]] = field(default_factory=list)
    attempts: Counter[int] = field(default_factory=Counter)
    in_flight: int = 0

    async def send_dm(self, user_id: int, reply: Reply) -> None:
        self.attempts[user_id] += 1
        self.in_flight += 1
        try:
            await asyncio.sleep(self.hang if self.attempts[user_id] == 1 else 0.01)
        finally:
            self.in_flight -= 1
        self.delivered.append((user_id, datetime.now(UTC)))


async def test_exactly_once_at_the_minimum_lease_with_a_send_that_hangs(db_url: str, kb) -> None:
    """Two processes (two stores, two dispatchers built the way the bot and run-once build
    theirs: ``Dispatcher.from_settings``) at the shortest lease the settings allow, on a
    Discord that hangs on each first send for longer than the lease. A send that outlived its
    lease would be delivered again by the process that re-claims the row after the lease:
    here every member gets exactly one DM, and no send is left running."""
    lease = _minimum_lease()
    settings = Settings(_env_file=None, reminder_lease_seconds=lease,
                        reminder_rate_per_second=50)
    members = list(range(7000, 7012))
    await upgrade_async(db_url)
    one, two = Store.open(db_url), Store.open(db_url)  # real clock: real leases
    sender = HangingSender(hang=lease * 1.5)
    now = datetime.now(UTC)
    try:
        for uid in members:
            await opt_in(one, uid, weekday=now.weekday(), hour=now.hour,
                         now=now - timedelta(days=7, minutes=-1))  # due a minute from now - 1 w
        dispatchers = [Dispatcher.from_settings(s, kb, sender, settings, limiter=Unlimited(),
                                                backoff_base=0.2)
                       for s in (one, two)]
        assert all(d.send_timeout < d.lease_margin.total_seconds() for d in dispatchers)
        loops = [asyncio.create_task(d.run_forever(0.2)) for d in dispatchers]  # the bot's loop
        try:
            started = time.monotonic()
            while len({uid for uid, _ in sender.delivered}) < len(members) or sender.in_flight:
                # every send the dispatchers started ends (cut off at the send timeout): none
                # that hangs can complete after its lease and deliver a second time
                assert time.monotonic() - started < lease * 3, (sender.attempts, sender.delivered)
                await asyncio.sleep(0.1)
        finally:
            for d in dispatchers:
                d.stop()
            await asyncio.wait_for(asyncio.gather(*loops), lease * 2)
        assert sender.in_flight == 0
        counts = Counter(uid for uid, _ in sender.delivered)
        assert counts == Counter(members), counts
        assert all(n >= 2 for n in sender.attempts.values())  # each first send was cut off
        for uid in members[:3]:
            statuses = [d.status for d in await stored_deliveries(one, uid)]
            assert statuses == ["sent"], statuses
    finally:
        await one.close()
        await two.close()


async def test_the_loop_uses_the_knowledge_base_of_each_run_and_reports_each_run(
    store: Store, make_dispatcher, sender: RecordingSender, clock: FakeClock, kb
) -> None:
    """The bot's loop asks for the knowledge base before every run (a /kb reload is used by
    the next reminders) and hands every report to its metrics."""
    from bot.knowledge.loader import load_knowledge

    reloaded = load_knowledge()
    assert reloaded is not kb
    dispatcher = make_dispatcher()
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0)).next_due_utc
    assert due is not None
    at(clock, due)
    served = [kb, reloaded]
    reports = []

    def knowledge():  # type: ignore[no-untyped-def]
        return served[min(len(reports), 1)]

    def on_report(report):  # type: ignore[no-untyped-def]
        reports.append(report)
        if len(reports) == 3:
            dispatcher.stop()

    await asyncio.wait_for(dispatcher.run_forever(0.01, knowledge=knowledge,
                                                  on_report=on_report), 10)
    assert dispatcher.kb is reloaded and dispatcher.composer.kb is reloaded
    assert [r.sent for r in reports] == [1, 0, 0]
