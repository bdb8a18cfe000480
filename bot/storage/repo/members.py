"""Members (the Discord user; progress follows them across servers) and where they were seen.

Seeing a member in a server for the first time also copies their done checklist items into it
(``guild_checklist``, see :mod:`bot.storage.repo.checklist`), under the member's lock.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import BigInteger, and_, bindparam, select, update

from bot.storage.db import UTCDateTime
from bot.storage.direct import hot
from bot.storage.errors import InvalidInput, NotFound
from bot.storage.models import ChecklistProgress, GuildMembership, Member
from bot.storage.records import ItemState, MemberRecord
from bot.storage.repo._base import (
    MEMBER_TYPES,
    NEW_MEMBER,
    Repo,
    check_id,
    check_optional_id,
    check_phase,
    core,
    load_member,
    shared_sql,
)
from bot.storage.repo.checklist import COPY_INTO_GUILD, states_for
from bot.storage.tx import Tx

_SOURCES = ("quiz", "chosen")

#: ``last_seen`` is kept to this precision: a member seen again within it costs one read, not a
#: write transaction (most interactions of an active member)
TOUCH_PRECISION = timedelta(minutes=5)


# The visit's upserts (shared_sql: compiled once)
_SEEN = shared_sql(NEW_MEMBER + "UPDATE SET last_seen_at = excluded.last_seen_at",
                   **MEMBER_TYPES)
_SEEN_IN = shared_sql(
    f"INSERT INTO {GuildMembership.__tablename__} "
    "(member_id, guild_id, first_seen, last_seen, current_phase, quizzes_finished) "
    "SELECT id, :guild_id, :now, :now, current_phase, quizzes_finished "
    f"FROM {Member.__tablename__} WHERE id = :id "
    "ON CONFLICT (member_id, guild_id) DO UPDATE SET last_seen = excluded.last_seen, "
    "current_phase = excluded.current_phase, quizzes_finished = excluded.quizzes_finished",
    id=BigInteger(), guild_id=BigInteger(), now=UTCDateTime())


#: the member's phase with each done item's id (one row, ``item_id`` NULL, when none is done)
_PHASE_AND_DONE = hot(
    select(Member.current_phase, ChecklistProgress.item_id)
    .outerjoin(ChecklistProgress, and_(ChecklistProgress.member_id == Member.id,
                                       ChecklistProgress.done.is_(True)))
    .where(Member.id == bindparam("id")))


class MembersRepo(Repo):
    async def touch(self, user_id: int, guild_id: int | None = None) -> MemberRecord:
        """Record that the member was seen now (in ``guild_id``, if given); create if new.

        ``last_seen`` is kept to :data:`TOUCH_PRECISION`: a member already known in that server
        and seen within it is only read.
        """
        check_id(user_id)
        check_optional_id(guild_id)
        now = self.now()
        known = await self.get(user_id)
        if (known is not None and (guild_id is None or guild_id in known.guild_ids)
                and now - known.last_seen_at < TOUCH_PRECISION):
            return known

        # first seen in this server (as far as the read above knows): the member's done items
        # are copied into it (models.GuildChecklist), under the member's lock as every change
        # of them is, so a concurrent mark is either copied here or copies itself
        first_seen_in = guild_id is not None and (known is None or guild_id not in known.guild_ids)

        async def tx(s: Tx) -> MemberRecord:
            params = {"id": user_id, "guild_id": guild_id, "now": now, "sharing": False}
            if first_seen_in:
                await self.lock_member(s, user_id, create=False)
            conn = await core(s)
            await conn.execute(_SEEN, params)
            if guild_id is not None:
                # with copies of the member's phase and quiz count (models.GuildMembership),
                # refreshed whenever the visit is written (see TOUCH_PRECISION)
                await conn.execute(_SEEN_IN, params)
            if first_seen_in:
                await conn.execute(COPY_INTO_GUILD, params)
            record = await load_member(s, user_id)
            assert record is not None
            return record

        return await self._db.run(tx)

    async def get(self, user_id: int) -> MemberRecord | None:
        check_id(user_id)
        return await self._db.run(lambda s: load_member(s, user_id), readonly=True)

    async def get_with_checklist(
        self, user_id: int
    ) -> tuple[MemberRecord | None, dict[str, ItemState]]:
        """:meth:`get` and the member's stored checklist items, read in one transaction."""
        check_id(user_id)

        async def tx(s: Tx) -> tuple[MemberRecord | None, dict[str, ItemState]]:
            return await load_member(s, user_id), await states_for(s, user_id)

        return await self._db.run(tx, readonly=True)

    async def phase_and_done(self, user_id: int) -> tuple[int | None, frozenset[str]]:
        """The member's phase (None: not set, or not stored) and their done items' ids, in one
        statement: all an answer's personal line needs, on most questions."""
        check_id(user_id)

        async def tx(s: Tx) -> tuple[int | None, frozenset[str]]:
            rows = (await (await core(s)).execute(_PHASE_AND_DONE, {"id": user_id})).all()
            return (rows[0].current_phase if rows else None,
                    frozenset(r.item_id for r in rows if r.item_id is not None))

        return await self._db.run(tx, readonly=True)

    async def set_phase(
        self, user_id: int, phase: int | None, source: str = "chosen"
    ) -> MemberRecord:
        """Set (or with ``phase=None`` clear) the member's current phase."""
        check_id(user_id)
        if phase is not None:
            check_phase(phase)
        if source not in _SOURCES:
            raise InvalidInput(f"phase source must be one of {_SOURCES}, got {source!r}")
        now = self.now()

        async def tx(s: Tx) -> MemberRecord:
            await self.lock_member(s, user_id, now)
            await s.execute(
                update(Member)
                .where(Member.id == user_id)
                .values(current_phase=phase, phase_source=None if phase is None else source)
            )
            await s.execute(  # the copies /stats counts (models.GuildMembership)
                update(GuildMembership)
                .where(GuildMembership.member_id == user_id)
                .values(current_phase=phase)
            )
            record = await load_member(s, user_id)
            assert record is not None
            return record

        return await self._db.run(tx)

    async def set_sharing(self, user_id: int, on: bool) -> MemberRecord:
        """Opt in/out of sharing progress with the server."""
        check_id(user_id)
        now = self.now()

        async def tx(s: Tx) -> MemberRecord:
            await self.lock_member(s, user_id, now)
            await s.execute(update(Member).where(Member.id == user_id).values(sharing=bool(on)))
            record = await load_member(s, user_id)
            if record is None:  # pragma: no cover - just inserted
                raise NotFound(f"member {user_id}")
            return record

        return await self._db.run(tx)
