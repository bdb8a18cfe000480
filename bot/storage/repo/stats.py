"""Per-server statistics. Only members seen in that server count; every figure is an aggregate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ChecklistProgress, GuildMembership, Member, QuizAttempt
from bot.storage.records import GuildStats
from bot.storage.repo._base import Repo, check_id
from bot.storage.repo.questions import UNANSWERED_OUTCOMES, top_unanswered_for


class StatsRepo(Repo):
    async def guild(
        self,
        guild_id: int,
        items_by_phase: Mapping[int, Sequence[str]],
        top_limit: int = 10,
    ) -> GuildStats:
        """Phase distribution, checklist funnel (knowledge-base order), quiz completions and the
        top unanswered questions of ``guild_id``. ``items_by_phase`` is the knowledge base's
        checklist: its keys are the phases the distribution lists."""
        check_id(guild_id, "guild id")
        valid = sorted({i for ids in items_by_phase.values() for i in ids})
        gm = GuildMembership
        in_guild = select(gm.member_id).where(gm.guild_id == guild_id)

        async def tx(s: AsyncSession) -> GuildStats:
            members = await s.scalar(
                select(func.count()).select_from(gm).where(gm.guild_id == guild_id)
            )
            phases = await s.execute(
                select(Member.current_phase, func.count())
                .join(gm, gm.member_id == Member.id)
                .where(gm.guild_id == guild_id)
                .group_by(Member.current_phase)
            )
            by_phase = {phase: int(n) for phase, n in phases}
            distribution = {p: by_phase.get(p, 0) for p in sorted(items_by_phase)}
            done_counts: dict[str, int] = {}
            if valid:
                rows = await s.execute(
                    select(ChecklistProgress.item_id, func.count())
                    .join(gm, gm.member_id == ChecklistProgress.member_id)
                    .where(
                        gm.guild_id == guild_id,
                        ChecklistProgress.done.is_(True),
                        ChecklistProgress.item_id.in_(valid),
                    )
                    .group_by(ChecklistProgress.item_id)
                )
                done_counts = {item: int(n) for item, n in rows}
            quiz = (
                await s.execute(
                    select(func.count(), func.count(distinct(QuizAttempt.member_id))).where(
                        QuizAttempt.status == "finished", QuizAttempt.member_id.in_(in_guild)
                    )
                )
            ).one()
            top = await top_unanswered_for(
                s, guild_id=guild_id, limit=top_limit, since=None, outcomes=UNANSWERED_OUTCOMES
            )
            funnel = {
                item: done_counts.get(item, 0)
                for _, ids in sorted(items_by_phase.items())
                for item in ids
            }
            return GuildStats(
                guild_id=guild_id,
                members=int(members or 0),
                unplaced=by_phase.get(None, 0),
                phase_distribution=distribution,
                funnel=funnel,
                quiz_completions=int(quiz[0]),
                quiz_completers=int(quiz[1]),
                top_unanswered=tuple(top),
            )

        return await self._db.run(tx, readonly=True, offload=True)
