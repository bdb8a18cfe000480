"""Each server's /setup document, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.storage.errors import InvalidInput


async def test_a_guild_setup_is_stored_replaced_and_reset(store):
    assert await store.guilds.get(77) == {}
    await store.guilds.set(77, {"mentor_role": 5, "forums": [1, 2]})
    await store.guilds.set(78, {"sharing": "nobody"})
    assert await store.guilds.get(77) == {"mentor_role": 5, "forums": [1, 2]}
    await store.guilds.set(77, {"mentor_role": 6})
    assert await store.guilds.get(77) == {"mentor_role": 6}
    await store.guilds.reset(77)
    assert await store.guilds.get(77) == {}
    assert await store.guilds.get(78) == {"sharing": "nobody"}


async def test_guild_ids_are_checked(store):
    for bad in (0, -1, 2**63, True):
        with pytest.raises(InvalidInput):
            await store.guilds.get(bad)
