"""Each server's own setup (``/setup``): one JSON document per guild, validated by the engine."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, delete, select

from bot.storage.models import GuildConfig
from bot.storage.repo._base import Repo, check_id, check_text_id, core
from bot.storage.tx import Tx

_SETUP = select(GuildConfig.data).where(GuildConfig.guild_id == bindparam("guild_id"))


class GuildsRepo(Repo):
    async def get(self, guild_id: int) -> dict[str, Any]:
        """The guild's stored setup ({} when it has none)."""
        check_id(guild_id, "guild id")

        async def tx(s: Tx) -> dict[str, Any]:
            raw = await (await core(s)).scalar(_SETUP, {"guild_id": guild_id})
            return dict(json.loads(raw)) if raw else {}

        return await self._db.run(tx, readonly=True)

    async def set(self, guild_id: int, data: dict[str, Any]) -> None:
        check_id(guild_id, "guild id")
        blob = json.dumps(data, sort_keys=True)
        now = self.now()

        async def tx(s: Tx) -> None:
            stmt = self.insert(GuildConfig).values(guild_id=guild_id, data=blob, updated_at=now)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[GuildConfig.guild_id],
                set_={"data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
            ))

        await self._db.run(tx)

    async def with_section(self, section: str) -> list[tuple[int, dict[str, Any]]]:
        """Every server whose setup has ``section`` set to an object (e.g. the blocker digest),
        with its setup: read by the reminder loop, so the other servers' rows are skipped by
        the ``LIKE`` before they are parsed."""
        check_text_id(section, "setup section", 40)
        pattern = f'%"{section}": {{%'

        async def tx(s: Tx) -> list[tuple[int, dict[str, Any]]]:
            rows = await s.execute(select(GuildConfig.guild_id, GuildConfig.data)
                                   .where(GuildConfig.data.like(pattern))
                                   .order_by(GuildConfig.guild_id))
            return [(guild_id, dict(json.loads(raw))) for guild_id, raw in rows]

        return await self._db.run(tx, readonly=True)

    async def reset(self, guild_id: int) -> None:
        check_id(guild_id, "guild id")

        async def tx(s: Tx) -> None:
            await s.execute(delete(GuildConfig).where(GuildConfig.guild_id == guild_id))

        await self._db.run(tx)
