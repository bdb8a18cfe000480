"""Export everything stored about a member as JSON, or delete all of it.

:data:`PERSONAL_DATA` is the contract: every table that holds rows of a member — directly
(a ``member_id`` column) or through a parent (``quiz_answer`` via ``quiz_attempt``, removed by
``ON DELETE CASCADE`` as well) — is listed with the rows that are the member's and where the
export puts them. :meth:`PrivacyRepo.delete` deletes exactly those rows, in that order;
``tests/storage/test_privacy_registry.py`` fails when a table keyed by member is missing here or
its rows are absent from the export or left behind by a deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select

from bot.storage.models import (
    AnswerFeedback,
    CheckIn,
    ChecklistEvent,
    ChecklistProgress,
    Escalation,
    GuildChecklist,
    GuildMembership,
    InboxAsk,
    Member,
    MemberOptIn,
    Milestone,
    QuestionLog,
    QuizAnswer,
    QuizAttempt,
    ReminderDelivery,
    ReminderPref,
)
from bot.storage.repo._base import Repo, check_id, load_member
from bot.storage.repo.checkins import checkins_for
from bot.storage.repo.checklist import events_for, states_for
from bot.storage.repo.community import milestones_for, opt_ins_for
from bot.storage.repo.escalations import escalations_of
from bot.storage.repo.inbox import entries_of, parts_of, prune_orphans
from bot.storage.repo.reminders import deliveries_for, pref_for
from bot.storage.tx import Tx

EXPORT_FORMAT = "mentorbot-export/1"


@dataclass(frozen=True, slots=True)
class PersonalTable:
    """A table holding a member's data."""

    table: Table
    #: ``rows(user_id)`` selects the member's rows of :attr:`table`
    rows: Callable[[int], ColumnElement[bool]]
    #: where the export holds them: dotted keys into the export dict; a list on the way is
    #: walked element by element (``"quiz_attempts.answers"``)
    export_path: str


def _t(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _attempts_of(user_id: int) -> Any:
    return select(QuizAttempt.id).where(QuizAttempt.member_id == user_id)


#: Every table keyed by member, children before parents (the order :meth:`PrivacyRepo.delete`
#: deletes in; ``member`` last).
PERSONAL_DATA: tuple[PersonalTable, ...] = (
    PersonalTable(
        _t(QuizAnswer), lambda u: QuizAnswer.attempt_id.in_(_attempts_of(u)),
        "quiz_attempts.answers",
    ),
    PersonalTable(_t(QuizAttempt), lambda u: QuizAttempt.member_id == u, "quiz_attempts"),
    PersonalTable(_t(ChecklistEvent), lambda u: ChecklistEvent.member_id == u, "checklist.events"),
    PersonalTable(
        _t(ChecklistProgress), lambda u: ChecklistProgress.member_id == u, "checklist.items"
    ),
    PersonalTable(
        _t(ReminderDelivery), lambda u: ReminderDelivery.member_id == u, "reminders.deliveries"
    ),
    PersonalTable(
        _t(ReminderPref), lambda u: ReminderPref.member_id == u, "reminders.preferences"
    ),
    PersonalTable(_t(CheckIn), lambda u: CheckIn.member_id == u, "checkins"),
    PersonalTable(_t(Milestone), lambda u: Milestone.member_id == u, "milestones"),
    PersonalTable(_t(MemberOptIn), lambda u: MemberOptIn.member_id == u, "opt_ins"),
    PersonalTable(_t(AnswerFeedback), lambda u: AnswerFeedback.member_id == u, "feedback"),
    PersonalTable(_t(QuestionLog), lambda u: QuestionLog.member_id == u, "questions"),
    PersonalTable(_t(InboxAsk), lambda u: InboxAsk.member_id == u, "inbox"),
    PersonalTable(_t(Escalation), lambda u: Escalation.member_id == u, "escalations"),
    # the servers' copies of the done items go before the memberships they hang on
    PersonalTable(
        _t(GuildChecklist), lambda u: GuildChecklist.member_id == u, "checklist.in_servers"
    ),
    PersonalTable(_t(GuildMembership), lambda u: GuildMembership.member_id == u, "guilds"),
    PersonalTable(_t(Member), lambda u: Member.id == u, "member"),
)


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

        async def tx(s: Tx) -> dict[str, Any]:
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
            questions = await s.execute(
                select(
                    QuestionLog.text,
                    QuestionLog.outcome,
                    QuestionLog.intent_id,
                    QuestionLog.guild_id,
                    QuestionLog.created_at,
                )
                .where(QuestionLog.member_id == user_id)
                .order_by(QuestionLog.created_at, QuestionLog.id)
            )
            in_servers = await s.execute(
                select(GuildChecklist.guild_id, GuildChecklist.item_id, GuildChecklist.done_at)
                .where(GuildChecklist.member_id == user_id)
                .order_by(GuildChecklist.guild_id, GuildChecklist.item_id)
            )
            pref = await pref_for(s, user_id)
            opt_ins = await opt_ins_for(s, user_id)
            inbox = await entries_of(s, user_id)
            escalations = await escalations_of(s, user_id)
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
                    # the copies /stats counts (one per server the member was seen in)
                    "in_servers": [{"guild_id": g, "item_id": i, "done_at": at}
                                   for g, i, at in in_servers],
                },
                "reminders": {
                    "preferences": None if pref is None else asdict(pref),
                    "deliveries": [asdict(d) for d in await deliveries_for(s, user_id)],
                },
                "checkins": [asdict(c) for c in await checkins_for(s, user_id)],
                "opt_ins": None if opt_ins is None else asdict(opt_ins),
                "milestones": [asdict(m) for m in await milestones_for(s, user_id)],
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
                "questions": [
                    {
                        "text": text,
                        "outcome": outcome,
                        "intent_id": intent_id,
                        "guild_id": guild_id,
                        "asked_at": asked_at,
                    }
                    for text, outcome, intent_id, guild_id, asked_at in questions
                ],
                "inbox": inbox,
                "escalations": escalations,
            }
            return _jsonable(data)

        return await self._db.run(tx, readonly=True, offload=True)

    async def delete(self, user_id: int) -> int:
        """Delete everything stored about ``user_id`` in one transaction; returns rows deleted."""
        check_id(user_id)

        async def tx(s: Tx) -> int:
            # The member's lock first, as every write to the member takes it: they queue
            # behind the deletion (and it behind them) instead of deadlocking.
            await self.lock_member(s, user_id, create=False)
            total = 0
            # inbox entries that were only this member's question go with their part; their
            # wording leaves the entries others share
            parts = await parts_of(s, user_id)
            for entry in PERSONAL_DATA:
                stmt = delete(entry.table).where(entry.rows(user_id))
                result = await s.execute(stmt.execution_options(synchronize_session=False))
                total += int(result.rowcount)  # type: ignore[attr-defined]
            await prune_orphans(s, parts)
            return total

        self._db.stored_members.pop(user_id, None)
        return await self._db.run(tx, offload=True)
