"""Handling time per interaction inside the bot: received → response sent.

    python -m benchmarks.interactions [--n 300] [--url DATABASE_URL]

Runs the real bot (``create_bot``, as ``mentorbot run`` does) against the loopback fake of
Discord from ``tests/e2e/fake_discord`` and measures, for each interaction, the time from the
gateway frame leaving the fake to the bot's interaction callback arriving back — the bot's own
handling plus loopback, which is what decides Discord's 3-second limit. Prints p50/p99 for
``/ask`` (varied member questions) and for quiz button clicks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.intents import load_questions, percentile
from benchmarks.load import bench_database
from bot.config import Settings
from bot.frontends.discord.client import MentorBot, create_bot
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.fake_discord.interactions import InteractionHandle


def _ack_ms(handle: InteractionHandle) -> float:
    """Milliseconds from the gateway frame to the bot's first callback (it has answered)."""
    latency = handle.ack_latency
    if latency is None:
        raise RuntimeError("the bot did not acknowledge the interaction")
    return latency * 1000


async def measure(n: int, url: str | None) -> dict[str, list[float]]:
    in_scope, out_scope = load_questions()
    questions = [q["q"] for q in in_scope + out_scope]
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh database each run: a kept one remembers the synced command tree (the bot
        # would not sync it with this new fake Discord)
        db, drop = await bench_database(url, Path(tmp))
        try:
            return await _measure(n, db, questions)
        finally:
            await drop()


async def _measure(n: int, db: str, questions: list[str]) -> dict[str, list[float]]:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("bench")
        users = [fake.add_user(f"member{i}", guild=guild) for i in range(20)]
        settings = Settings(_env_file=None, discord_token=fake.token,
                            discord_api_base=fake.api_base,
                            discord_gateway_url=fake.gateway_url, database_url=db,
                            reminders_enabled=False)
        bot = await create_bot(settings)
        task = asyncio.create_task(bot.start(fake.token))
        try:
            return await _drive(fake, bot, guild, users, questions, n)
        finally:  # a failed run ends too, rather than waiting on the bot's tasks
            await bot.close()
            await bot.engine.deps.store.close()
            with contextlib.suppress(Exception):
                await task


async def _drive(fake: FakeDiscord, bot: MentorBot, guild: Any, users: list[Any],
                 questions: list[str], n: int) -> dict[str, list[float]]:
    await fake.wait_ready(timeout=10)
    while bot.synced is None:
        await asyncio.sleep(0.01)
    ask: list[float] = []
    for i in range(n):
        h = await fake.slash(users[i % len(users)], "ask",
                             {"question": questions[i % len(questions)]}, guild=guild)
        await h.response(timeout=5)
        ask.append(_ack_ms(h))
    clicks: list[float] = []
    user = users[0]
    dm = None
    while len(clicks) < n:
        if dm is None or "quiz:ans" not in " ".join(dm.custom_ids):
            h = await fake.slash(user, "quiz")
            dm = await h.final_message()
        yes = [c for c in dm.custom_ids if c.startswith("quiz:ans")][len(clicks) % 2]
        h = await fake.click(user, dm, yes)
        await h.response(timeout=5)
        clicks.append(_ack_ms(h))
        dm = await h.final_message()
    return {"/ask": ask, "quiz click": clicks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="interactions of each kind")
    parser.add_argument("--url", default=None, help="database URL (default: a temp SQLite)")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.n, args.url))
    for name, values in results.items():
        print(f"{name:<11} n={len(values)}  p50 {percentile(values, 50):6.1f} ms   "
              f"p99 {percentile(values, 99):6.1f} ms   max {max(values):6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
