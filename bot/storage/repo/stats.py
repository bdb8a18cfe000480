"""Per-server statistics. Only members seen in that server count; every figure is an aggregate.

Every aggregate is driven by the server's own rows of ``guild_membership`` (index
``(guild_id, member_id)``) and reaches each member's rows through an index that holds what is
counted (migration 0008), so the cost follows the size of the server, not of the database: a
server's stats never scan the rows of members who are not in it. The whole report is one
``SELECT`` (a ``UNION ALL`` of the aggregates), one round trip to the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    cast,
    distinct,
    extract,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.models import (
    ChecklistEvent,
    ChecklistProgress,
    GuildMembership,
    Member,
    QuestionLog,
    QuizAttempt,
)
from bot.storage.records import GuildStats
from bot.storage.repo._base import Repo, check_id
from bot.storage.repo.questions import UNANSWERED_OUTCOMES

#: how many ISO weeks the weekly series cover (the current week included)
WEEKS = 12
_WEEK_SECONDS = 7 * 24 * 3600


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


class StatsRepo(Repo):
    def _week_index(self, column: Any, since: datetime) -> ColumnElement[int]:
        """Whole weeks from ``since`` (a Monday 00:00 UTC) to ``column``: 0 for the first week."""
        if self._db.is_sqlite:  # stored as naive UTC text, which julianday() reads
            origin = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            return cast((func.julianday(column) - func.julianday(origin)) / 7, Integer)
        return cast(func.floor(extract("epoch", column - since) / _WEEK_SECONDS), Integer)

    async def guild(
        self,
        guild_id: int,
        items_by_phase: Mapping[int, Sequence[str]],
        top_limit: int = 10,
        weeks: int = WEEKS,
    ) -> GuildStats:
        """Phase distribution, checklist funnel (knowledge-base order), quiz completions, the
        top unanswered questions and the last ``weeks`` ISO weeks of activity of ``guild_id``.
        ``items_by_phase`` is the knowledge base's checklist: its keys are the phases the
        distribution lists, its items the funnel's (progress on other items is not counted)."""
        check_id(guild_id, "guild id")
        weeks = max(1, int(weeks))
        first_week = week_start(self.now()) - timedelta(weeks=weeks - 1)
        gm, m, cp = GuildMembership, Member, ChecklistProgress
        ev, qa, ql = ChecklistEvent, QuizAttempt, QuestionLog
        no_text, no_num = null().cast(String), null().cast(Integer)

        def row(kind: str, key: Any, num: Any, n: Any, n2: Any) -> list[Any]:
            return [literal(kind, String).label("kind"), key.label("key"), num.label("num"),
                    n.label("n"), n2.label("n2")]

        def members_of(*columns: Any) -> Any:
            return select(*columns).select_from(gm).where(gm.guild_id == guild_id)

        zero = literal(0, Integer)
        phases = (
            members_of(*row("phase", no_text, m.current_phase, func.count(), zero))
            .join(m, m.id == gm.member_id)
            .group_by(m.current_phase)
        )
        funnel = (
            members_of(*row("item", cp.item_id, no_num, func.count(), zero))
            .join(cp, (cp.member_id == gm.member_id) & (cp.done == true()))
            .group_by(cp.item_id)
        )
        quiz = members_of(
            *row("quiz", no_text, no_num, func.count(), func.count(distinct(qa.member_id)))
        ).join(qa, (qa.member_id == gm.member_id) & (qa.status == "finished"))
        week_done = self._week_index(ev.at, first_week)
        done_weekly = (
            members_of(*row("done", no_text, week_done, func.count(), zero))
            .join(ev, (ev.member_id == gm.member_id) & (ev.at >= first_week)
                  & (ev.action == "done"))
            .group_by(week_done)
        )
        unanswered = ql.outcome.in_(UNANSWERED_OUTCOMES)
        week_asked = self._week_index(ql.created_at, first_week)
        asked_weekly = (
            select(*row("asked", no_text, week_asked, func.count(), zero))
            .where(ql.guild_id == guild_id, unanswered, ql.created_at >= first_week)
            .group_by(week_asked)
        )
        n = func.count().label("n")
        top = (
            select(ql.normalized.label("text"), n)
            .where(ql.guild_id == guild_id, unanswered)
            .group_by(ql.normalized)
            .order_by(n.desc(), ql.normalized)
            .limit(top_limit)
            .subquery()
        )
        top_rows = select(*row("top", top.c.text, no_num, top.c.n, zero))
        report = union_all(phases, funnel, quiz, done_weekly, asked_weekly, top_rows)

        async def tx(s: AsyncSession) -> list[Any]:
            return list(await s.execute(report))

        rows = await self._db.run(tx, readonly=True)

        by_phase: dict[int | None, int] = {}
        done_counts: dict[str, int] = {}
        series: dict[str, dict[int, int]] = {"done": {}, "asked": {}}
        top_unanswered: list[tuple[str, int]] = []
        completions = completers = 0
        for kind, key, num, count, count2 in rows:
            if kind == "phase":
                by_phase[num] = int(count)
            elif kind == "item":
                done_counts[key] = int(count)
            elif kind == "quiz":
                completions, completers = int(count), int(count2)
            elif kind == "top":
                top_unanswered.append((key, int(count)))
            elif num is not None:
                series[kind][int(num)] = int(count)
        top_unanswered.sort(key=lambda t: (-t[1], t[0]))  # UNION ALL keeps no order
        starts = [(first_week + timedelta(weeks=i)).date() for i in range(weeks)]

        def weekly(kind: str) -> tuple[tuple[date, int], ...]:
            return tuple((start, series[kind].get(i, 0)) for i, start in enumerate(starts))

        return GuildStats(
            guild_id=guild_id,
            members=sum(by_phase.values()),
            unplaced=by_phase.get(None, 0),
            phase_distribution={p: by_phase.get(p, 0) for p in sorted(items_by_phase)},
            funnel={item: done_counts.get(item, 0)
                    for _, ids in sorted(items_by_phase.items()) for item in ids},
            quiz_completions=completions,
            quiz_completers=completers,
            top_unanswered=tuple(top_unanswered),
            weekly_done=weekly("done"),
            weekly_unanswered=weekly("asked"),
        )
