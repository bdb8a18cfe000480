"""Export everything stored about a member as JSON, or delete all of it.

The question log holds no user id, so it is neither part of an export nor of a deletion.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    AnswerFeedback,
    ChecklistEvent,
    ChecklistProgress,
    GuildMembership,
    Member,
    QuizAnswer,
    QuizAttempt,
    ReminderDelivery,
    ReminderPref,
)
from bot.storage.repo._base import Repo, check_id
from bot.storage.repo.checklist import events_for, states_for
from bot.storage.repo.members import load_member
from bot.storage.repo.reminders import deliveries_for, pref_for

EXPORT_FORMAT = "mentorbot-export/1"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class PrivacyRepo(Repo):
    async def export(self, user_id: int) -> dict[str, Any]:
        """Everything stored about ``user_id`` as a JSON-serialisable dict.

        ``member`` is ``None`` (and every list empty) when nothing is stored.
        """
        check_id(user_id)
        exported_at = self.now()

        async def tx(s: AsyncSession) -> dict[str, Any]:
            member = await load_member(s, user_id)
            guilds = await s.execute(
                select(
                    GuildMembership.guild_id, GuildMembership.first_seen, GuildMembership.last_seen
                )
                .where(GuildMembership.member_id == user_id)
                .order_by(GuildMembership.guild_id)
            )
            attempts = list(
                await s.scalars(
                    select(QuizAttempt)
                    .where(QuizAttempt.member_id == user_id)
                    .order_by(QuizAttempt.started_at, QuizAttempt.id)
                )
            )
            answers: dict[int, list[dict[str, Any]]] = {a.id: [] for a in attempts}
            rows = await s.execute(
                select(QuizAnswer)
                .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
                .where(QuizAttempt.member_id == user_id)
                .order_by(QuizAnswer.attempt_id, QuizAnswer.question_index)
            )
            for (ans,) in rows:
                answers[ans.attempt_id].append(
                    {
                        "question_index": ans.question_index,
                        "yes": ans.yes,
                        "answered_at": ans.answered_at,
                    }
                )
            feedback = await s.scalars(
                select(AnswerFeedback)
                .where(AnswerFeedback.member_id == user_id)
                .order_by(AnswerFeedback.intent_id)
            )
            pref = await pref_for(s, user_id)
            member_dict = None
            if member is not None:
                member_dict = asdict(member)
                member_dict.pop("guild_ids")
            data = {
                "format": EXPORT_FORMAT,
                "exported_at": exported_at,
                "user_id": user_id,
                "member": member_dict,
                "guilds": [
                    {"guild_id": g, "first_seen": f, "last_seen": last} for g, f, last in guilds
                ],
                "quiz_attempts": [
                    {
                        "id": a.id,
                        "status": a.status,
                        "started_at": a.started_at,
                        "finished_at": a.finished_at,
                        "score": a.score,
                        "phase": a.phase,
                        "answers": answers[a.id],
                    }
                    for a in attempts
                ],
                "checklist": {
                    "items": [asdict(st) for st in (await states_for(s, user_id)).values()],
                    "events": [asdict(e) for e in reversed(await events_for(s, user_id))],
                },
                "reminders": {
                    "preferences": None if pref is None else asdict(pref),
                    "deliveries": [asdict(d) for d in await deliveries_for(s, user_id)],
                },
                "feedback": [
                    {
                        "intent_id": f.intent_id,
                        "helpful": f.helpful,
                        "guild_id": f.guild_id,
                        "created_at": f.created_at,
                        "updated_at": f.updated_at,
                    }
                    for f in feedback
                ],
            }
            return _jsonable(data)  # type: ignore[no-any-return]

        return await self._db.run(tx, readonly=True)

    async def delete(self, user_id: int) -> int:
        """Delete everything stored about ``user_id`` in one transaction; returns rows deleted."""
        check_id(user_id)

        async def tx(s: AsyncSession) -> int:
            attempt_ids = select(QuizAttempt.id).where(QuizAttempt.member_id == user_id)
            statements = [
                delete(QuizAnswer).where(QuizAnswer.attempt_id.in_(attempt_ids)),
                delete(QuizAttempt).where(QuizAttempt.member_id == user_id),
                delete(ChecklistEvent).where(ChecklistEvent.member_id == user_id),
                delete(ChecklistProgress).where(ChecklistProgress.member_id == user_id),
                delete(ReminderDelivery).where(ReminderDelivery.member_id == user_id),
                delete(ReminderPref).where(ReminderPref.member_id == user_id),
                delete(AnswerFeedback).where(AnswerFeedback.member_id == user_id),
                delete(GuildMembership).where(GuildMembership.member_id == user_id),
                delete(Member).where(Member.id == user_id),
            ]
            total = 0
            for stmt in statements:
                result = await s.execute(stmt.execution_options(synchronize_session=False))
                total += int(result.rowcount)  # type: ignore[attr-defined]
            return total

        return await self._db.run(tx)
