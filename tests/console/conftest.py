"""Helpers to drive ``mentorbot chat`` end to end: in-process and as a real subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.frontends.console import Console
from bot.knowledge.loader import KnowledgeBase, load_knowledge

REPO = Path(__file__).resolve().parents[2]
USER = 42


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"


@dataclass
class Session:
    """One console session's result."""

    code: int
    out: str
    err: str = ""

    def assert_clean(self) -> None:
        assert self.code == 0, (self.code, self.out[-2000:], self.err[-2000:])
        assert "Traceback" not in self.out and "Traceback" not in self.err, self.err[-3000:]
        assert "Sorry, that failed" not in self.out  # the console's last-resort net
        assert "error id" not in self.out  # an unexpected error inside the engine

    def titles(self) -> list[str]:
        return [line[3:-3] for line in self.out.splitlines()
                if line.startswith("== ") and line.endswith(" ==")]


ChatFn = Callable[..., Awaitable[Session]]


@pytest.fixture
async def engine_on(kb: KnowledgeBase) -> AsyncIterator[Callable[[str], Awaitable[Engine]]]:
    """``await engine_on(url)``: an engine as ``mentorbot chat`` builds it (migrating the DB)."""
    engines: list[Engine] = []

    async def make(url: str) -> Engine:
        engine = await App(Settings(_env_file=None, database_url=url), kb=kb).engine()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.deps.store.close()


@pytest.fixture
async def chat(engine_on, sqlite_url: str) -> ChatFn:  # type: ignore[no-untyped-def]
    """``await chat(script)``: run a script through the console in-process, plain output.

    Successive calls with the same ``url`` reuse the database, like successive sessions."""

    async def run(script: str, url: str = sqlite_url, user: int = USER,
                  rich: bool = False) -> Session:
        engine = await engine_on(url)
        out = io.StringIO()
        console = Console(engine, Member(user, name="you"), out=out, rich=rich)
        code = await console.run(stdin=io.StringIO(script))
        return Session(code, out.getvalue())

    return run


def chat_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "MENTORBOT_", "DISCORD_", "KNOWLEDGE_"))
           or k == "MENTORBOT_CACHE_DIR"}
    env.update(PYTHONUTF8="1", TZ="Europe/Berlin", HOME=str(tmp_path), COLUMNS="100",
               PYTHONPATH=str(REPO))
    return env


def chat_argv(url: str, user: int = USER) -> list[str]:
    return [sys.executable, "-m", "bot", "chat", "--db", url, "--user", str(user)]


def run_chat(tmp_path: Path, url: str, script: str | bytes, user: int = USER,
             timeout: float = 60) -> Session:
    """The real ``mentorbot chat`` with ``script`` on a pipe as its stdin."""
    data = script.encode() if isinstance(script, str) else script
    proc = subprocess.run(chat_argv(url, user), input=data, capture_output=True,
                          cwd=tmp_path, env=chat_env(tmp_path), timeout=timeout)
    return Session(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                   proc.stderr.decode("utf-8", "replace"))
