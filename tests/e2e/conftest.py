"""End-to-end fixtures: the loopback fake of Discord, and mentorbot's real client on it.

The bot is built by the same :func:`bot.frontends.discord.client.create_bot` that
``mentorbot run`` uses, configured only through settings (API base and gateway URL — as an
operator would point it at an API proxy). Nothing of the bot is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest

from bot.config import Settings
from bot.frontends.discord.client import MentorBot, create_bot

from .fake_discord import FakeDiscord, perms


@dataclass
class World:
    fake: FakeDiscord
    guild: object
    alice: object
    bob: object
    admin: object
    closed: object  # a member whose DMs are closed


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as f:
        yield f
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild("MLOps Careers")
    return World(
        fake=fake,
        guild=guild,
        alice=fake.add_user("alice", guild=guild),
        bob=fake.add_user("bob", guild=guild),
        admin=fake.add_user("admin", guild=guild, permissions=perms.MANAGE_GUILD),
        closed=fake.add_user("shy", guild=guild, dms_closed=True),
    )


def bot_settings(fake: FakeDiscord, db_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "discord_token": fake.token,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "database_url": db_url,
        "reminders_enabled": False,
    }
    return Settings(_env_file=None, **{**values, **extra})


class Running:
    """A started bot; ``restart()`` stops it and starts a fresh one on the same database."""

    def __init__(self, fake: FakeDiscord, settings: Settings):
        self.fake = fake
        self.settings = settings
        self.bot: MentorBot | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> MentorBot:
        self.bot = await create_bot(self.settings)
        token = self.settings.discord_token.get_secret_value()  # type: ignore[union-attr]
        self.task = asyncio.create_task(self.bot.start(token))
        # The gateway session is live once READY went out; discord.py handles interactions
        # from then on (on_ready itself waits for guilds to stream in, which we don't need).
        ids = self.settings.shard_ids
        try:
            await self.fake.wait_ready(timeout=10, shards=max(ids) + 1 if ids else None)
            await asyncio.wait_for(self._synced(), 10)
        except BaseException:
            await self.stop()
            raise
        return self.bot

    async def _synced(self) -> None:
        while self.bot is not None and self.bot.synced is None:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.close()
            await self.bot.engine.deps.store.close()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 5)
        self.bot = self.task = None

    async def restart(self) -> MentorBot:
        await self.stop()
        return await self.start()


@pytest.fixture
async def running(world: World, db_url: str) -> AsyncIterator[Running]:
    r = Running(world.fake, bot_settings(world.fake, db_url))
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
