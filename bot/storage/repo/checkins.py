"""Weekly check-ins (done / next / blocker) and snoozed weeks, one row per member and week."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, select

from bot.storage.errors import InvalidInput
from bot.storage.models import (
    MAX_CHECKIN_TEXT,
    MAX_INTENT_ID,
    CheckIn,
    GuildMembership,
    Member,
)
from bot.storage.repo._base import Repo, check_aware, check_id
from bot.storage.tx import Tx

WEEK = re.compile(r"[0-9]{4}-W[0-9]{2}")

CheckInKind = Literal["checkin", "snoozed"]


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    week: str  # ISO week, "2026-W49"
    kind: CheckInKind
    done: str | None
    next_step: str | None
    blocker: str | None
    blocker_intent: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OpenBlocker:
    """A member's blocker still open at the end of a window: their latest check-in in it
    names one. ``sharing``: the member lets others see their progress."""

    member_id: int
    blocker: str
    blocker_intent: str | None
    sharing: bool
    at: datetime


def check_week(week: object) -> str:
    if not isinstance(week, str) or not WEEK.fullmatch(week):
        raise InvalidInput(f"week must look like 2026-W49, got {week!r}")
    return week


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:MAX_CHECKIN_TEXT] or None


async def checkins_for(s: Tx, user_id: int) -> list[CheckInRecord]:
    rows = await s.scalars(select(CheckIn).where(CheckIn.member_id == user_id)
                           .order_by(CheckIn.week.desc()))
    return [CheckInRecord(r.week, r.kind, r.done, r.next_step,
                          r.blocker, r.blocker_intent, r.at) for r in rows]


class CheckInsRepo(Repo):
    async def check_in(self, user_id: int, week: str, *, done: str | None,
                       next_step: str | None, blocker: str | None,
                       blocker_intent: str | None) -> CheckInRecord:
        """Store the member's check-in for ``week`` (a second one that week replaces it, and
        replaces a snooze)."""
        check_id(user_id)
        check_week(week)
        if blocker_intent is not None and len(blocker_intent) > MAX_INTENT_ID:
            raise InvalidInput("intent id too long")
        now = self.now()
        record = CheckInRecord(week, "checkin", _text(done), _text(next_step), _text(blocker),
                               blocker_intent, now)
        values = {"kind": "checkin", "done": record.done, "next_step": record.next_step,
                  "blocker": record.blocker, "blocker_intent": blocker_intent, "at": now}

        async def tx(s: Tx) -> CheckInRecord:
            await self.lock_member(s, user_id, now)
            stmt = self.insert(CheckIn).values(member_id=user_id, week=week, **values)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[CheckIn.member_id, CheckIn.week], set_=values))
            return record

        return await self._db.run(tx)

    async def snoozed(self, user_id: int, week: str) -> None:
        """Remember that the member snoozed ``week`` (kept out of their streak's count, but
        not a break); a check-in that week stays what it is."""
        check_id(user_id)
        check_week(week)
        now = self.now()

        async def tx(s: Tx) -> None:
            await self.lock_member(s, user_id, now)
            await s.execute(self.insert(CheckIn)
                            .values(member_id=user_id, week=week, kind="snoozed", at=now)
                            .on_conflict_do_nothing(index_elements=[CheckIn.member_id,
                                                                    CheckIn.week]))

        await self._db.run(tx)

    async def history(self, user_id: int) -> list[CheckInRecord]:
        """The member's weeks, newest first."""
        check_id(user_id)
        return await self._db.run(lambda s: checkins_for(s, user_id), readonly=True)

    async def open_blockers(self, guild_id: int, since: datetime,
                            until: datetime) -> list[OpenBlocker]:
        """The blockers of the server's members whose latest check-in in ``[since, until)``
        names one (a later check-in without a blocker closes it), oldest first. Driven from
        the server's memberships: other servers' members are never read."""
        check_id(guild_id, "guild id")
        check_aware(since, "since")
        check_aware(until, "until")

        async def tx(s: Tx) -> list[OpenBlocker]:
            rows = await s.execute(
                select(CheckIn.member_id, CheckIn.blocker, CheckIn.blocker_intent,
                       Member.sharing, CheckIn.at)
                .select_from(GuildMembership)
                .join(CheckIn, and_(CheckIn.member_id == GuildMembership.member_id,
                                    CheckIn.kind == "checkin", CheckIn.at >= since,
                                    CheckIn.at < until))
                .join(Member, Member.id == GuildMembership.member_id)
                .where(GuildMembership.guild_id == guild_id)
                .order_by(CheckIn.member_id, CheckIn.at.desc()))
            latest: dict[int, OpenBlocker | None] = {}
            for member_id, blocker, intent, sharing, at in rows:
                if member_id not in latest:
                    latest[member_id] = (OpenBlocker(member_id, blocker, intent, bool(sharing), at)
                                         if blocker else None)
            found = [b for b in latest.values() if b is not None]
            return sorted(found, key=lambda b: (b.at, b.member_id))

        return await self._db.run(tx, readonly=True, offload=True)
