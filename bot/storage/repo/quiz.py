"""Placement quiz attempts: start / resume / answer / go back / finish; attempts are kept.

Invariants (enforced here and by the schema):

* at most one ``open`` attempt per member (partial unique index), so a second "start" resumes;
* answers are stored per question index and always form a prefix ``0..n-1``;
* only the attempt's owner may answer, go back or finish it, and only while it is open;
* a retake (``start(restart=True)``) marks the open attempt ``abandoned`` and keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

from sqlalchemy import BigInteger, Row, Table, bindparam, delete, insert, select, update

from bot.storage.db import UTCDateTime
from bot.storage.direct import hot
from bot.storage.errors import Conflict, NotFound
from bot.storage.models import (
    ONE_OPEN_ATTEMPT,
    GuildMembership,
    Member,
    QuizAnswer,
    QuizAttempt,
)
from bot.storage.records import QuizAttemptRecord
from bot.storage.repo._base import (
    Repo,
    check_id,
    check_index,
    check_phase,
    core,
    shared_sql,
)
from bot.storage.tx import Tx


def _record(att: QuizAttempt | Row[Any], answers: Sequence[bool]) -> QuizAttemptRecord:
    return QuizAttemptRecord(
        id=att.id,
        user_id=att.member_id,
        status=att.status,  # type: ignore[arg-type]
        answers=tuple(answers),
        started_at=att.started_at,
        finished_at=att.finished_at,
        score=att.score,
        phase=att.phase,
    )


# The statements of a quiz click, built once (see repo._base.core)
_ANSWERS = hot(select(QuizAnswer.yes).where(QuizAnswer.attempt_id == bindparam("attempt_id"))
               .order_by(QuizAnswer.question_index))
_ANSWER = hot(insert(QuizAnswer))
_ATTEMPTS = cast(Table, QuizAttempt.__table__)
#: the attempt, locked, with its answers in order: one row per answer, or one with ``yes``
#: NULL when there is none (a quiz click or finish reads it as rows: no ORM object)
_OWNED = hot(select(_ATTEMPTS, QuizAnswer.yes)
             .outerjoin(QuizAnswer, QuizAnswer.attempt_id == _ATTEMPTS.c.id)
             .where(_ATTEMPTS.c.id == bindparam("attempt_id"))
             .order_by(QuizAnswer.question_index)
             .with_for_update(of=_ATTEMPTS))
_DROP_ANSWER = hot(delete(QuizAnswer).where(QuizAnswer.attempt_id == bindparam("attempt_id"),
                                            QuizAnswer.question_index == bindparam("index")))
_FINISH = hot(update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt_id"))
              .values(status="finished", finished_at=bindparam("now"), score=bindparam("score"),
                      phase=bindparam("new_phase")))
#: the member's phase from a finished quiz, and the copies /stats counts (models.GuildMembership)
_PLACE = [hot(update(table).where(table.c[key] == bindparam("who"))
              .values(current_phase=bindparam("new_phase"),
                      quizzes_finished=table.c.quizzes_finished + 1, **extra))
          for table, key, extra in ((cast(Table, Member.__table__), "id", {"phase_source": "quiz"}),
                                    (cast(Table, GuildMembership.__table__), "member_id", {}))]
_OPEN = hot(select(_ATTEMPTS)
            .where(_ATTEMPTS.c.member_id == bindparam("member_id"), _ATTEMPTS.c.status == "open")
            .with_for_update())
_ABANDON = hot(update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt_id"))
               .values(status="abandoned", finished_at=bindparam("now")))
#: a new open attempt, as a row; none when the member already has one (the partial unique
#: index ``uq_quiz_attempt_one_open``: both dialects spell the upsert alike, and a text clause
#: needs no savepoint to survive the conflict). Marked again: ``.columns()`` makes a new
#: statement, and the one that runs is the one marked
_NEW_OPEN = hot(shared_sql(
    f"INSERT INTO {_ATTEMPTS.name} (member_id, started_at, status) "
    "VALUES (:member_id, :now, 'open') "
    f"ON CONFLICT (member_id) WHERE {ONE_OPEN_ATTEMPT} DO NOTHING "
    f"RETURNING {', '.join(c.name for c in _ATTEMPTS.c)}",
    member_id=BigInteger(), now=UTCDateTime()).columns(*_ATTEMPTS.c))


async def _answers(s: Tx, attempt_id: int) -> list[bool]:
    return list(await (await core(s)).scalars(_ANSWERS, {"attempt_id": attempt_id}))


_A = TypeVar("_A", QuizAttempt, Row[Any])


def _check_owner(att: _A | None, attempt_id: int, user_id: int) -> _A:
    if att is None:
        raise NotFound(f"quiz attempt {attempt_id} not found")
    if att.member_id != user_id:
        raise Conflict(f"quiz attempt {attempt_id} belongs to another member")
    return att


class QuizRepo(Repo):
    async def _open_attempt(self, s: Tx, user_id: int) -> Row[Any] | None:
        return (await (await core(s)).execute(_OPEN, {"member_id": user_id})).one_or_none()

    async def _owned(self, s: Tx, attempt_id: int, user_id: int) -> tuple[Row[Any], list[bool]]:
        """Load and lock the attempt as a row, with its answers (one statement); NotFound if
        missing, Conflict if someone else's."""
        rows = (await (await core(s)).execute(_OWNED, {"attempt_id": attempt_id})).all()
        att = _check_owner(rows[0] if rows else None, attempt_id, user_id)
        return att, [row.yes for row in rows if row.yes is not None]

    async def start(self, user_id: int, restart: bool = False) -> QuizAttemptRecord:
        """Resume the open attempt, or open a new one (``restart`` abandons the open one)."""
        check_id(user_id)
        now = self.now()

        async def tx(s: Tx) -> QuizAttemptRecord:
            await self.lock_member(s, user_id, now)
            conn = await core(s)
            resume = not restart
            for _ in range(3):
                current = await self._open_attempt(s, user_id)
                if current is not None and resume:
                    return _record(current, await _answers(s, current.id))
                if current is not None:
                    await conn.execute(_ABANDON, {"attempt_id": current.id, "now": now})
                new = (await conn.execute(_NEW_OPEN, {"member_id": user_id, "now": now})
                       ).one_or_none()
                if new is not None:
                    return _record(new, [])
                # one was opened after the read (a writer that skipped the member's lock):
                # resume that one, as a concurrent start would
                resume = True
            raise Conflict("could not open a quiz attempt (concurrent restarts); try again")

        return await self._db.run(tx)

    async def open_attempt(self, user_id: int) -> QuizAttemptRecord | None:
        """The member's open attempt, if any (a typed "yes" after a restart resumes it)."""
        check_id(user_id)

        async def tx(s: Tx) -> QuizAttemptRecord | None:
            att = await s.scalar(select(QuizAttempt).where(
                QuizAttempt.member_id == user_id, QuizAttempt.status == "open"))
            return _record(att, await _answers(s, att.id)) if att is not None else None

        return await self._db.run(tx, readonly=True)

    async def get(self, attempt_id: int) -> QuizAttemptRecord:
        async def tx(s: Tx) -> QuizAttemptRecord:
            att = await s.get(QuizAttempt, attempt_id)
            if att is None:
                raise NotFound(f"quiz attempt {attempt_id} not found")
            return _record(att, await _answers(s, att.id))

        return await self._db.run(tx, readonly=True)

    async def answer(
        self, attempt_id: int, user_id: int, question_index: int, yes: bool
    ) -> QuizAttemptRecord:
        """Answer question ``question_index`` (must be the next one).

        Re-answering the last answered question (a double click) returns the state unchanged;
        skipping ahead or re-answering an earlier question raises :class:`Conflict`.
        """
        check_id(user_id)
        check_index(question_index)
        now = self.now()

        async def tx(s: Tx) -> QuizAttemptRecord:
            await self.lock_member(s, user_id, create=False)
            att, answers = await self._owned(s, attempt_id, user_id)
            if att.status != "open":
                raise Conflict(f"quiz attempt {attempt_id} is {att.status}")
            n = len(answers)
            if question_index == n:
                # the attempt is locked and its answers read in this transaction, so the next
                # index is free: a plain INSERT (SQLAlchemy caches it; a dialect upsert it
                # compiles anew every time) and no second read
                await (await core(s)).execute(_ANSWER, {
                    "attempt_id": attempt_id, "question_index": question_index,
                    "yes": bool(yes), "answered_at": now,
                })
                answers.append(bool(yes))
            elif question_index == n - 1:
                pass  # double click: already answered, state unchanged
            elif question_index > n:
                raise Conflict(f"question {question_index} cannot be answered before question {n}")
            else:
                raise Conflict(
                    f"question {question_index} was already answered; go back to change it"
                )
            return _record(att, answers)

        return await self._db.run(tx)

    async def back(self, attempt_id: int, user_id: int) -> QuizAttemptRecord:
        """Drop the last answer (no-op at the first question)."""
        check_id(user_id)

        async def tx(s: Tx) -> QuizAttemptRecord:
            await self.lock_member(s, user_id, create=False)
            att, answers = await self._owned(s, attempt_id, user_id)
            if att.status != "open":
                raise Conflict(f"quiz attempt {attempt_id} is {att.status}")
            if answers:  # answers are the prefix 0..n-1: the last one is n-1
                await (await core(s)).execute(
                    _DROP_ANSWER, {"attempt_id": attempt_id, "index": len(answers) - 1})
                answers.pop()
            return _record(att, answers)

        return await self._db.run(tx)

    async def finish(
        self, attempt_id: int, user_id: int, phase: int, *, questions: int
    ) -> QuizAttemptRecord:
        """Close an attempt that has answers to all ``questions`` (the knowledge base's quiz
        length): score = number of "yes"; sets the member's phase (source "quiz").

        Finishing an already finished attempt returns it unchanged (double click).
        """
        check_id(user_id)
        check_phase(phase)
        check_phase(questions)  # a positive count, as small as a phase number
        now = self.now()

        async def tx(s: Tx) -> QuizAttemptRecord:
            await self.lock_member(s, user_id, create=False)
            att, answers = await self._owned(s, attempt_id, user_id)
            if att.status == "finished":
                return _record(att, answers)
            if att.status != "open":
                raise Conflict(f"quiz attempt {attempt_id} is {att.status}")
            if len(answers) < questions:
                raise Conflict(
                    f"quiz attempt {attempt_id} has {len(answers)} of {questions} answers"
                )
            conn = await core(s)
            score = sum(answers)
            await conn.execute(_FINISH, {"attempt_id": attempt_id, "now": now, "score": score,
                                         "new_phase": phase})
            for statement in _PLACE:
                await conn.execute(statement, {"who": user_id, "new_phase": phase})
            return replace(_record(att, answers), status="finished", finished_at=now,
                           score=score, phase=phase)

        return await self._db.run(tx)
