"""What a member opted in to (a phase role, milestone announcements), the milestones they
reached (each announced at most once), and notes for a server's admins (``/setup show``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select

from bot.storage.direct import hot
from bot.storage.models import GuildNotice, MemberOptIn, Milestone
from bot.storage.repo._base import (
    Repo,
    check_id,
    check_optional_id,
    check_phase,
    check_text_id,
    core,
)
from bot.storage.tx import Tx

MAX_TOPIC = 32
MAX_NOTICE = 500


@dataclass(frozen=True, slots=True)
class OptIns:
    """A member's opt-ins (both off until they switch them on)."""

    phase_roles: bool = False
    milestones: bool = False


@dataclass(frozen=True, slots=True)
class MilestoneRecord:
    phase: int
    guild_id: int | None
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    topic: str
    message: str
    noted_at: datetime


#: a member's opt-ins (read on every quiz result and phase change: a Core statement, built once)
_OPT_INS = hot(select(MemberOptIn.phase_roles, MemberOptIn.milestones).where(
    MemberOptIn.member_id == bindparam("id")))


async def opt_ins_for(s: Tx, user_id: int) -> OptIns | None:
    row = (await (await core(s)).execute(_OPT_INS, {"id": user_id})).one_or_none()
    return None if row is None else OptIns(*row)


async def milestones_for(s: Tx, user_id: int) -> list[MilestoneRecord]:
    rows = await s.scalars(select(Milestone).where(Milestone.member_id == user_id)
                           .order_by(Milestone.phase))
    return [MilestoneRecord(r.phase, r.guild_id, r.reached_at) for r in rows]


class CommunityRepo(Repo):
    async def opt_ins(self, user_id: int) -> OptIns:
        check_id(user_id)

        async def tx(s: Tx) -> OptIns:
            return await opt_ins_for(s, user_id) or OptIns()

        return await self._db.run(tx, readonly=True)

    async def set_opt_ins(self, user_id: int, *, phase_roles: bool | None = None,
                          milestones: bool | None = None) -> OptIns:
        """Switch one or both opt-ins (``None``: leave as it is); returns the result."""
        check_id(user_id)
        now = self.now()

        async def tx(s: Tx) -> OptIns:
            await self.lock_member(s, user_id, now)
            current = await opt_ins_for(s, user_id) or OptIns()
            values = {
                "phase_roles": current.phase_roles if phase_roles is None else bool(phase_roles),
                "milestones": current.milestones if milestones is None else bool(milestones),
            }
            stmt = self.insert(MemberOptIn).values(member_id=user_id, updated_at=now, **values)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[MemberOptIn.member_id], set_={**values, "updated_at": now}))
            return OptIns(**values)

        return await self._db.run(tx)

    async def claim_milestone(self, user_id: int, phase: int, guild_id: int | None) -> bool:
        """Record that the member completed ``phase``; True only the first time (so a
        milestone is announced at most once per member and phase, whatever races)."""
        check_id(user_id)
        check_phase(phase)
        check_optional_id(guild_id)
        now = self.now()

        async def tx(s: Tx) -> bool:
            await self.lock_member(s, user_id, now)
            stmt = (self.insert(Milestone)
                    .values(member_id=user_id, phase=phase, guild_id=guild_id, reached_at=now)
                    .on_conflict_do_nothing(index_elements=[Milestone.member_id,
                                                            Milestone.phase]))
            result = await s.execute(stmt)
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self._db.run(tx)

    async def milestones(self, user_id: int) -> list[MilestoneRecord]:
        check_id(user_id)
        return await self._db.run(lambda s: milestones_for(s, user_id), readonly=True)

    # --- notes for a server's admins ------------------------------------------------------------

    async def note(self, guild_id: int, topic: str, message: str) -> None:
        """Keep (or replace) the admins' note on ``topic`` for ``guild_id``."""
        check_id(guild_id, "guild id")
        check_text_id(topic, "topic", MAX_TOPIC)
        message = message[:MAX_NOTICE]
        now = self.now()

        async def tx(s: Tx) -> None:
            stmt = self.insert(GuildNotice).values(guild_id=guild_id, topic=topic,
                                                   message=message, noted_at=now)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[GuildNotice.guild_id, GuildNotice.topic],
                set_={"message": message, "noted_at": now}))

        await self._db.run(tx)

    async def clear_note(self, guild_id: int, topic: str) -> bool:
        """Forget the note on ``topic`` (it works again); True when there was one."""
        check_id(guild_id, "guild id")

        async def tx(s: Tx) -> bool:
            result = await s.execute(delete(GuildNotice).where(
                GuildNotice.guild_id == guild_id, GuildNotice.topic == topic))
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self._db.run(tx)

    async def notes(self, guild_id: int) -> list[NoticeRecord]:
        check_id(guild_id, "guild id")

        async def tx(s: Tx) -> list[NoticeRecord]:
            rows = await s.scalars(select(GuildNotice).where(GuildNotice.guild_id == guild_id)
                                   .order_by(GuildNotice.topic))
            return [NoticeRecord(r.topic, r.message, r.noted_at) for r in rows]

        return await self._db.run(tx, readonly=True)
