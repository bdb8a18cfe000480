"""Question log (for the unanswered-questions review) and helpful / not-helpful feedback.

The question log stores the text (clipped to :data:`bot.limits.MAX_QUESTION_CHARS`), the outcome,
the best intent and score, the server, the time and — when the caller passes it — the member
who asked, so that member's questions are part of their export and deletion
(:mod:`bot.storage.repo.privacy`). Statistics only ever read aggregates. Which questions
get logged is the caller's policy (the ask flow logs every question a member asks: the
*Not helpful* / *Not what I asked* buttons of an answer name its log row, so a misroute can be
traced to its question); retention is :meth:`QuestionsRepo.purge`
(``Settings.question_log_days``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    TextClause,
    delete,
    func,
    insert,
    select,
)

from bot.limits import MAX_QUESTION_CHARS
from bot.storage.db import UTCDateTime
from bot.storage.direct import hot
from bot.storage.errors import InvalidInput
from bot.storage.models import MAX_INTENT_ID, AnswerFeedback, QuestionLog
from bot.storage.overlay_data import normalize_question
from bot.storage.repo._base import (
    LOCKED_MEMBER,
    MEMBER_TYPES,
    Repo,
    check_id,
    check_optional_id,
    check_text_id,
    core,
    member_must_exist,
    row_source,
    shared_sql,
)
from bot.storage.repo.inbox import bump_quality, quality_upsert
from bot.storage.tx import Tx

OUTCOMES = ("answered", "ambiguous", "unanswered")
#: what "unanswered" means for the review: no confident answer was given
UNANSWERED_OUTCOMES: tuple[str, ...] = ("unanswered", "ambiguous")



async def top_unanswered_for(
    s: Tx,
    *,
    guild_id: int | None,
    limit: int,
    since: object | None,
    outcomes: Sequence[str],
) -> list[tuple[str, int]]:
    n = func.count().label("n")
    stmt = (
        select(QuestionLog.normalized, n)
        .where(QuestionLog.outcome.in_(list(outcomes)))
        .group_by(QuestionLog.normalized)
        .order_by(n.desc(), QuestionLog.normalized)
        .limit(limit)
    )
    if guild_id is not None:
        stmt = stmt.where(QuestionLog.guild_id == guild_id)
    if since is not None:
        stmt = stmt.where(QuestionLog.created_at >= since)
    rows = await s.execute(stmt)
    return [(text, int(count)) for text, count in rows]


class LoggedQuestion(NamedTuple):
    text: str
    intent_id: str | None
    member_id: int | None  # who asked it (None: the console, or a member since deleted)


#: one logged question (built once: it runs on every /ask)
_LOG = hot(insert(QuestionLog).returning(QuestionLog.id))
_LOG_COLUMNS = ("member_id", "text", "normalized", "outcome", "intent_id", "score", "guild_id",
                "created_at")


def _log_in_one(count_ask: bool) -> TextClause:
    """PostgreSQL: a member's logged question as one statement (one round trip instead of five
    or six): the member's lock, then the member's row if missing, the log row and, with
    ``count_ask``, the intent's asks. Every row is selected from the lock's CTE, so it is
    written after the lock is taken (the one lock order, :meth:`Repo.lock_member`)."""
    sql = (f"{LOCKED_MEMBER}, "
           f"logged AS (INSERT INTO {QuestionLog.__tablename__} ({', '.join(_LOG_COLUMNS)}) "
           f"{row_source(', '.join(f':{c}' for c in _LOG_COLUMNS), after='lk')} RETURNING id)")
    types: dict[str, Any] = {**MEMBER_TYPES, "member_id": BigInteger(),
                             "guild_id": BigInteger(), "score": Float(),
                             "created_at": UTCDateTime()}
    types.update((c, String()) for c in ("text", "normalized", "outcome", "intent_id"))
    if count_ask:
        sql += f", counted AS ({quality_upsert(('asks',), after='lk')})"
        types.update(i_asks=Integer(), d_asks=Integer())
    return shared_sql(sql + " SELECT id FROM logged", **types)


#: :func:`_log_in_one` without and with the asks counter (built once)
_LOG_IN_ONE = (_log_in_one(False), _log_in_one(True))


class QuestionsRepo(Repo):
    async def log(
        self,
        text: str,
        outcome: str,
        intent_id: str | None,
        score: float,
        guild_id: int | None = None,
        *,
        user_id: int | None = None,
        count_ask: bool = False,
    ) -> int:
        """Log one question asked by ``user_id`` (``None``: anonymous); returns the log row id.
        With ``count_ask`` the same transaction counts one more answered ask of ``intent_id``
        (the intent's quality counters).

        A member's logged questions are exported and deleted with the rest of their data.
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("question text is empty")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if intent_id is not None:
            check_text_id(intent_id, "intent id", MAX_INTENT_ID)
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise InvalidInput(f"score must be a number, got {score!r}") from None
        if not math.isfinite(score):
            raise InvalidInput(f"score must be finite, got {score!r}")
        check_optional_id(guild_id)
        check_optional_id(user_id, "user id")
        clean = text.strip()[:MAX_QUESTION_CHARS]
        now = self.now()
        row = {"member_id": user_id, "text": clean, "normalized": normalize_question(clean),
               "outcome": outcome, "intent_id": intent_id, "score": score,
               "guild_id": guild_id, "created_at": now}

        async def tx(s: Tx) -> int:
            if user_id is not None:  # the member usually exists: not inserted first
                await self.lock_member(s, user_id, create=False)
            with member_must_exist(user_id or 0):  # no member id: no foreign key to miss
                log_id = int((await (await core(s)).execute(_LOG, row)).scalar_one())
            if count_ask and intent_id is not None:
                await bump_quality(s, self, intent_id, now, asks=1)
            return log_id

        if user_id is None:
            return await self._db.run(tx)

        async def in_one(s: Tx) -> int:
            params = {**row, "id": user_id, "now": now, "sharing": False, "i_asks": 1,
                      "d_asks": 1}
            statement = _LOG_IN_ONE[count_ask and intent_id is not None]
            return int((await (await core(s)).execute(statement, params))
                       .scalar_one())

        return await self.run_for_member(user_id, tx, single=in_one)

    async def logged(self, log_id: int) -> LoggedQuestion | None:
        """The text, matched intent and asker of logged question ``log_id`` (None: purged,
        deleted with its member, or never logged)."""
        check_id(log_id, "question id")

        async def tx(s: Tx) -> LoggedQuestion | None:
            row = (await s.execute(select(QuestionLog.text, QuestionLog.intent_id,
                                          QuestionLog.member_id)
                                   .where(QuestionLog.id == log_id))).first()
            return None if row is None else LoggedQuestion(row[0], row[1], row[2])

        return await self._db.run(tx, readonly=True)

    async def feedback(
        self, user_id: int, intent_id: str, helpful: bool, guild_id: int | None = None
    ) -> None:
        """Record helpful / not helpful for an answer; a second vote replaces the first (and
        moves the intent's quality counters: one vote per member)."""
        check_id(user_id)
        check_text_id(intent_id, "intent id", MAX_INTENT_ID)
        check_optional_id(guild_id)
        now = self.now()

        async def tx(s: Tx) -> None:
            from bot.storage.repo.inbox import bump_quality

            await self.lock_member(s, user_id, now)
            before = await s.scalar(select(AnswerFeedback.helpful).where(
                AnswerFeedback.member_id == user_id, AnswerFeedback.intent_id == intent_id))
            if before is None or bool(before) != bool(helpful):  # the intent's counters move
                deltas = {"helpful": 1} if helpful else {"not_helpful": 1}
                if before is not None:
                    deltas["not_helpful" if helpful else "helpful"] = -1
                await bump_quality(s, self, intent_id, now, **deltas)
            ins = self.insert(AnswerFeedback).values(
                member_id=user_id,
                intent_id=intent_id,
                helpful=bool(helpful),
                guild_id=guild_id,
                created_at=now,
                updated_at=now,
            )
            await s.execute(
                ins.on_conflict_do_update(
                    index_elements=[AnswerFeedback.member_id, AnswerFeedback.intent_id],
                    set_={
                        "helpful": ins.excluded.helpful,
                        "guild_id": ins.excluded.guild_id,
                        "updated_at": ins.excluded.updated_at,
                    },
                )
            )

        await self._db.run(tx)

    async def feedback_counts(self, intent_id: str | None = None) -> dict[str, tuple[int, int]]:
        """intent id -> (helpful, not helpful) vote counts."""

        async def tx(s: Tx) -> dict[str, tuple[int, int]]:
            stmt = select(AnswerFeedback.intent_id, AnswerFeedback.helpful, func.count()).group_by(
                AnswerFeedback.intent_id, AnswerFeedback.helpful
            )
            if intent_id is not None:
                stmt = stmt.where(AnswerFeedback.intent_id == intent_id)
            out: dict[str, list[int]] = {}
            for intent, helpful, count in await s.execute(stmt):
                out.setdefault(intent, [0, 0])[0 if helpful else 1] += int(count)
            return {k: (v[0], v[1]) for k, v in sorted(out.items())}

        return await self._db.run(tx, readonly=True, offload=True)

    async def top_unanswered(
        self,
        guild_id: int | None = None,
        limit: int = 10,
        since_days: int | None = None,
        outcomes: Sequence[str] = UNANSWERED_OUTCOMES,
    ) -> list[tuple[str, int]]:
        """Most frequent questions without a confident answer: ``[(normalised text, count)]``.

        Grouped by :func:`normalize_question`; most frequent first (ties alphabetical).
        """
        check_optional_id(guild_id)
        if any(o not in OUTCOMES for o in outcomes):
            raise InvalidInput(f"outcomes must be among {OUTCOMES}")
        since = None if since_days is None else self.now() - timedelta(days=since_days)

        async def tx(s: Tx) -> list[tuple[str, int]]:
            return await top_unanswered_for(
                s, guild_id=guild_id, limit=limit, since=since, outcomes=outcomes
            )

        return await self._db.run(tx, readonly=True, offload=True)

    async def purge(self, older_than_days: int) -> int:
        """Delete logged questions older than ``older_than_days``; returns how many."""
        if isinstance(older_than_days, bool) or older_than_days < 0:
            raise InvalidInput("older_than_days must be >= 0")
        cutoff = self.now() - timedelta(days=older_than_days)

        async def tx(s: Tx) -> int:
            result = await s.execute(delete(QuestionLog).where(QuestionLog.created_at < cutoff))
            return int(result.rowcount)  # type: ignore[attr-defined]

        return await self._db.run(tx, offload=True)
