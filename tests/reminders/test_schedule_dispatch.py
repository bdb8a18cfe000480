"""Reminders go out at the member's local weekday and hour: every zone from UTC−12 to UTC+14,
across DST changes in both directions, and after the member changes their schedule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.engine.schedule import current_period, next_occurrence, period_key
from bot.storage import Store
from tests.conftest import FakeClock

from .conftest import RecordingSender, at, opt_in

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, 12:00 UTC

ZONES = [
    "Etc/GMT+12",  # UTC−12 (Baker Island time; the sign is POSIX-inverted)
    "Pacific/Pago_Pago",  # UTC−11
    "America/Los_Angeles",
    "UTC",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +13:45 with DST
    "Pacific/Kiritimati",  # UTC+14
]


def local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


@pytest.mark.parametrize("tz", ZONES)
async def test_sent_at_local_weekday_and_hour_in_every_zone(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock, tz: str
) -> None:
    at(clock, T0)
    pref = await opt_in(store, 1, weekday=2, hour=9, tz=tz, now=T0)  # Wednesday 09:00 local
    due = pref.next_due_utc
    assert due is not None
    assert (local(due, tz).weekday(), local(due, tz).hour, local(due, tz).minute) == (2, 9, 0)

    at(clock, due - timedelta(minutes=1))
    assert (await dispatcher.run_once()).sent == 0
    at(clock, due)
    report = await dispatcher.run_once()
    assert (report.due, report.claimed, report.sent) == (1, 1, 1)
    sent_at = local(sender.sent[0].at, tz)
    assert (sent_at.weekday(), sent_at.hour) == (2, 9)

    after = await store.reminders.get(1)
    assert after is not None and after.next_due_utc is not None
    nxt = local(after.next_due_utc, tz)
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (2, 9, 0)
    assert nxt.date() - local(due, tz).date() == timedelta(days=7)  # (LA changes DST between)
    assert after.last_sent_at is not None


@pytest.mark.parametrize(
    ("tz", "first_due", "expected_gaps"),
    [
        # Europe/Berlin springs forward on Sun 30 Mar 2025 and falls back on Sun 26 Oct 2025.
        ("Europe/Berlin", datetime(2025, 3, 23, 8, 0, tzinfo=UTC), [167, 168]),
        ("Europe/Berlin", datetime(2025, 10, 19, 7, 0, tzinfo=UTC), [169, 168]),
        # America/New_York: forward on Sun 9 Mar 2025, back on Sun 2 Nov 2025.
        ("America/New_York", datetime(2025, 3, 2, 14, 0, tzinfo=UTC), [167, 168]),
        ("America/New_York", datetime(2025, 10, 26, 13, 0, tzinfo=UTC), [169, 168]),
    ],
)
async def test_0900_local_stays_0900_local_across_dst(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock,
    tz: str, first_due: datetime, expected_gaps: list[int],
) -> None:
    """Sunday 09:00 local, on the very day of the change: the UTC instant moves by an hour,
    the local time does not, and the bot (running every minute) sends each week once."""
    at(clock, first_due - timedelta(days=1))
    pref = await opt_in(store, 1, weekday=6, hour=9, tz=tz, now=clock.current)
    assert pref.next_due_utc == first_due
    dues = [first_due]
    for _ in expected_gaps:
        due = dues[-1]
        # the minute before: nothing; at the minute and a few minutes later: one reminder
        at(clock, due - timedelta(minutes=1))
        assert (await dispatcher.run_once()).sent == 0
        for minutes in (0, 1, 2, 30):
            at(clock, due + timedelta(minutes=minutes))
            await dispatcher.run_once()
        nxt = (await store.reminders.get(1)).next_due_utc  # type: ignore[union-attr]
        dues.append(nxt)
    gaps = [round((b - a).total_seconds() / 3600) for a, b in itertools.pairwise(dues)]
    assert gaps == expected_gaps
    assert len(sender.sent) == len(expected_gaps)
    for s in sender.sent:
        lt = local(s.at, tz)
        assert (lt.weekday(), lt.hour) == (6, 9)
    for d in dues:
        assert (local(d, tz).weekday(), local(d, tz).hour, local(d, tz).minute) == (6, 9, 0)


async def test_hour_in_the_spring_forward_gap_moves_forward_not_skipped(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    """02:00 does not exist in Berlin on 30 Mar 2025: that week's reminder comes at 03:00
    CEST (01:00 UTC), and the next week is back at 02:00 local."""
    at(clock, datetime(2025, 3, 29, 12, 0, tzinfo=UTC))
    pref = await opt_in(store, 1, weekday=6, hour=2, tz="Europe/Berlin", now=clock.current)
    assert pref.next_due_utc == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    at(clock, pref.next_due_utc)
    assert (await dispatcher.run_once()).sent == 1
    nxt = (await store.reminders.get(1)).next_due_utc  # type: ignore[union-attr]
    assert local(nxt, "Europe/Berlin").hour == 2  # type: ignore[arg-type]


async def test_weekday_and_hour_change_mid_week(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    tz = "America/New_York"
    at(clock, T0 + timedelta(days=1))  # Tuesday
    first = await opt_in(store, 1, weekday=0, hour=9, tz=tz, now=clock.current)  # Mon 09:00
    # Wednesday: the member moves it to Friday 18:00 — this week's Friday comes first
    at(clock, T0 + timedelta(days=2))
    changed = await opt_in(store, 1, weekday=4, hour=18, tz=tz, now=clock.current)
    assert changed.next_due_utc is not None and first.next_due_utc is not None
    assert changed.next_due_utc < first.next_due_utc
    at(clock, changed.next_due_utc - timedelta(hours=9))  # Friday morning: nothing yet
    assert (await dispatcher.run_once()).sent == 0
    at(clock, changed.next_due_utc)
    assert (await dispatcher.run_once()).sent == 1
    lt = local(sender.sent[0].at, tz)
    assert (lt.weekday(), lt.hour) == (4, 18)

    # Friday 20:00 they move it to 08:00, an hour already past today: next Friday, once
    at(clock, changed.next_due_utc + timedelta(hours=2))
    again = await opt_in(store, 1, weekday=4, hour=8, tz=tz, now=clock.current)
    assert again.next_due_utc is not None
    assert local(again.next_due_utc, tz).date() == (lt + timedelta(days=7)).date()
    # the old Monday 09:00 (after the DST change of 9 March) brings nothing
    at(clock, first.next_due_utc)
    assert (await dispatcher.run_once()).sent == 0
    at(clock, again.next_due_utc)
    assert (await dispatcher.run_once()).sent == 1
    assert len(sender.sent) == 2
    lt2 = local(sender.sent[1].at, tz)
    assert (lt2.weekday(), lt2.hour) == (4, 8)


async def test_schedule_changed_between_claim_and_send_is_not_sent_at_the_old_time(
    store: Store, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    pref = await opt_in(store, 1, weekday=0, hour=9, tz="UTC", now=T0)
    due = pref.next_due_utc
    assert due is not None
    original = store.reminders.claim_many

    async def claim_then_member_changes(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = await original(*args, **kwargs)
        await opt_in(store, 1, weekday=3, hour=7, tz="UTC", now=clock.current)
        return claims

    store.reminders.claim_many = claim_then_member_changes  # type: ignore[method-assign]
    at(clock, due)
    report = await dispatcher.run_once()
    assert (report.claimed, report.sent, report.skipped) == (1, 0, 1)
    store.reminders.claim_many = original  # type: ignore[method-assign]
    new_due = (await store.reminders.get(1)).next_due_utc  # type: ignore[union-attr]
    assert new_due is not None and new_due.weekday() == 3 and new_due.hour == 7
    at(clock, new_due)
    assert (await dispatcher.run_once()).sent == 1


def test_current_period_and_keys() -> None:
    tz = "Europe/Berlin"
    due = datetime(2025, 3, 23, 8, 0, tzinfo=UTC)  # Sun 09:00 CET
    # within the period: [due, next occurrence)
    start, end = current_period(6, 9, tz, due, due + timedelta(days=3))
    assert (start, end) == (due, datetime(2025, 3, 30, 7, 0, tzinfo=UTC))
    # two and a half weeks late: the period containing now
    start, end = current_period(6, 9, tz, due, datetime(2025, 4, 9, 12, 0, tzinfo=UTC))
    assert start == datetime(2025, 4, 6, 7, 0, tzinfo=UTC)
    assert end == datetime(2025, 4, 13, 7, 0, tzinfo=UTC)
    assert period_key(start) == "2025-04-06T07:00Z"
    # exactly at the next occurrence, the next period starts
    start, _ = current_period(6, 9, tz, due, datetime(2025, 3, 30, 7, 0, tzinfo=UTC))
    assert start == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)
    assert next_occurrence(6, 9, tz, start) == datetime(2025, 4, 6, 7, 0, tzinfo=UTC)
