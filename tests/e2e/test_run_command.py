"""``mentorbot run`` itself, as a process, against the loopback fake of Discord."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from .fake_discord import FakeDiscord


async def test_mentorbot_run_serves_slash_commands(tmp_path):
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Careers")
        alice = fake.add_user("alice", guild=guild)
        env = dict(os.environ, DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base,
                   DISCORD_GATEWAY_URL=fake.gateway_url, REMINDERS_ENABLED="false",
                   DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await fake.wait_ready(timeout=30)
            await fake.wait_for_sync(1, timeout=30)
            h = await fake.slash(alice, "ask", {"question": "how long until senior?"},
                                 guild=guild)
            msg = await h.final_message(timeout=10)
            assert msg.embeds[0]["title"]
            assert h.ack_latency < 3.0
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert b"Traceback" not in err, err.decode()[-2000:]
        assert fake.token.encode() not in err


async def test_missing_token_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0] and "mentorbot chat" in lines[0]
