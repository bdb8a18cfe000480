"""Server stats for admins and mentors: where the community is, and what went unanswered."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

from bot.engine.commands import command
from bot.engine.context import Deps, Member, UserError
from bot.engine.escalate import answer_times
from bot.engine.replies import Attachment, Kind, Reply
from bot.render import render

if TYPE_CHECKING:
    from bot.storage.records import GuildStats

#: the funnel lists at most this many items in the text
FUNNEL_LINES = 15


def week_label(monday: date) -> str:
    """A week on a chart's axis and in the text: its Monday, ``Nov 24``."""
    return f"{monday:%b} {monday.day}"


WEAKEST = 5  # intents listed as the weakest answers …
WEAKEST_MIN_COUNT = 3  # … among those with at least this many votes and presses


class StatsFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    @command("stats", "server progress and unanswered questions (Manage Server)", private=True,
             admin=True)
    async def guild(self, member: Member) -> Reply:
        if member.guild_id is None:
            raise UserError("Server stats only make sense inside a server.")
        if not member.is_admin:
            raise UserError("Server stats are for members with the Manage Server permission.")
        kb = self.deps.kb
        stats = await self.deps.store.stats.guild(member.guild_id, self.deps.items_by_phase())
        members = sum(stats.phase_distribution.values())
        funnel = [
            (kb.item_by_id[item].title if item in kb.item_by_id else item, count)
            for item, count in stats.funnel.items() if count
        ]
        done_weekly = [(week_label(d), n) for d, n in stats.weekly_done]
        unanswered_weekly = [(week_label(d), n) for d, n in stats.weekly_unanswered]
        weakest = [(intent.title if (intent := self.deps.intent(q.intent_id)) else q.intent_id,
                    q) for q in await self.deps.store.inbox.weakest(WEAKEST, WEAKEST_MIN_COUNT)]
        return Reply(
            "Server progress",
            render("stats", members=members,
                   distribution=sorted(stats.phase_distribution.items()),
                   quiz_completions=stats.quiz_completions, funnel=funnel[:FUNNEL_LINES],
                   unanswered=list(stats.top_unanswered), done_weekly=done_weekly,
                   unanswered_weekly=unanswered_weekly, weakest=weakest,
                   weakest_min=WEAKEST_MIN_COUNT,
                   answer_times=answer_times(
                       await self.deps.store.escalations.answer_seconds(member.guild_id))),
            kind=Kind.STATS,
            private=True,
            attachment=await self._charts(stats, funnel, done_weekly, unanswered_weekly),
        )

    async def _charts(self, stats: GuildStats, funnel: list[tuple[str, int]],
                      done_weekly: list[tuple[str, int]],
                      unanswered_weekly: list[tuple[str, int]]) -> Attachment:
        """The same figures as four charts in one PNG (the text stays in the message for
        screen readers), drawn off the event loop."""
        from bot.render.images import StatsCharts, stats_charts

        data = StatsCharts(
            phase_distribution=tuple(sorted(stats.phase_distribution.items())),
            funnel=tuple(funnel),
            weekly_activity=tuple(done_weekly),
            unanswered_weekly=tuple(unanswered_weekly),
            unplaced=stats.unplaced,
        )
        png = await asyncio.to_thread(stats_charts, data)
        return Attachment("stats.png", png,
                          "Server charts: members per phase, checklist items done, items done "
                          "and unanswered questions per week (the same figures as the text)")
