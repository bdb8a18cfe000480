"""Per-server statistics. Only members seen in that server count; every figure is an aggregate.

Every aggregate reads the server's own rows, so the cost follows the size of the server, not of
the database, and a server's stats never read the rows of members who are not in it:

* the phase distribution and quiz completions: ``guild_membership`` (migration 0009; index
  ``(guild_id, member_id, current_phase, quizzes_finished)``: copies of the member's, kept by
  the writes);
* the funnel and the items done per week: ``guild_checklist`` (migration 0011; index
  ``(guild_id, item_id, done_at)``), the server's copy of its members' done items, kept by
  ``ChecklistRepo`` and ``MembersRepo.touch``: one index range per server, where reading
  ``checklist_progress`` (keyed by member) took one index descent per member;
* the unanswered questions: ``question_log (guild_id, outcome, created_at)``.

The whole report is one ``SELECT`` (a ``UNION ALL`` of the aggregates): one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.db import UTCDateTime
from bot.storage.models import GuildChecklist, GuildMembership, QuestionLog
from bot.storage.records import GuildStats
from bot.storage.repo._base import Repo, check_id
from bot.storage.repo.questions import UNANSWERED_OUTCOMES
from bot.storage.tx import Tx

#: how many ISO weeks the weekly series cover (the current week included)
WEEKS = 12


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


class StatsRepo(Repo):
    def _week(self, column: Any, since: datetime) -> ColumnElement[Any]:
        """The week of ``column`` (not before ``since``, a Monday 00:00 UTC): on SQLite the
        whole weeks since ``since``, on PostgreSQL the Monday it falls in (``date_bin``: one
        integer operation per row). :meth:`_week_number` reads either."""
        if self._db.is_sqlite:  # stored as naive UTC text, which julianday() reads
            origin = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            days: ColumnElement[int] = cast(
                func.julianday(column) - func.julianday(origin), Integer)
            return days // 7
        return func.date_bin(timedelta(days=7), column, since, type_=UTCDateTime())

    def _no_week(self) -> ColumnElement[Any]:
        return null().cast(Integer if self._db.is_sqlite else UTCDateTime())

    @staticmethod
    def _week_number(week: int | datetime, since: datetime) -> int:
        return week if isinstance(week, int) else (week - since).days // 7

    def statement(self, guild_id: int, top_limit: int = 10, weeks: int = WEEKS) -> Any:
        """The one ``SELECT`` :meth:`guild` runs (for ``EXPLAIN`` in the benchmark)."""
        return self._report(guild_id, top_limit, weeks)[0]

    def _report(self, guild_id: int, top_limit: int, weeks: int) -> tuple[Any, datetime]:
        """The report's ``SELECT`` and the first week it covers. Rows are ``(kind, key, num,
        week, n, n2, n3)``: ``phase`` (num: phase or NULL, n: members, n2: quizzes they
        finished, n3: members who finished one), ``item`` (key: item id, week: week index of
        when it was done or NULL before the first week, n: members), ``asked`` (week, n:
        unanswered questions), ``top`` (key: normalised question, n: times asked)."""
        check_id(guild_id, "guild id")
        first_week = week_start(self.now()) - timedelta(weeks=weeks - 1)
        gm, gc, ql = GuildMembership, GuildChecklist, QuestionLog
        no_text, no_num, no_week = null().cast(String), null().cast(Integer), self._no_week()
        zero = literal(0, Integer)

        def row(kind: str, key: Any = no_text, num: Any = no_num, week: Any = no_week,
                n: Any = zero, n2: Any = zero, n3: Any = zero) -> list[Any]:
            return [literal(kind, String).label("kind"), key.label("key"), num.label("num"),
                    week.label("week"), n.label("n"), n2.label("n2"), n3.label("n3")]

        in_guild = gm.guild_id == guild_id
        # the member's phase and quiz count as copied onto each membership
        phases = (
            select(*row("phase", num=gm.current_phase, n=func.count(),
                        n2=func.sum(gm.quizzes_finished),
                        n3=func.count(case((gm.quizzes_finished > 0, 1)))))
            .where(in_guild)
            .group_by(gm.current_phase)
        )
        # the server's copy of its members' done items: one range of its index
        item, done_at = gc.item_id, gc.done_at
        done_week = case((done_at >= first_week, self._week(done_at, first_week)))
        funnel = (
            select(*row("item", key=item, week=done_week, n=func.count()))
            .where(gc.guild_id == guild_id)
            .group_by(item, done_week)
        )
        unanswered = ql.outcome.in_(UNANSWERED_OUTCOMES)
        asked_week = self._week(ql.created_at, first_week)
        asked_weekly = (
            select(*row("asked", week=asked_week, n=func.count()))
            .where(ql.guild_id == guild_id, unanswered, ql.created_at >= first_week)
            .group_by(asked_week)
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
        top_rows = select(*row("top", key=top.c.text, n=top.c.n))
        return union_all(phases, funnel, asked_weekly, top_rows), first_week

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
        weeks = max(1, int(weeks))
        report, first_week = self._report(guild_id, top_limit, weeks)
        # progress on items the knowledge base no longer has counts nowhere
        valid = {i for ids in items_by_phase.values() for i in ids} | {None}

        async def tx(s: Tx) -> list[Any]:
            if self._db.is_postgres:
                # the report's estimate grows with the server (~6,000 for 10,000 members);
                # past jit_above_cost a big server's report would be JIT-compiled, which costs
                # more (~20 ms) than running it
                await s.execute(text("SET LOCAL jit = off"))
            return list(await s.execute(report))

        rows = await self._db.run(tx, readonly=True, offload=True)

        by_phase: dict[int | None, int] = {}
        done_counts: dict[str, int] = {}
        series: dict[str, dict[int, int]] = {"item": {}, "asked": {}}
        top_unanswered: list[tuple[str, int]] = []
        completions = completers = 0
        for kind, key, num, week, count, count2, count3 in rows:
            if kind == "phase":
                by_phase[num] = int(count)
                completions += int(count2 or 0)
                completers += int(count3 or 0)
            elif kind == "top":
                top_unanswered.append((key, int(count)))
            if kind == "item":
                done_counts[key] = done_counts.get(key, 0) + int(count)
            if week is not None and kind in series and key in valid:
                i = self._week_number(week, first_week)
                series[kind][i] = series[kind].get(i, 0) + int(count)
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
            weekly_done=weekly("item"),
            weekly_unanswered=weekly("asked"),
        )
