"""Two bot processes, one shard each, sharing one database (as on PostgreSQL in production)."""

from __future__ import annotations

from .conftest import Running, bot_settings
from .fake_discord import FakeDiscord


async def test_two_shard_processes_share_the_work_and_sync_once(db_url):
    async with FakeDiscord(shard_count=2) as fake:
        g0 = fake.add_guild("zero", on_shard=0)
        g1 = fake.add_guild("one", on_shard=1)
        alice = fake.add_user("alice", guild=g0)
        fake.add_member(g1, alice)
        first = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[0]))
        second = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[1]))
        await first.start()
        await second.start()
        try:
            assert first.bot.synced is True and second.bot.synced is False
            assert fake.sync_count == 1
            # progress made through shard 1's process is seen through shard 0's
            h = await fake.slash(alice, "checklist done", {"item": "p1.drift-event"}, guild=g1)
            assert "Marked" in (await h.final_message()).embeds[0]["description"]
            h = await fake.slash(alice, "progress", guild=g0)
            body = (await h.final_message()).embeds[0]["description"]
            assert "1/" in body
            shards = {s.shard_id for s in fake.sessions}
            assert shards == {0, 1}
        finally:
            await second.stop()
            await first.stop()
