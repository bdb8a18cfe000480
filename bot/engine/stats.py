"""Server stats for admins and mentors: where the community is, and what went unanswered."""

from __future__ import annotations

from bot.engine.commands import command
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Kind, Reply
from bot.render import render

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
        ][:15]
        weakest = [(intent.title if (intent := self.deps.intent(q.intent_id)) else q.intent_id,
                    q) for q in await self.deps.store.inbox.weakest(WEAKEST, WEAKEST_MIN_COUNT)]
        return Reply(
            "Server progress",
            render("stats", members=members,
                   distribution=sorted(stats.phase_distribution.items()),
                   quiz_completions=stats.quiz_completions, funnel=funnel,
                   unanswered=list(stats.top_unanswered), weakest=weakest,
                   weakest_min=WEAKEST_MIN_COUNT),
            kind=Kind.STATS,
            private=True,
        )
