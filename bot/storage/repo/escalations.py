"""Questions members passed to the mentors (*Ask a mentor*, issue 14).

One :class:`~bot.storage.models.Escalation` per member, server and question
(:func:`~bot.storage.overlay_data.question_key`): a second press finds the first. The thread the
Discord front end opens for it is recorded with :meth:`EscalationsRepo.posted`. Claims are a
compare-and-set (``claimed_by IS NULL``), so of two mentors pressing *Claim* at once exactly one
wins. The one reminder of an unclaimed escalation is claimed with a lease
(:meth:`EscalationsRepo.claim_reminders`), like weekly reminders: of any number of dispatchers
on one database, one sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from bot.limits import MAX_QUESTION_CHARS
from bot.storage.errors import InvalidInput
from bot.storage.models import MAX_GUESSES, MAX_NAME, Escalation
from bot.storage.overlay_data import question_key
from bot.storage.repo._base import Repo, check_id, check_optional_id
from bot.storage.tx import Tx


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    id: int
    member_id: int
    guild_id: int
    question: str
    guesses: tuple[str, ...]
    context: str | None
    channel_id: int
    thread_id: int | None
    message_id: int | None
    created_at: datetime
    remind_at: datetime | None
    reminded_at: datetime | None
    claimed_by: int | None
    claimed_name: str | None
    claimed_at: datetime | None
    answered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The member's export of it (the mentor who claimed it is named, not identified)."""
        return {"question": self.question, "guild_id": self.guild_id, "context": self.context,
                "asked_at": self.created_at, "claimed_by": self.claimed_name,
                "claimed_at": self.claimed_at, "answered_at": self.answered_at}


def _record(row: Escalation) -> EscalationRecord:
    return EscalationRecord(
        row.id, row.member_id, row.scope, row.question,
        tuple(g for g in row.guesses.split(",") if g), row.context, row.channel_id,
        row.thread_id, row.message_id, row.created_at, row.remind_at, row.reminded_at,
        row.claimed_by, row.claimed_name, row.claimed_at, row.answered_at)


async def escalations_of(s: Tx, user_id: int) -> list[dict[str, Any]]:
    """A member's escalations, for their export (``escalations``)."""
    rows = await s.scalars(select(Escalation).where(Escalation.member_id == user_id)
                           .order_by(Escalation.created_at, Escalation.id))
    return [_record(r).to_json() for r in rows]


def _guesses(guesses: tuple[str, ...] | list[str]) -> str:
    out = ""
    for g in guesses:
        candidate = f"{out},{g}" if out else g
        if len(candidate) > MAX_GUESSES:
            break
        out = candidate
    return out


class EscalationsRepo(Repo):
    async def open(self, *, member_id: int, guild_id: int, question: str,
                   guesses: tuple[str, ...] | list[str], context: str | None, channel_id: int,
                   remind_at: datetime | None) -> tuple[EscalationRecord, bool]:
        """The member's escalation of ``question`` in ``guild_id``: a new one (``True``), or the
        one they made before (``False``)."""
        check_id(member_id)
        check_id(guild_id, "guild id")
        check_id(channel_id, "channel id")
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("question text is empty")
        clean = question.strip()[:MAX_QUESTION_CHARS]
        key = question_key(clean)
        now = self.now()

        async def tx(s: Tx) -> tuple[EscalationRecord, bool]:
            await self.lock_member(s, member_id, now)
            ins = self.insert(Escalation).values(
                member_id=member_id, scope=guild_id, key=key, question=clean,
                guesses=_guesses(guesses), context=context, channel_id=channel_id,
                created_at=now, remind_at=remind_at)
            new_id = await s.scalar(ins.on_conflict_do_nothing(
                index_elements=["member_id", "scope", "key"]).returning(Escalation.id))
            row = await s.scalar(select(Escalation).where(
                Escalation.member_id == member_id, Escalation.scope == guild_id,
                Escalation.key == key))
            assert row is not None
            return _record(row), new_id is not None

        return await self._db.run(tx)

    async def find(self, member_id: int, guild_id: int,
                   question: str) -> EscalationRecord | None:
        check_id(member_id)
        check_id(guild_id, "guild id")
        key = question_key(question.strip()[:MAX_QUESTION_CHARS])

        async def tx(s: Tx) -> EscalationRecord | None:
            row = await s.scalar(select(Escalation).where(
                Escalation.member_id == member_id, Escalation.scope == guild_id,
                Escalation.key == key))
            return None if row is None else _record(row)

        return await self._db.run(tx, readonly=True)

    async def posts_of(self, member_id: int) -> list[tuple[int, int]]:
        """``(thread id, message id)`` of the member's posted escalations (their deletion
        turns those posts into a note without their words)."""
        check_id(member_id)

        async def tx(s: Tx) -> list[tuple[int, int]]:
            rows = await s.execute(select(Escalation.thread_id, Escalation.message_id).where(
                Escalation.member_id == member_id, Escalation.thread_id.is_not(None),
                Escalation.message_id.is_not(None)))
            return [(int(t), int(m)) for t, m in rows]

        return await self._db.run(tx, readonly=True)

    async def get(self, escalation_id: int) -> EscalationRecord | None:
        check_id(escalation_id, "escalation id")

        async def tx(s: Tx) -> EscalationRecord | None:
            row = await s.get(Escalation, escalation_id)
            return None if row is None else _record(row)

        return await self._db.run(tx, readonly=True)

    async def by_thread(self, thread_id: int) -> EscalationRecord | None:
        """The escalation posted as thread ``thread_id`` (None: that thread is not one)."""
        check_id(thread_id, "thread id")

        async def tx(s: Tx) -> EscalationRecord | None:
            row = await s.scalar(select(Escalation).where(Escalation.thread_id == thread_id)
                                 .order_by(Escalation.id).limit(1))
            return None if row is None else _record(row)

        return await self._db.run(tx, readonly=True)

    async def posted(self, escalation_id: int, thread_id: int, message_id: int) -> bool:
        """Record the thread (and its first message) the escalation was posted as."""
        check_id(escalation_id, "escalation id")
        check_id(thread_id, "thread id")
        check_id(message_id, "message id")

        async def tx(s: Tx) -> bool:
            result = await s.execute(update(Escalation).where(Escalation.id == escalation_id)
                                     .values(thread_id=thread_id, message_id=message_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self._db.run(tx)

    async def discard(self, escalation_id: int) -> None:
        """Forget an escalation that could not be posted (the member may try again)."""
        check_id(escalation_id, "escalation id")

        async def tx(s: Tx) -> None:
            await s.execute(delete(Escalation).where(Escalation.id == escalation_id,
                                                     Escalation.thread_id.is_(None)))

        await self._db.run(tx)

    async def claim(self, escalation_id: int, mentor_id: int,
                    mentor_name: str) -> tuple[EscalationRecord | None, bool]:
        """``mentor_id`` claims it, unless someone did first (compare-and-set). Returns the
        escalation as it now is (None: gone) and whether this call won."""
        check_id(escalation_id, "escalation id")
        check_id(mentor_id, "mentor id")
        now = self.now()

        async def tx(s: Tx) -> tuple[EscalationRecord | None, bool]:
            result = await s.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.claimed_by.is_(None))
                .values(claimed_by=mentor_id, claimed_name=(mentor_name or "a mentor")[:MAX_NAME],
                        claimed_at=now, remind_at=None, reminder_lease_until=None)
                .execution_options(synchronize_session=False))
            won = bool(result.rowcount)  # type: ignore[attr-defined]
            row = await s.get(Escalation, escalation_id, populate_existing=True)
            return (None if row is None else _record(row)), won

        return await self._db.run(tx)

    async def answered(self, escalation_id: int) -> tuple[EscalationRecord | None, bool]:
        """A mentor's reply was marked as the answer: the first time sets ``answered_at`` (and
        stops the reminder). Returns the escalation and whether this was the first answer."""
        check_id(escalation_id, "escalation id")
        now = self.now()

        async def tx(s: Tx) -> tuple[EscalationRecord | None, bool]:
            result = await s.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.answered_at.is_(None))
                .values(answered_at=now, remind_at=None, reminder_lease_until=None)
                .execution_options(synchronize_session=False))
            first = bool(result.rowcount)  # type: ignore[attr-defined]
            row = await s.get(Escalation, escalation_id, populate_existing=True)
            return (None if row is None else _record(row)), first

        return await self._db.run(tx)

    async def withdraw(self, member_id: int, guild_id: int | None,
                       question: str) -> list[EscalationRecord]:
        """The member withdrew ``question``: their escalation of it goes (returned, so its
        thread message can say so)."""
        check_id(member_id)
        check_optional_id(guild_id)
        key = question_key(question.strip()[:MAX_QUESTION_CHARS])

        async def tx(s: Tx) -> list[EscalationRecord]:
            await self.lock_member(s, member_id, create=False)
            cond = and_(Escalation.member_id == member_id, Escalation.key == key)
            if guild_id is not None:
                cond = and_(cond, Escalation.scope == guild_id)
            rows = [_record(r) for r in await s.scalars(select(Escalation).where(cond))]
            await s.execute(delete(Escalation).where(cond)
                            .execution_options(synchronize_session=False))
            return rows

        return await self._db.run(tx)

    # --- the one reminder of an unclaimed escalation ----------------------------------------

    async def claim_reminders(self, now: datetime, lease_seconds: float,
                              limit: int = 100) -> list[EscalationRecord]:
        """Take a lease on unclaimed, unanswered, posted escalations whose reminder is due and
        not leased by anyone else; only the caller sends those (compare-and-set per row)."""
        lease_until = now + timedelta(seconds=lease_seconds)

        due = and_(Escalation.remind_at.is_not(None), Escalation.remind_at <= now,
                   Escalation.reminded_at.is_(None), Escalation.claimed_by.is_(None),
                   Escalation.answered_at.is_(None), Escalation.thread_id.is_not(None),
                   or_(Escalation.reminder_lease_until.is_(None),
                       Escalation.reminder_lease_until <= now))

        async def tx(s: Tx) -> list[EscalationRecord]:
            ids = list(await s.scalars(select(Escalation.id).where(due)
                                       .order_by(Escalation.remind_at, Escalation.id)
                                       .limit(limit)))
            if not ids:
                return []
            won = list(await s.scalars(
                update(Escalation).where(Escalation.id.in_(ids), due)
                .values(reminder_lease_until=lease_until)
                .returning(Escalation.id).execution_options(synchronize_session=False)))
            if not won:
                return []
            rows = await s.scalars(select(Escalation).where(Escalation.id.in_(won))
                                   .order_by(Escalation.id)
                                   .execution_options(populate_existing=True))
            return [_record(r) for r in rows]

        return await self._db.run(tx)

    async def reminded(self, escalation_id: int, now: datetime) -> None:
        """The reminder went out: never again."""
        await self._set(escalation_id, reminded_at=now, remind_at=None,
                        reminder_lease_until=None)

    async def remind_later(self, escalation_id: int, at: datetime | None) -> None:
        """Release the lease: retry the reminder at ``at`` (None: give it up)."""
        await self._set(escalation_id, remind_at=at, reminder_lease_until=None)

    async def _set(self, escalation_id: int, **values: Any) -> None:
        check_id(escalation_id, "escalation id")

        async def tx(s: Tx) -> None:
            await s.execute(update(Escalation).where(Escalation.id == escalation_id)
                            .values(**values).execution_options(synchronize_session=False))

        await self._db.run(tx)

    # --- time to the first human answer -----------------------------------------------------

    async def answer_seconds(self, guild_id: int | None = None) -> list[float]:
        """Seconds from escalation to the first marked answer, per answered escalation (one
        server's, or every server's), sorted."""
        check_optional_id(guild_id)

        async def tx(s: Tx) -> list[float]:
            stmt = select(Escalation.created_at, Escalation.answered_at).where(
                Escalation.answered_at.is_not(None))
            if guild_id is not None:
                stmt = stmt.where(Escalation.scope == guild_id)
            rows = await s.execute(stmt)
            return sorted(max(0.0, (a - c).total_seconds()) for c, a in rows if a is not None)

        return await self._db.run(tx, readonly=True)

    async def open_count(self) -> int:
        """Escalations not answered yet (every server)."""

        async def tx(s: Tx) -> int:
            return int(await s.scalar(select(func.count()).select_from(Escalation)
                                      .where(Escalation.answered_at.is_(None))) or 0)

        return await self._db.run(tx, readonly=True)
