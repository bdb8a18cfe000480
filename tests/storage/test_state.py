"""Operational key/value state shared by bot processes (``store.state``)."""

from __future__ import annotations

import pytest

from bot.storage import InvalidInput, Store


async def test_state_get_set_overwrite(store: Store) -> None:
    assert await store.state.get("command_tree_hash") is None
    await store.state.set("command_tree_hash", "abc123")
    assert await store.state.get("command_tree_hash") == "abc123"
    await store.state.set("command_tree_hash", "def456")  # upsert, one row
    assert await store.state.get("command_tree_hash") == "def456"
    await store.state.set("long", "x" * 900)
    assert await store.state.get("long") == "x" * 500
    with pytest.raises(InvalidInput):
        await store.state.set("", "v")
    with pytest.raises(InvalidInput):
        await store.state.get("k" * 65)
