"""Invalid settings stop `mentorbot run` / `mentorbot chat` at start with one clear line."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

TOKEN = "MTE5ODc2NTQzMjEwOTg3NjU0MzI.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"

CASES = [
    ({"LOG_LEVEL": "loud"}, "invalid setting LOG_LEVEL: Value error, must be DEBUG, INFO"),
    ({"LOG_FORMAT": "xml"}, "invalid setting LOG_FORMAT: Input should be 'text' or 'json'"),
    ({"HTTP_PORT": "abc"}, "invalid setting HTTP_PORT: Input should be a valid integer"),
    ({"DATABASE_URL": "nonsense"}, "invalid database URL"),
    ({"DATABASE_URL": "mysql://u@h/db"}, "unsupported database 'mysql'"),
    ({"QUESTION_LOG_DAYS": "0"}, "invalid setting QUESTION_LOG_DAYS: Input should be greater"),
    ({"SHARD_IDS": "0,1"}, "invalid setting SHARD_IDS"),
]


async def mentorbot(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items()
            if k.upper() not in {"DISCORD_TOKEN", "DATABASE_URL", "HTTP_PORT", "LOG_LEVEL",
                                 "LOG_FORMAT", "KNOWLEDGE_DIR"}}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env={**base, **env},
        stdin=asyncio.subprocess.DEVNULL,  # stdin closed
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("command", ["run", "chat"])
async def test_invalid_settings_are_one_line_and_exit_1(command, tmp_path):
    env_common = {"DISCORD_TOKEN": TOKEN,
                  "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}"}
    results = await asyncio.gather(*(
        mentorbot([command], {**env_common, **env}, tmp_path) for env, _ in CASES))
    for (env, expected), (code, out, err) in zip(CASES, results, strict=True):
        lines = err.strip().splitlines()
        assert code == 1, (env, code, err)
        assert len(lines) == 1 and lines[0].startswith("mentorbot: "), (env, err)
        assert expected in lines[0], (env, lines[0])
        assert TOKEN not in out + err
        assert "Traceback" not in err


async def test_invalid_settings_in_dotenv_are_reported_too(tmp_path):
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nHTTP_PORT=eighty\n")
    code, _out, err = await mentorbot(["run"], {}, tmp_path)
    assert code == 1
    assert err.strip() == ("mentorbot: invalid setting HTTP_PORT: Input should be a valid "
                           "integer, unable to parse string as an integer")


async def test_http_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = await mentorbot(
            ["run"], {"DISCORD_TOKEN": TOKEN, "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                      "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"}, tmp_path)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mentorbot: cannot serve /healthz and /metrics on 127.0.0.1:{port}")
    assert TOKEN not in err


async def test_chat_with_valid_settings_and_stdin_closed_exits_cleanly(tmp_path):
    code, _out, err = await mentorbot(
        ["chat"], {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"}, tmp_path)
    assert code == 0, err
    assert "Traceback" not in err
