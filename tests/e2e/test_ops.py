"""Operations, end to end against the loopback fake of Discord: /healthz and /metrics, /kb reload
and SIGHUP, logs without the token — in process (the bot of ``create_bot`` inside the same
``operations()`` that ``mentorbot run`` uses, or ``run()`` itself) and as a ``mentorbot run``
process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from bot.frontends.discord.client import MentorBot, run
from bot.frontends.discord.ops import operations
from bot.knowledge.loader import KnowledgeError, default_knowledge_dir, load_knowledge
from bot.ops.http import OpsServer
from bot.ops.logging import REDACTED, reset_logging
from bot.storage import Store

from .conftest import Running, bot_settings
from .fake_discord import FakeDiscord, perms

REPO = Path(__file__).resolve().parents[2]
FEATURE_TITLE = 'title: "Feature stores: Feast vs Tecton"'
NEW_TITLE = "Feature stores, freshly reloaded"
QUESTION = "feast or tecton?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def title(message) -> str:  # type: ignore[no-untyped-def]
    return message.embeds[0].get("title", "") if message.embeds else ""


def text(message) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(e.get("title", "") + "\n" + e.get("description", "")
                     for e in message.embeds).replace("\\", "")  # undo markdown escaping


def copy_knowledge(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), target)
    return target


def edit_feature_title(kdir: Path, new: str = f'title: "{NEW_TITLE}"') -> None:
    path = kdir / "intents" / "topics.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.strip() == FEATURE_TITLE)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = f"{indent}{new}\n"
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture
async def hb_fake() -> AsyncIterator[FakeDiscord]:
    """A fake whose heartbeat interval is short, so the first HEARTBEAT_ACK (part of "gateway
    connected") comes in well under a second instead of Discord's ~41 s."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord(heartbeat_interval=0.5) as fake:
        yield fake
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@dataclass
class Ops:
    fake: FakeDiscord
    running: Running
    server: OpsServer
    kdir: Path
    guild: object
    owner: object  # the application's owner, with Manage Server
    admin: object  # Manage Server, not an owner
    member: object

    @property
    def bot(self) -> MentorBot:
        assert self.running.bot is not None
        return self.running.bot

    async def get(self, path: str) -> tuple[int, str, str]:
        async with aiohttp.ClientSession() as http, http.get(self.server.url + path) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()

    async def wait_health(self, status: int, timeout: float = 15.0) -> dict[str, str]:
        async def poll() -> dict[str, str]:
            while True:
                got, _, body = await self.get("/healthz")
                if got == status:
                    return json.loads(body)  # type: ignore[no-any-return]
                await asyncio.sleep(0.1)

        return await asyncio.wait_for(poll(), timeout)

    async def ask(self, user: object) -> object:
        h = await self.fake.slash(user, "ask", {"question": QUESTION}, guild=self.guild)
        return await h.final_message()

    async def kb_reload(self, user: object, **kw: object) -> object:
        h = await self.fake.slash(user, "kb reload", guild=self.guild, **kw)
        return await h.final_message(timeout=15)


async def start_ops(fake: FakeDiscord, db_url: str, tmp_path: Path,
                    **extra: object) -> tuple[Running, Path, contextlib.AsyncExitStack, OpsServer]:
    kdir = copy_knowledge(tmp_path)
    settings = bot_settings(fake, db_url, knowledge_dir=kdir, http_port=0, **extra)
    running = Running(fake, settings)
    stack = contextlib.AsyncExitStack()
    bot = await running.start()
    stack.push_async_callback(running.stop)
    server = await stack.enter_async_context(operations(bot))
    assert server is not None
    return running, kdir, stack, server


@pytest.fixture
async def ops(hb_fake: FakeDiscord, db_url: str, tmp_path: Path) -> AsyncIterator[Ops]:
    fake = hb_fake
    owner = fake.add_user("owner")  # the fake reports its first user as the application owner
    guild = fake.add_guild("MLOps Careers")
    fake.add_member(guild, owner, permissions=perms.MANAGE_GUILD)
    admin = fake.add_user("admin", guild=guild, permissions=perms.MANAGE_GUILD)
    member = fake.add_user("member", guild=guild)
    running, kdir, stack, server = await start_ops(fake, db_url, tmp_path)
    async with stack:
        yield Ops(fake, running, server, kdir, guild, owner, admin, member)


# --- /healthz and /metrics ----------------------------------------------------------------------


async def test_healthz_ok_then_503_when_the_gateway_is_lost(ops):
    assert await ops.wait_health(200) == {"gateway": "connected", "database": "ok"}
    assert await healthcheck_exit_code(ops.server.port) == 0  # the image's HEALTHCHECK
    await ops.fake.stop()  # Discord goes away: the bot's shard socket closes, it retries
    body = await ops.wait_health(503)
    assert body["database"] == "ok" and body["gateway"] != "connected", body
    assert await healthcheck_exit_code(ops.server.port) == 1
    _, _, metrics = await ops.get("/metrics")
    assert "mentorbot_gateway_up 0.0" in metrics


async def test_healthz_503_when_the_database_is_unreachable(ops):
    await ops.wait_health(200)
    with socket.socket() as s:  # a loopback port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    engine = ops.bot.engine
    good = engine.deps.store
    engine.deps.store = Store.open(f"postgresql+asyncpg://mentorbot@127.0.0.1:{closed}/mentorbot")
    try:
        assert await ops.wait_health(503) == {"gateway": "connected", "database": "unreachable"}
    finally:
        await engine.deps.store.close()
        engine.deps.store = good
    assert await ops.wait_health(200) == {"gateway": "connected", "database": "ok"}
    _, _, metrics = await ops.get("/metrics")
    assert re.search(r"^mentorbot_database_errors_total [1-9]", metrics, re.M)


async def test_metrics_count_interactions_by_command_and_outcome(ops):
    h = await ops.fake.slash(ops.member, "levels", guild=ops.guild)
    await h.final_message()
    h = await ops.fake.slash(ops.member, "ask", {"question": "how do I bake sourdough bread"},
                             guild=ops.guild)
    await h.final_message()
    status, ctype, body = await ops.get("/metrics")
    assert status == 200 and ctype == CONTENT_TYPE_LATEST
    assert 'mentorbot_interactions_total{command="levels",outcome="ok"} 1.0' in body
    assert 'mentorbot_interaction_seconds_count{command="levels"} 1.0' in body
    assert "mentorbot_unanswered_questions_total 1.0" in body
    intents = len(ops.bot.engine.kb.intents)
    assert f"mentorbot_knowledge_intents {float(intents)}" in body
    for name in ("mentorbot_quiz_completions_total", "mentorbot_database_errors_total"):
        assert name in body
    # the event-loop watchdog: lag p99 / max are small numbers, and no stall happened here
    import re

    lags = dict(re.findall(r'mentorbot_event_loop_lag_seconds\{stat="(\w+)"\} ([0-9.e-]+)',
                           body))
    assert set(lags) == {"p99", "max"} and 0 <= float(lags["p99"]) < 5
    assert "mentorbot_event_loop_stalls" in body


async def healthcheck_exit_code(port: int) -> int:
    """Run the Dockerfile's HEALTHCHECK command (exec form) with the image's HTTP_* env."""
    line = next(ln for ln in (REPO / "Dockerfile").read_text().splitlines()
                if ln.strip().startswith("CMD [\"python\", \"-c\""))
    argv = json.loads(line.strip()[len("CMD "):])
    argv[0] = sys.executable
    env = dict(os.environ, HTTP_HOST="0.0.0.0", HTTP_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(*argv, env=env,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 20)


# --- /kb reload and SIGHUP ----------------------------------------------------------------------


async def test_owner_reloads_the_edited_knowledge_base(ops):
    before = await ops.ask(ops.member)
    assert title(before) == "Feature stores: Feast vs Tecton"
    edit_feature_title(ops.kdir)
    assert title(await ops.ask(ops.member)) == "Feature stores: Feast vs Tecton", "not yet"
    reply = await ops.kb_reload(ops.owner)
    assert reply.ephemeral and title(reply) == "Knowledge base reloaded", text(reply)
    assert f"{len(ops.bot.engine.kb.intents)} intents" in text(reply)
    assert title(await ops.ask(ops.member)) == NEW_TITLE
    _, _, metrics = await ops.get("/metrics")
    assert 'mentorbot_knowledge_reloads_total{outcome="ok"} 1.0' in metrics


async def test_broken_yaml_keeps_the_old_knowledge_base_and_names_file_and_line(ops):
    edit_feature_title(ops.kdir, 'title: "unterminated')
    with pytest.raises(KnowledgeError) as broken:
        load_knowledge(ops.kdir)
    problem = str(broken.value.problems[0])
    assert re.match(r"intents/topics\.yaml:\d+: YAML syntax error", problem), problem
    old = ops.bot.engine.kb
    reply = await ops.kb_reload(ops.owner)
    assert reply.ephemeral and title(reply).startswith("Reload failed"), text(reply)
    assert problem in text(reply)
    assert "still serving the previous one" in text(reply)
    assert len(reply.embeds) == 1 and len(reply.embeds[0]["description"]) <= 4096
    assert ops.bot.engine.kb is old
    assert title(await ops.ask(ops.member)) == "Feature stores: Feast vs Tecton"
    _, _, metrics = await ops.get("/metrics")
    assert 'mentorbot_knowledge_reloads_total{outcome="failed"} 1.0' in metrics


async def test_many_problems_are_clipped_to_one_embed(ops):
    for path in (ops.kdir / "intents").glob("*.yaml"):  # no intent has a title or summary
        path.write_text(re.sub(r"(?m)^    (title|summary): .*$", r"    \1: 7", path.read_text()))
    with pytest.raises(KnowledgeError) as broken:
        load_knowledge(ops.kdir)
    assert len("\n".join(map(str, broken.value.problems))) > 4096
    reply = await ops.kb_reload(ops.owner)
    assert title(reply).startswith("Reload failed")
    assert len(reply.embeds) == 1 and len(reply.embeds[0]["description"]) <= 4096
    assert re.search(r"… and \d+ more", text(reply))


async def test_kb_reload_is_refused_to_a_non_owner_admin_and_hidden_from_members(ops):
    old = ops.bot.engine.kb
    reply = await ops.kb_reload(ops.admin)
    assert reply.ephemeral and "Only the bot's owners" in text(reply)
    with pytest.raises(PermissionError):  # Discord's client hides it: default permissions
        await ops.kb_reload(ops.member)
    stale = await ops.kb_reload(ops.member, check_permissions=False)  # the bot still refuses
    assert stale.ephemeral and "Manage Server" in text(stale)
    assert ops.bot.engine.kb is old
    command = next(c for c in ops.fake.commands() if c["name"] == "kb")
    assert int(command["default_member_permissions"]) == perms.MANAGE_GUILD
    assert command.get("contexts") in ([0], None) and command.get("dm_permission") in (False, None)


async def test_owner_ids_setting_replaces_the_application_owner(hb_fake, db_url, tmp_path):
    fake = hb_fake
    app_owner = fake.add_user("app-owner")
    guild = fake.add_guild("Careers")
    fake.add_member(guild, app_owner, permissions=perms.MANAGE_GUILD)
    operator = fake.add_user("operator", guild=guild, permissions=perms.MANAGE_GUILD)
    _, _, stack, _ = await start_ops(fake, db_url, tmp_path, owner_ids=[operator.id])
    async with stack:
        h = await fake.slash(app_owner, "kb reload", guild=guild)
        assert "Only the bot's owners" in text(await h.final_message())
        h = await fake.slash(operator, "kb reload", guild=guild)
        assert title(await h.final_message(timeout=15)) == "Knowledge base reloaded"


async def test_sighup_reloads_the_knowledge_base(ops):
    assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL  # operations() installed it
    edit_feature_title(ops.kdir)
    os.kill(os.getpid(), signal.SIGHUP)

    async def reloaded() -> None:
        while ops.bot.engine.kb.intent_by_id["topic.feature-stores"].title != NEW_TITLE:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reloaded(), 15)
    assert title(await ops.ask(ops.member)) == NEW_TITLE


# --- the token stays out of logs --------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


async def test_token_is_in_no_log_record_at_debug(world, db_url, capfd):
    fake = world.fake
    token = fake.token
    settings = bot_settings(fake, db_url, log_level="DEBUG")
    assert token not in repr(settings) and token not in str(settings)
    assert token not in settings.model_dump_json()
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    task = asyncio.create_task(run(settings))  # what `mentorbot run` does, logging included
    try:
        await fake.wait_ready(timeout=10)
        await fake.wait_for_sync(1, timeout=10)
        h = await fake.slash(world.alice, "levels", guild=world.guild)
        await h.final_message()
        # what a careless library or handler might log: the token raw, in arguments, in an
        # exception, and a token-shaped string that is not ours
        noisy = logging.getLogger("discord.http")
        noisy.debug("headers: {'Authorization': 'Bot %s'}", token)
        noisy.warning(f"retrying with {token}")
        try:
            raise RuntimeError(f"login failed for {token}")
        except RuntimeError:
            noisy.exception("request failed")
        other = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
        noisy.error("some other bot token %s", other)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        root.removeHandler(capture)
        reset_logging()
    discord_debug = [r for r in capture.records
                     if r.name.startswith("discord") and r.levelno == logging.DEBUG]
    assert len(discord_debug) > 20, "DEBUG logging of discord.py was on"
    for record in capture.records:
        assert token not in record.getMessage()
        assert token not in (record.exc_text or "")
        assert token not in str(record.args)
    everything = "\n".join(capture.lines) + "".join(
        r.exc_text or "" for r in capture.records)
    assert token not in everything and other not in everything
    assert everything.count(REDACTED) >= 4
    assert "login failed for [REDACTED]" in everything
    out, err = capfd.readouterr()  # what run()'s own handler printed (stderr)
    assert "discord" in err and token not in err and token not in out
    assert "login failed for [REDACTED]" in err


async def test_rejected_token_is_one_line_without_the_token(fake, tmp_path):
    wrong = FakeDiscord._make_token(fake.application_id)  # token-shaped, not the fake's
    assert wrong != fake.token
    env = run_env(fake, tmp_path, DISCORD_TOKEN=wrong, LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert lines == ["mentorbot: Discord rejected the token (DISCORD_TOKEN): check it in the "
                     "developer portal"], err.decode()
    assert wrong.encode() not in out + err
    assert fake.find_requests("GET", "/users/@me")[0].status == 401


async def test_rejected_token_at_debug_leaves_no_trace_of_it(fake, tmp_path):
    wrong = FakeDiscord._make_token(fake.application_id)
    env = run_env(fake, tmp_path, DISCORD_TOKEN=wrong, LOG_LEVEL="DEBUG", LOG_FORMAT="json")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("mentorbot: Discord rejected the token")
    records = [json.loads(line) for line in lines[:-1]]
    assert any(r["logger"].startswith("discord") and r["level"] == "DEBUG" for r in records)
    assert wrong.encode() not in out + err


# --- `mentorbot run` as a process: endpoint, JSON logs, SIGHUP ---------------------------------


def run_env(fake: FakeDiscord, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "HTTP_", "LOG_"))}
    env.update(DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base,
               DISCORD_GATEWAY_URL=fake.gateway_url, REMINDERS_ENABLED="false",
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
               PYTHONPATH=str(REPO))
    env.update(extra)
    return env


async def test_mentorbot_run_process_health_metrics_json_logs_and_sighup(hb_fake, tmp_path):
    fake = hb_fake
    guild = fake.add_guild("Careers")
    alice = fake.add_user("alice", guild=guild)
    kdir = copy_knowledge(tmp_path)
    port = free_port()
    env = run_env(fake, tmp_path, HTTP_PORT=str(port), LOG_FORMAT="json",
                  KNOWLEDGE_DIR=str(kdir))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    async def get(path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(base + path) as resp:
            return resp.status, await resp.text()

    async def healthy() -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                if (await get("/healthz"))[0] == 200:
                    return
            assert proc.returncode is None, "mentorbot run exited"
            await asyncio.sleep(0.2)

    async def ask() -> str:
        h = await fake.slash(alice, "ask", {"question": QUESTION}, guild=guild)
        return title(await h.final_message(timeout=10))

    try:
        await asyncio.wait_for(healthy(), 45)
        assert await ask() == "Feature stores: Feast vs Tecton"
        edit_feature_title(kdir)
        proc.send_signal(signal.SIGHUP)  # `docker kill -s HUP`

        async def reloaded() -> None:
            while 'mentorbot_knowledge_reloads_total{outcome="ok"} 1.0' not in (
                    await get("/metrics"))[1]:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(reloaded(), 20)
        assert await ask() == NEW_TITLE
        _, metrics = await get("/metrics")
        assert 'mentorbot_interactions_total{command="ask",outcome="ok"} 2.0' in metrics
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # the image's STOPSIGNAL
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    text_err = err.decode()
    lines = [line for line in text_err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("SIGHUP received") for m in messages), messages
    assert any(m.startswith("Knowledge base reloaded") for m in messages), messages
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], text_err[-3000:]
    assert fake.token not in text_err and fake.token.encode() not in out
    assert proc.returncode in (0, 130), shlex.join(["stderr:", text_err[-2000:]])


# --- the daily question-log purge ---------------------------------------------------------------


async def test_the_bot_purges_old_questions_with_reminders_off(world, db_url, monkeypatch):
    """The purge is its own job: it runs after start (then daily) with REMINDERS_ENABLED=false."""
    from datetime import UTC, datetime, timedelta

    from bot.frontends.discord import background

    monkeypatch.setattr(background, "PURGE_FIRST_DELAY", 0.2)  # a minute in production

    from bot.storage.migrate import upgrade_async
    from tests.conftest import FakeClock

    await upgrade_async(db_url)
    settings = bot_settings(world.fake, db_url, question_log_days=30)
    assert settings.reminders_enabled is False
    past = Store.open(db_url, clock=FakeClock(datetime.now(UTC) - timedelta(days=45)))
    store = Store.open(db_url)
    try:
        await past.questions.log("how do I bake sourdough", "unanswered", None, 0.0)
        await store.questions.log("what is a feature store", "unanswered", None, 0.0)
        assert len(await store.questions.top_unanswered()) == 2
        running = Running(world.fake, settings)
        await running.start()
        try:
            async def purged() -> None:
                while len(await store.questions.top_unanswered()) != 1:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(purged(), 15)
            assert await store.questions.top_unanswered() == [("what is a feature store", 1)]
            assert {t.get_name() for t in running.bot._background} == {"question-log purge"}
        finally:
            await running.stop()
    finally:
        await past.close()
        await store.close()
