"""Reminder preferences and the delivery guard that makes a reminder go out once.

Preferences: opted in, weekday (Monday = 0), local hour, IANA time zone, the next due time in
UTC (computed by the caller, ``bot.reminders``), and a pause reason (e.g. DMs closed).

Deliveries (for the dispatcher): one ``reminder_delivery`` row per member per period
(``UNIQUE(member_id, period_key)``).

* :meth:`RemindersRepo.claim` inserts that row (``status='claimed'`` with a lease). If the row
  exists, it is re-claimed only if it is ``claimed`` or ``failed`` and its lease has expired —
  one conditional ``UPDATE .. WHERE lease_until < now`` that a single process can win (row lock
  on PostgreSQL, the database write lock on SQLite). A ``sent`` delivery is never claimed
  again.
* :meth:`RemindersRepo.mark_sent` closes it and advances the preference's ``next_due_utc``.
* :meth:`RemindersRepo.mark_failed` records the error; with ``retry_at`` it may be re-claimed
  from then on, without it the failure is final for that period.
* :meth:`RemindersRepo.claim_many` is :meth:`~RemindersRepo.claim` for a batch (one
  ``INSERT .. SELECT .. ON CONFLICT DO NOTHING RETURNING`` per distinct period key plus one
  conditional ``UPDATE .. RETURNING`` for the expired leases): same guarantees, one
  transaction instead of one per member.
* :meth:`RemindersRepo.snapshots` loads what a reminder shows for a batch of members (two or
  three queries), and :meth:`RemindersRepo.advance` moves ``next_due_utc`` on only if it
  still holds the value the caller saw (a compare-and-set that never clobbers a member's own
  change).
* :meth:`RemindersRepo.due_batch` reads Core rows (no ORM objects) and, on SQLite, keeps later
  pages on the primary key (see the comment there).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    Table,
    any_,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY

from bot.storage.errors import InvalidInput, NotFound, StorageError
from bot.storage.models import (
    MAX_ERROR,
    MAX_REASON,
    ChecklistEvent,
    ChecklistProgress,
    Member,
    ReminderDelivery,
    ReminderPref,
)
from bot.storage.records import DeliveryClaim, DeliveryRecord, ReminderPrefRecord
from bot.storage.repo._base import Repo, check_aware, check_id, check_optional_id
from bot.storage.tx import Tx


@dataclass(frozen=True, slots=True)
class ReminderSnapshot:
    """What a member's reminder shows, read in one go (see :meth:`RemindersRepo.snapshots`)."""

    user_id: int
    member_created_at: datetime
    current_phase: int | None
    pref: ReminderPrefRecord | None
    #: item id -> when it was (last) marked done, for every item currently done (read-only)
    done: Mapping[str, datetime | None]
    #: the member's latest checklist event (done or undone), if any
    last_event_at: datetime | None

    def done_since(self, since: datetime) -> list[str]:
        """Like :meth:`ChecklistRepo.done_since`: items done at or after ``since``, oldest first."""
        hits = [(at, item) for item, at in self.done.items() if at is not None and at >= since]
        return [item for _, item in sorted(hits)]


def _id_in(column: Any, ids: Sequence[int], postgres: bool) -> tuple[Any, ...]:
    """``column IN ids`` plus the redundant ``BETWEEN min AND max``: batches come from keyset
    pages, so the range is narrow, and it lets the planner see that an index scan beats a
    sequential scan (PostgreSQL otherwise seq-scans a mid-sized table for a 500-value IN).
    On PostgreSQL the ids travel as one ``bigint[]`` parameter (``= ANY(:ids)``)."""
    bounds = column.between(min(ids), max(ids))
    if postgres:
        return column == any_(literal(list(ids), ARRAY(BigInteger))), bounds
    return column.in_(ids), bounds


class _Unset(enum.Enum):
    UNSET = "unset"


#: "no expected value given" for compare-and-set parameters
UNSET = _Unset.UNSET


class _ClaimRace(StorageError):
    """A member of the batch vanished mid-claim (foreign key): fall back to one by one."""


#: reminder_pref columns in ReminderPrefRecord field order (Core rows → records positionally)
def _pref_columns() -> tuple[Any, ...]:
    t = ReminderPref.__table__
    return (t.c.member_id, t.c.enabled, t.c.weekday, t.c.hour, t.c.timezone,
            t.c.next_due_utc, t.c.paused_reason, t.c.last_sent_at, t.c.updated_at)


def _pref(row: ReminderPref) -> ReminderPrefRecord:
    return ReminderPrefRecord(
        user_id=row.member_id,
        enabled=row.enabled,
        weekday=row.weekday,
        hour=row.hour,
        timezone=row.timezone,
        next_due_utc=row.next_due_utc,
        paused_reason=row.paused_reason,
        last_sent_at=row.last_sent_at,
        updated_at=row.updated_at,
    )


def _delivery(row: ReminderDelivery) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        user_id=row.member_id,
        period_key=row.period_key,
        status=row.status,  # type: ignore[arg-type]
        claimed_at=row.claimed_at,
        lease_until=row.lease_until,
        sent_at=row.sent_at,
        attempts=row.attempts,
        error=row.error,
    )


def validate_timezone(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidInput(f"unknown time zone {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r} (use an IANA name like Europe/Paris)"
        ) from None
    return name


async def deliveries_for(s: Tx, user_id: int) -> list[DeliveryRecord]:
    rows = await s.scalars(
        select(ReminderDelivery)
        .where(ReminderDelivery.member_id == user_id)
        .order_by(ReminderDelivery.claimed_at, ReminderDelivery.id)
    )
    return [_delivery(r) for r in rows]


async def pref_for(s: Tx, user_id: int) -> ReminderPrefRecord | None:
    row = await s.get(ReminderPref, user_id, populate_existing=True)
    return None if row is None else _pref(row)


class RemindersRepo(Repo):
    # -- preferences ----------------------------------------------------------------------------

    async def get(self, user_id: int) -> ReminderPrefRecord | None:
        check_id(user_id)
        return await self._db.run(lambda s: pref_for(s, user_id), readonly=True)

    async def set(
        self,
        user_id: int,
        *,
        enabled: bool,
        weekday: int,
        hour: int,
        timezone: str,
        next_due_utc: datetime | None,
    ) -> ReminderPrefRecord:
        """Create or replace the preferences (this also clears any pause)."""
        check_id(user_id)
        if isinstance(weekday, bool) or weekday not in range(7):
            raise InvalidInput(f"weekday must be 0 (Monday) .. 6 (Sunday), got {weekday!r}")
        if isinstance(hour, bool) or hour not in range(24):
            raise InvalidInput(f"hour must be 0..23, got {hour!r}")
        validate_timezone(timezone)
        if next_due_utc is not None:
            check_aware(next_due_utc, "next_due_utc")
        now = self.now()
        values = {
            "enabled": bool(enabled),
            "weekday": weekday,
            "hour": hour,
            "timezone": timezone,
            "next_due_utc": next_due_utc,
            "paused_reason": None,
            "updated_at": now,
        }

        async def tx(s: Tx) -> ReminderPrefRecord:
            await self.lock_member(s, user_id, now)
            ins = self.insert(ReminderPref).values(member_id=user_id, **values)
            await s.execute(
                ins.on_conflict_do_update(index_elements=[ReminderPref.member_id], set_=values)
            )
            record = await pref_for(s, user_id)
            assert record is not None
            return record

        return await self._db.run(tx)

    async def _update(self, user_id: int, **values: object) -> ReminderPrefRecord | None:
        async def tx(s: Tx) -> ReminderPrefRecord | None:
            await self.lock_member(s, user_id, create=False)
            result = await s.execute(
                update(ReminderPref)
                .where(ReminderPref.member_id == user_id)
                .values(updated_at=self.now(), **values)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                return None
            return await pref_for(s, user_id)

        return await self._db.run(tx)

    async def pause(self, user_id: int, reason: str) -> ReminderPrefRecord:
        """Stop reminding until the member sets preferences again (e.g. DMs closed)."""
        check_id(user_id)
        reason = (str(reason).strip() or "paused")[:MAX_REASON]
        record = await self._update(user_id, paused_reason=reason)
        if record is None:
            raise NotFound(f"member {user_id} has no reminder preferences")
        return record

    async def disable(self, user_id: int) -> ReminderPrefRecord | None:
        """Opt out (keeps weekday/hour/zone for a later opt-in); ``None`` if never set."""
        check_id(user_id)
        return await self._update(user_id, enabled=False)

    # -- dispatcher -----------------------------------------------------------------------------

    async def due_batch(
        self, now: datetime, limit: int, after_member_id: int | None = None
    ) -> list[ReminderPrefRecord]:
        """Enabled, unpaused preferences with ``next_due_utc <= now``, by member id.

        Keyset pagination: pass the last ``user_id`` of a batch as ``after_member_id``.
        """
        check_aware(now, "now")
        check_optional_id(after_member_id, "after_member_id")
        if limit < 1:
            raise InvalidInput("limit must be at least 1")

        async def tx(s: Tx) -> list[ReminderPrefRecord]:
            t = cast(Table, ReminderPref.__table__)
            enabled: Any = t.c.enabled
            due: Any = t.c.next_due_utc
            if after_member_id is not None and self._db.is_sqlite:
                # A later page exists only when many are due. A unary + keeps SQLite's
                # planner off the (enabled, next_due_utc) index, so it walks the primary key
                # from the last id instead of sorting every due row again for each page.
                enabled = literal_column(f"+{t.name}.enabled", type_=t.c.enabled.type)
                due = literal_column(f"+{t.name}.next_due_utc", type_=t.c.next_due_utc.type)
            stmt = (
                select(*_pref_columns())  # Core rows: no ORM identity map for a batch
                .where(enabled.is_(True), due <= now, t.c.paused_reason.is_(None))
                .order_by(t.c.member_id)
                .limit(limit)
            )
            if after_member_id is not None:
                stmt = stmt.where(t.c.member_id > after_member_id)
            return [ReminderPrefRecord(*r) for r in await s.execute(stmt)]

        return await self._db.run(tx, readonly=True)

    async def claim(
        self, user_id: int, period_key: str, now: datetime, lease_seconds: float
    ) -> DeliveryClaim | None:
        """Claim the delivery of ``period_key`` for ``user_id``; ``None`` if not ours to send.

        ``None`` means it was sent already, failed for good, or another process holds an
        unexpired lease. Safe under concurrency: at most one caller gets the claim.
        """
        check_id(user_id)
        if not isinstance(period_key, str) or not period_key or len(period_key) > 32:
            raise InvalidInput("period key must be a non-empty string of at most 32 characters")
        check_aware(now, "now")
        if lease_seconds <= 0:
            raise InvalidInput("lease_seconds must be positive")
        lease = now + timedelta(seconds=lease_seconds)
        rd = ReminderDelivery

        async def tx(s: Tx) -> DeliveryClaim | None:
            await self.lock_member(s, user_id, create=False)
            ins = (
                self.insert(rd)
                .values(
                    member_id=user_id,
                    period_key=period_key,
                    status="claimed",
                    claimed_at=now,
                    lease_until=lease,
                    attempts=1,
                )
                .on_conflict_do_nothing(index_elements=[rd.member_id, rd.period_key])
                .returning(rd.id, rd.attempts)
            )
            try:
                row = (await s.execute(ins)).first()
            except sa_exc.IntegrityError:
                raise NotFound(f"member {user_id} not found") from None
            if row is None:
                upd = (
                    update(rd)
                    .where(
                        rd.member_id == user_id,
                        rd.period_key == period_key,
                        rd.status.in_(("claimed", "failed")),
                        rd.lease_until.is_not(None),
                        rd.lease_until < now,
                    )
                    .values(
                        status="claimed",
                        claimed_at=now,
                        lease_until=lease,
                        attempts=rd.attempts + 1,
                        error=None,
                    )
                    .returning(rd.id, rd.attempts)
                )
                row = (await s.execute(upd)).first()
            if row is None:
                return None
            return DeliveryClaim(
                delivery_id=row.id,
                user_id=user_id,
                period_key=period_key,
                attempts=row.attempts,
                claimed_at=now,
                lease_until=lease,
            )

        return await self._db.run(tx)

    async def _locked_delivery(self, s: Tx, delivery_id: int) -> ReminderDelivery:
        """The delivery row, locked after its member's row (the one lock order)."""
        member_id = await s.scalar(
            select(ReminderDelivery.member_id).where(ReminderDelivery.id == delivery_id)
        )
        row = None
        if member_id is not None:
            await self.lock_member(s, member_id, create=False)
            row = await s.get(
                ReminderDelivery, delivery_id, with_for_update=True, populate_existing=True
            )
        if row is None:
            raise NotFound(f"reminder delivery {delivery_id} not found")
        return row

    async def mark_sent(
        self,
        delivery_id: int,
        now: datetime,
        next_due_utc: datetime | None,
        *,
        expected_due: datetime | _Unset | None = UNSET,
    ) -> DeliveryRecord:
        """The reminder went out: close the delivery, record it and schedule the next one.

        ``expected_due`` makes the schedule change a compare-and-set: ``next_due_utc`` is
        stored only if the preference still holds ``expected_due`` (the due time the caller
        planned this send from). A member who changed their schedule while the DM was being
        sent keeps their change; the delivery is closed as sent either way and
        ``last_sent_at`` is recorded. Without ``expected_due`` the schedule is overwritten
        (callers that own the schedule).
        """
        check_aware(now, "now")
        if next_due_utc is not None:
            check_aware(next_due_utc, "next_due_utc")
        if isinstance(expected_due, datetime):
            check_aware(expected_due, "expected_due")
        rp = ReminderPref

        async def tx(s: Tx) -> DeliveryRecord:
            row = await self._locked_delivery(s, delivery_id)
            row.status = "sent"
            row.sent_at = now
            row.error = None
            mine = rp.member_id == row.member_id
            if isinstance(expected_due, _Unset):
                await s.execute(
                    update(rp)
                    .where(mine)
                    .values(last_sent_at=now, next_due_utc=next_due_utc, updated_at=now)
                )
            else:
                same = (
                    rp.next_due_utc.is_(None)
                    if expected_due is None
                    else rp.next_due_utc == expected_due
                )
                moved = await s.execute(
                    update(rp)
                    .where(mine, same)
                    .values(last_sent_at=now, next_due_utc=next_due_utc, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if not moved.rowcount:  # type: ignore[attr-defined]
                    # changed meanwhile: keep the member's schedule, record the send only
                    await s.execute(
                        update(rp)
                        .where(mine)
                        .values(last_sent_at=now)
                        .execution_options(synchronize_session=False)
                    )
            await s.flush()
            return _delivery(row)

        return await self._db.run(tx)

    async def mark_failed(
        self, delivery_id: int, error: str, retry_at: datetime | None = None
    ) -> DeliveryRecord:
        """Record a failed send; re-claimable from ``retry_at`` on, or never if ``None``.

        A delivery already marked sent (by a process that re-claimed it) stays sent.
        """
        if retry_at is not None:
            check_aware(retry_at, "retry_at")

        async def tx(s: Tx) -> DeliveryRecord:
            row = await self._locked_delivery(s, delivery_id)
            if row.status != "sent":
                row.status = "failed"
                row.error = (str(error).strip() or "failed")[:MAX_ERROR]
                row.lease_until = retry_at
                await s.flush()
            return _delivery(row)

        return await self._db.run(tx)

    # -- dispatcher, in batches -----------------------------------------------------------------

    async def claim_many(
        self, items: Sequence[tuple[int, str]], now: datetime, lease_seconds: float
    ) -> list[DeliveryClaim]:
        """:meth:`claim` for many ``(user_id, period_key)`` pairs in one transaction.

        Returns the claims won, in the order of ``items``; pairs that were sent already,
        failed for good, are leased by another process, or whose member no longer exists are
        left out. Same guarantee as :meth:`claim`: at most one caller wins each pair.
        """
        check_aware(now, "now")
        if lease_seconds <= 0:
            raise InvalidInput("lease_seconds must be positive")
        pairs: dict[int, str] = {}
        for user_id, period_key in items:
            check_id(user_id)
            if not isinstance(period_key, str) or not period_key or len(period_key) > 32:
                raise InvalidInput("period key must be a non-empty string of at most 32 characters")
            if pairs.setdefault(user_id, period_key) != period_key:
                raise InvalidInput(f"member {user_id} appears twice with different periods")
        if not pairs:
            return []
        lease = now + timedelta(seconds=lease_seconds)
        rd = ReminderDelivery

        pg = self._db.is_postgres
        by_key: dict[str, list[int]] = {}
        for uid, key in pairs.items():
            by_key.setdefault(key, []).append(uid)
        t = cast(Table, rd.__table__)

        async def tx(s: Tx) -> dict[int, tuple[int, int]]:
            await self.lock_members(s, pairs)
            won: dict[int, tuple[int, int]] = {}
            # One INSERT .. SELECT per distinct period key (members due in the same minute
            # share one): rows only for members that exist, RETURNING only rows inserted.
            for key, uids in by_key.items():
                source = select(
                    Member.id,
                    literal(key, t.c.period_key.type),
                    literal("claimed", t.c.status.type),
                    literal(now, t.c.claimed_at.type),
                    literal(lease, t.c.lease_until.type),
                    literal(1, t.c.attempts.type),
                ).where(*_id_in(Member.id, uids, pg))
                ins = (
                    self.insert(t)
                    .from_select(
                        ["member_id", "period_key", "status", "claimed_at", "lease_until",
                         "attempts"],
                        source,
                    )
                    .on_conflict_do_nothing(index_elements=[t.c.member_id, t.c.period_key])
                    .returning(t.c.member_id, t.c.id, t.c.attempts)
                )
                try:
                    for member_id, delivery_id, attempts in await s.execute(ins):
                        won[member_id] = (delivery_id, attempts)
                except sa_exc.IntegrityError:  # a member was deleted while we inserted
                    raise _ClaimRace() from None
            rest = [(uid, key) for uid, key in pairs.items() if uid not in won]
            if rest:  # rows that exist: re-claim those whose lease has expired
                upd = (
                    update(t)
                    .where(
                        *_id_in(t.c.member_id, [uid for uid, _ in rest], pg),
                        tuple_(t.c.member_id, t.c.period_key).in_(rest),
                        t.c.status.in_(("claimed", "failed")),
                        t.c.lease_until.is_not(None),
                        t.c.lease_until < now,
                    )
                    .values(
                        status="claimed",
                        claimed_at=now,
                        lease_until=lease,
                        attempts=t.c.attempts + 1,
                        error=None,
                    )
                    .returning(t.c.member_id, t.c.id, t.c.attempts)
                )
                for member_id, delivery_id, attempts in await s.execute(upd):
                    won[member_id] = (delivery_id, attempts)
            return won

        try:
            won = await self._db.run(tx)
        except _ClaimRace:
            claims: list[DeliveryClaim] = []
            for user_id, period_key in pairs.items():
                try:
                    claim = await self.claim(user_id, period_key, now, lease_seconds)
                except NotFound:
                    continue
                if claim is not None:
                    claims.append(claim)
            return claims
        return [
            DeliveryClaim(
                delivery_id=won[uid][0],
                user_id=uid,
                period_key=key,
                attempts=won[uid][1],
                claimed_at=now,
                lease_until=lease,
            )
            for uid, key in pairs.items()
            if uid in won
        ]

    async def snapshots(
        self, user_ids: Sequence[int], *, with_prefs: bool = True
    ) -> dict[int, ReminderSnapshot]:
        """What each member's reminder shows, for a batch of members, in one read transaction
        (two or three queries, whatever the batch size). Members that do not exist are left
        out. ``with_prefs=False`` skips the preferences (``pref`` is ``None``) for a caller
        that has them already."""
        ids = sorted({check_id(u) for u in user_ids})
        if not ids:
            return {}
        pg = self._db.is_postgres
        m, cp, ev = Member.__table__, ChecklistProgress.__table__, ChecklistEvent.__table__
        last_event = (
            select(func.max(ev.c.at)).where(ev.c.member_id == m.c.id).scalar_subquery()
        )

        async def tx(s: Tx) -> dict[int, ReminderSnapshot]:
            members = (
                await s.execute(
                    select(m.c.id, m.c.created_at, m.c.current_phase, last_event).where(
                        *_id_in(m.c.id, ids, pg)
                    )
                )
            ).all()
            prefs: dict[int, ReminderPrefRecord] = {}
            if with_prefs:
                t = ReminderPref.__table__
                rows = await s.execute(
                    select(*_pref_columns()).where(*_id_in(t.c.member_id, ids, pg))
                )
                prefs = {r[0]: ReminderPrefRecord(*r) for r in rows}
            done: dict[int, dict[str, datetime | None]] = {}
            for member_id, item_id, done_at in await s.execute(
                select(cp.c.member_id, cp.c.item_id, cp.c.done_at).where(
                    *_id_in(cp.c.member_id, ids, pg), cp.c.done.is_(True)
                )
            ):
                done.setdefault(member_id, {})[item_id] = done_at
            return {
                member_id: ReminderSnapshot(
                    user_id=member_id,
                    member_created_at=created_at,
                    current_phase=phase,
                    pref=prefs.get(member_id),
                    done=done.get(member_id, {}),
                    last_event_at=last_at,
                )
                for member_id, created_at, phase, last_at in members
            }

        return await self._db.run(tx, readonly=True)

    async def advance(
        self, user_id: int, expected_due: datetime | None, next_due_utc: datetime | None
    ) -> bool:
        """Set ``next_due_utc`` only if it still is ``expected_due``; True if it was moved.

        For the dispatcher giving up on a period (a final failure) without clobbering a
        schedule the member changed in the meantime.
        """
        check_id(user_id)
        if expected_due is not None:
            check_aware(expected_due, "expected_due")
        if next_due_utc is not None:
            check_aware(next_due_utc, "next_due_utc")
        rp = ReminderPref
        same = (
            rp.next_due_utc.is_(None) if expected_due is None else rp.next_due_utc == expected_due
        )

        async def tx(s: Tx) -> bool:
            await self.lock_member(s, user_id, create=False)
            result = await s.execute(
                update(rp)
                .where(rp.member_id == user_id, same)
                .values(next_due_utc=next_due_utc, updated_at=self.now())
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self._db.run(tx)
