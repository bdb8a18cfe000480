"""The mentors' weekly blocker digest on the loopback fake: set up with ``/setup
blocker-digest``, posted once in the mentors' channel by two bot processes (one shard each,
one database) with mentions off; a member who doesn't share is counted, never quoted; a
channel the bot can't post in is told to the admins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.storage.models import CheckIn

from .conftest import Running, bot_settings
from .fake_discord import FakeDiscord, perms
from .test_bot import text, title
from .test_roles_and_milestones import eventually


async def _ago(store, hours: float) -> None:  # type: ignore[no-untyped-def]
    """Move every check-in back ``hours`` (they were made before the digest's hour)."""
    async def tx(s):  # type: ignore[no-untyped-def]
        await s.execute(update(CheckIn).values(at=datetime.now(UTC) - timedelta(hours=hours)))
    await store.db.run(tx)


async def test_the_digest_is_posted_once_by_two_processes_with_mentions_off(db_url):
    async with FakeDiscord(shard_count=2) as fake:
        g = fake.add_guild("MLOps Careers", on_shard=0)
        alice = fake.add_user("alice", guild=g)
        bob = fake.add_user("bob", guild=g)
        admin = fake.add_user("admin", guild=g, permissions=perms.MANAGE_GUILD)
        mentors = fake.add_channel(g, "mentors")
        settings = {"reminders_enabled": True, "reminder_interval_seconds": 1,
                    "shard_count": 2}
        first = Running(fake, bot_settings(fake, db_url, shard_ids=[0], **settings))
        second = Running(fake, bot_settings(fake, db_url, shard_ids=[1], **settings))
        await first.start()
        try:
            now = datetime.now(UTC)
            saved = await (await fake.slash(admin, "setup blocker-digest", {
                "state": "on", "channel": mentors.id, "weekday": now.weekday(),
                "hour": now.hour, "timezone": "UTC"}, guild=g)).final_message()
            assert title(saved) == "Setup saved" and f"<#{mentors.id}>" in text(saved)
            await (await fake.slash(alice, "privacy share", {"state": "on"},
                                    guild=g)).final_message()
            for who, blocker in ((alice, "@everyone no access to prod <@&1> **help**"),
                                 (bob, "bob's secret woes")):
                await (await fake.slash(who, "checkin", {"blocker": blocker},
                                        guild=g)).final_message()
            store = first.bot.engine.deps.store
            preview = await (await fake.slash(admin, "setup digest-preview",
                                              guild=g)).final_message()
            assert preview.ephemeral and "1 member, not shared" in text(preview)
            # switched on this hour: the first digest is next week's. Pretend it was switched
            # on yesterday and the check-ins came before this hour's digest time.
            await asyncio.sleep(1.5)
            assert not [m for m in fake.channel_messages(mentors)
                        if m.author.id == fake.bot_user.id]
            config = await store.guilds.get(g.id)
            config["blocker_digest"]["since"] = (now - timedelta(days=1)).isoformat()
            await store.guilds.set(g.id, config)
            await _ago(store, now.minute / 60 + 1)
            await second.start()

            def posted() -> list:  # type: ignore[type-arg]
                return [m for m in fake.channel_messages(mentors)
                        if m.author.id == fake.bot_user.id]

            await eventually(lambda: bool(posted()), timeout=10)
            await asyncio.sleep(2.5)  # both loops ran again (every second): nothing more
            [post] = posted()
            assert post.allowed_mentions == {"parse": []}
            body = text(post)
            assert "no access to prod" in body and f"<@{alice.id}>" in body
            assert "@everyone" not in body and "<@&1>" not in body and "**help**" not in body
            assert "bob's secret" not in body and f"<@{bob.id}>" not in body
            assert "1 member, not shared" in body
            assert title(post).startswith("Open blockers this week · 2 members")
        finally:
            await second.stop()
            await first.stop()


async def test_a_channel_the_bot_cant_post_in_tells_the_admins(world, db_url):
    fake, g = world.fake, world.guild
    mentors = fake.add_channel(g, "mentors")
    r = Running(fake, bot_settings(fake, db_url, reminders_enabled=True,
                                   reminder_interval_seconds=1))
    await r.start()
    try:
        now = datetime.now(UTC)
        await (await fake.slash(world.admin, "setup blocker-digest", {
            "state": "on", "channel": mentors.id, "weekday": now.weekday(),
            "hour": now.hour}, guild=g)).final_message()
        store = r.bot.engine.deps.store
        config = await store.guilds.get(g.id)
        config["blocker_digest"]["since"] = (now - timedelta(days=1)).isoformat()
        fake.fail("POST", f"/channels/{mentors.id}/messages", 403,
                  {"message": "Missing Permissions", "code": 50013})
        await store.guilds.set(g.id, config)

        async def noted() -> bool:
            return [n.topic for n in await store.community.notes(g.id)] == ["digest"]

        await eventually(noted, timeout=10)
        shown = await (await fake.slash(world.admin, "setup show", guild=g)).final_message()
        assert "Needs your attention" in text(shown) and "50013" in text(shown)
        assert f"<#{mentors.id}>" in text(shown)
        assert not [m for m in fake.channel_messages(mentors)
                    if m.author.id == fake.bot_user.id]
    finally:
        await r.stop()
