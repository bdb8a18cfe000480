"""Operational key/value state shared by all bot processes (not member data)."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from bot.storage.models import BotState
from bot.storage.repo._base import Repo, check_text_id, core
from bot.storage.tx import Tx

_VALUE = select(BotState.value).where(BotState.key == bindparam("key"))


class StateRepo(Repo):
    async def get(self, key: str) -> str | None:
        check_text_id(key, "state key", 64)

        async def tx(s: Tx) -> str | None:
            return await (await core(s)).scalar(_VALUE, {"key": key})

        return await self._db.run(tx, readonly=True)

    async def set(self, key: str, value: str) -> None:
        check_text_id(key, "state key", 64)
        now = self.now()

        async def tx(s: Tx) -> None:
            stmt = self.insert(BotState).values(key=key, value=value[:500], updated_at=now)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[BotState.key],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            ))

        await self._db.run(tx)
