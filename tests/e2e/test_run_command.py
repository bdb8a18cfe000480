"""``mentorbot run`` itself, as a process, against the loopback fake of Discord."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
        # the long-running bot serves on uvloop wherever the package installed it
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        assert f"event loop: {loop}".encode() in err


async def test_missing_token_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0] and "mentorbot chat" in lines[0]


# --- stopping: SIGTERM and SIGINT at any moment, also as PID 1 ----------------------------------

MOMENTS = ("setup", "connecting", "ready", "ready+1s", "serving")
UNSHARE = shutil.which("unshare")


def _can_be_pid1() -> bool:
    if UNSHARE is None or os.geteuid() != 0:
        return False
    probe = subprocess.run([UNSHARE, "--pid", "--fork", "--mount-proc", "sh", "-c", "echo $$"],
                           capture_output=True, text=True, timeout=20)
    return probe.returncode == 0 and probe.stdout.strip() == "1"


def _child_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


async def _stop_at(sig: signal.Signals, moment: str, tmp_path: Path, *, pid1: bool = False
                   ) -> dict[str, object]:
    """Start ``mentorbot run`` (as PID 1 of a new PID namespace when ``pid1``), send ``sig`` at
    ``moment`` from outside (as ``docker stop`` does), and report how it ended."""
    db = tmp_path / moment / "bot.db"
    db.parent.mkdir(parents=True)
    async with FakeDiscord(heartbeat_interval=0.5) as fake:
        guild = fake.add_guild("Careers")
        alice = fake.add_user("alice", guild=guild)
        env = dict(os.environ, DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base,
                   DISCORD_GATEWAY_URL=fake.gateway_url, REMINDERS_ENABLED="true",
                   LOG_LEVEL="INFO", DATABASE_URL=f"sqlite+aiosqlite:///{db}")
        argv = [sys.executable, "-m", "bot", "run"]
        if pid1:
            assert UNSHARE is not None
            argv = [UNSHARE, "--pid", "--fork", "--mount-proc", *argv]
        log = db.parent / "stderr.log"  # a file: still readable if the process hangs
        env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps every thread's stack
        with log.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=db.parent, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=sink)
        target = proc.pid
        try:
            if pid1:
                for _ in range(200):
                    child = _child_of(proc.pid)
                    if child is not None:
                        target = child
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("unshare started no child")
            if moment == "setup":
                await asyncio.sleep(0.3)  # Python is still importing / opening the database
            elif moment == "connecting":
                await fake.state.wait_for(lambda: bool(fake.gateway.connections), 30, "connect")
            else:
                await fake.wait_ready(timeout=30)
                if moment == "ready+1s":
                    await asyncio.sleep(1.0)
                elif moment == "serving":
                    await fake.wait_for_sync(1, timeout=30)
                    h = await fake.slash(alice, "levels", guild=guild)
                    await h.final_message(timeout=10)
            assert proc.returncode is None, "exited before the signal"
            sent = time.monotonic()
            os.kill(target, sig)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), 30)
            except TimeoutError:
                os.kill(target, signal.SIGABRT)
                await asyncio.sleep(1)
                raise AssertionError(f"{moment}: still running 30 s after {sig.name}:\n"
                                     + log.read_text()[-6000:]) from None
            took = time.monotonic() - sent
            err = log.read_bytes()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # a connection stopped before it identified (mid-handshake) has nothing to close
        # gracefully; every session that was identified must be closed by the bot (1000)
        closes = [c.close_code for c in fake.gateway.connections if c.session is not None]
    return {"moment": moment, "code": proc.returncode, "took": took, "err": err.decode(),
            "out": out.decode(), "closes": closes, "db": db}


def _assert_clean(r: dict[str, object]) -> None:
    err = str(r["err"])
    assert r["code"] == 0, r
    assert "Traceback" not in err and "Event loop is closed" not in err, err[-3000:]
    assert float(r["took"]) < 10.0, r  # STOP_TIMEOUT bounds the gateway's close
    # the gateway was closed by the bot (1000), not dropped with the process
    assert all(code == 1000 for code in r["closes"]), r["closes"]  # type: ignore[attr-defined]
    db = Path(str(r["db"]))
    # the database was closed: SQLite removes the WAL file when its last connection closes
    assert not db.with_name(db.name + "-wal").exists(), "database left open"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_stops_cleanly_at_any_moment(sig, tmp_path):
    results = [await _stop_at(sig, moment, tmp_path) for moment in MOMENTS]
    for r in results:
        _assert_clean(r)
    served = next(r for r in results if r["moment"] == "serving")
    assert "received: stopping" in str(served["err"])


@pytest.mark.skipif(not _can_be_pid1(), reason="needs root and unshare --pid (util-linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_as_pid_1_stops_on_the_signal(sig, tmp_path):
    """In a container the bot is PID 1, for which the kernel drops a signal that has no
    handler: SIGTERM (docker stop, Kubernetes) must still stop it cleanly."""
    for moment in ("setup", "ready", "serving"):
        _assert_clean(await _stop_at(sig, moment, tmp_path, pid1=True))
