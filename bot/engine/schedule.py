"""When is a member's next weekly reminder? Local weekday + hour in an IANA zone → UTC.

Times are stored as the member's zone and local hour, never as a fixed UTC offset, and the UTC
instant is computed per occurrence, so a reminder stays at 09:00 local across DST changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_WEEKDAY = 0
DEFAULT_HOUR = 9
DEFAULT_TIMEZONE = "UTC"


class ScheduleError(ValueError):
    """A weekday, hour or timezone the member gave that cannot be used."""


# Fixed-offset and legacy names that look like zones but have no daylight saving rules of a
# place (EST is UTC-5 all year, even when New York is on UTC-4), and the tz database's own
# copies under posix/ and right/ (right/ counts leap seconds).
_NOT_PLACES = re.compile(r"(?i)^(?:posix|right|etc|systemv|us|canada|mexico|brazil|chile)/|"
                         r"^(?:[A-Z]{3,4}\d?[A-Z]{0,4}|GMT.*|UCT|Universal|Zulu|Factory|"
                         r"localtime|posixrules)$")
#: Names members type for a fixed-offset abbreviation, and the place zone they usually mean.
_ABBREVIATIONS = {"EST": "America/New_York", "EDT": "America/New_York",
                  "CST": "America/Chicago", "CDT": "America/Chicago",
                  "MST": "America/Denver", "MDT": "America/Denver",
                  "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
                  "CET": "Europe/Berlin", "CEST": "Europe/Berlin", "EET": "Europe/Athens",
                  "WET": "Europe/Lisbon", "BST": "Europe/London", "GMT": "Europe/London",
                  "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "AEST": "Australia/Sydney"}


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """The IANA place zones (``Europe/Berlin``), and UTC."""
    return tuple(sorted(n for n in available_timezones()
                        if n == "UTC" or ("/" in n and not _NOT_PLACES.match(n))))


@lru_cache(maxsize=1)
def _lower_names() -> dict[str, str]:
    return {n.lower(): n for n in timezone_names()}


def parse_timezone(name: str | None) -> str:
    if not name or not name.strip():
        return DEFAULT_TIMEZONE
    key = name.strip().replace(" ", "_")
    canonical = _lower_names().get(key.lower())
    if canonical is not None:
        return canonical
    place = _ABBREVIATIONS.get(key.upper())
    if place is not None:  # EST, CET …: a fixed offset, wrong half the year
        raise ScheduleError(
            f"{key.upper()} is a fixed offset with no daylight saving, so your reminder would "
            f"move by an hour for half the year: use a place, e.g. {place}")
    raise ScheduleError(
        f"unknown timezone {name.strip()[:60]!r}: use an IANA name like Europe/Berlin")


def parse_weekday(value: str | int | None) -> int:
    if value is None or value == "":
        return DEFAULT_WEEKDAY
    if isinstance(value, int):
        if 0 <= value <= 6:
            return value
        raise ScheduleError("weekday must be 0 (Monday) to 6 (Sunday)")
    text = value.strip().lower()
    if text.isdigit():
        return parse_weekday(int(text))
    for i, name in enumerate(WEEKDAYS):
        if len(text) >= 2 and name.startswith(text):
            return i
    raise ScheduleError(f"unknown weekday {value.strip()[:20]!r}: use Monday … Sunday")


def parse_hour(value: str | int | None) -> int:
    if value is None or value == "":
        return DEFAULT_HOUR
    try:
        text = str(value).strip().lower().removesuffix(":00")
        pm = text.endswith("pm")
        am = text.endswith("am")
        hour = int(text.removesuffix("pm").removesuffix("am").strip())
    except ValueError as exc:
        raise ScheduleError("hour must be a whole hour from 0 to 23 (or 1am … 12pm)") from exc
    if pm or am:
        if not 1 <= hour <= 12:
            raise ScheduleError("with am/pm the hour is 1 to 12")
        hour = hour % 12 + (12 if pm else 0)
    if not 0 <= hour <= 23:
        raise ScheduleError("hour must be a whole hour from 0 to 23")
    return hour


def local_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``hour``:00 on ``day`` in ``zone``.

    In a spring-forward gap (02:30 does not exist) the wall clock is moved forward by the gap;
    in a fall-back overlap the first of the two instants is used."""
    # fold=0 takes the offset in force before a transition: in a gap that lands after it
    # (02:30 → 03:30), in an overlap on the earlier of the two instants (PEP 495).
    return datetime.combine(day, time(hour), tzinfo=zone).replace(fold=0).astimezone(UTC)


def next_occurrence(weekday: int, hour: int, tz: str, after: datetime) -> datetime:
    """The first weekly reminder instant strictly after ``after`` (aware), in UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = ZoneInfo(tz)
    local_day = after.astimezone(zone).date()
    start = local_day - timedelta(days=(local_day.weekday() - weekday) % 7)
    for week in range(3):
        candidate = local_instant(start + timedelta(days=7 * week), hour, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a weekly slot always exists within three weeks")


def period_key(due_utc: datetime) -> str:
    """The delivery period a due instant belongs to: its scheduled UTC minute. One row per
    member per key is what makes a reminder go out at most once."""
    return due_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def current_period(
    weekday: int, hour: int, tz: str, due: datetime, now: datetime
) -> tuple[datetime, datetime]:
    """The delivery period ``[start, end)`` a reminder due at ``due`` is sent in at ``now``.

    A period runs from one weekly occurrence to the next. While ``now`` is before the next
    occurrence after ``due``, that is ``[due, next)``: a late reminder (the bot was down) still
    goes out, once. If whole periods were missed, they are skipped and the period is the one
    that contains ``now`` (its start is the latest occurrence at or before ``now``), so a bot
    back after weeks sends one reminder, not one per missed week.
    """
    if due.tzinfo is None or now.tzinfo is None:
        raise ValueError("due and now must be timezone-aware")
    end = next_occurrence(weekday, hour, tz, due)
    if end > now:
        return due.astimezone(UTC), end
    # weekly occurrences are at most 7 days + 1 hour (a DST change) apart
    start = next_occurrence(weekday, hour, tz, max(due, now - timedelta(days=8)))
    while True:
        end = next_occurrence(weekday, hour, tz, start)
        if end > now:
            return start, end
        start = end
