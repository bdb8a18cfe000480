"""The `mentorbot` command line: ask (text, --json, --batch), kb check / list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.mentorbot_probe import mentorbot_then

ROOT = Path(__file__).resolve().parents[2]


def mentorbot(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=60)


def test_ask_json_follows_the_contract():
    out = mentorbot("ask", "--json", "feast or tecton?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["question"] == "feast or tecton?"
    assert data["intent"] == "topic.feature-stores"
    assert isinstance(data["score"], float) and 0 <= data["score"] <= 100
    assert len(data["alternatives"]) <= 3


def test_ask_batch_json_one_object_per_line(tmp_path):
    questions = ["how long until senior?", "what's the weather in Paris", "",
                 "🤖🤖", "k8s how deep"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(questions), encoding="utf-8")
    out = mentorbot("ask", "--batch", str(path), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["question"] for r in rows] == [q for q in questions if q.strip()]
    by_q = {r["question"]: r["intent"] for r in rows}
    assert by_q["how long until senior?"] == "faq.time-to-senior"
    assert by_q["what's the weather in Paris"] is None
    assert by_q["🤖🤖"] is None


def test_ask_prints_a_rendered_answer_and_handles_nonsense():
    out = mentorbot("ask", "I know MLflow but never get promoted")
    assert out.returncode == 0 and out.stdout.startswith("== ")
    assert "Sources:" in out.stdout
    odd = mentorbot("ask", "\x07\x1b[31m 🙃")
    assert odd.returncode == 0 and "Traceback" not in odd.stdout + odd.stderr


def test_ask_prints_the_first_answer_and_full_prints_the_card():
    short = mentorbot("ask", "feast or tecton?")
    full = mentorbot("ask", "--full", "feast or tecton?")
    assert short.returncode == full.returncode == 0
    assert short.stdout.splitlines()[0] == full.stdout.splitlines()[0]  # the same title
    assert len(short.stdout.split()) < 170 < len(full.stdout.split())
    assert "More" in short.stdout and ".txt" not in short.stdout + full.stdout


def test_ask_without_a_question_is_a_usage_error():
    for args in ((), ("",), ("  ", "\x1b[0m")):
        out = mentorbot("ask", *args)
        assert out.returncode == 2 and "give a question" in out.stderr and not out.stdout


def test_ask_batch_is_sanitised_and_bounded(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes(b"feast or tecton \x1b[31mred\x1b[0m?\n\x00\x07\n" + b"x" * 5000 + b"\n")
    out = mentorbot("ask", "--batch", str(path), "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert "\x1b" not in out.stdout and rows[0]["question"] == "feast or tecton red?"
    assert all(len(r["question"]) <= 2000 for r in rows)
    zero = mentorbot("ask", "--batch", "/dev/zero")
    assert zero.returncode == 1 and "larger than" in zero.stderr and not zero.stdout


def test_sources_by_name_never_by_file():
    out = mentorbot("sources")
    assert out.returncode == 0 and "MentorCruise" in out.stdout and ".txt" not in out.stdout


def test_kb_list_json():
    out = mentorbot("kb", "list", "--json")
    rows = json.loads(out.stdout)
    assert len(rows) >= 48 and {"id", "title", "kind"} == set(rows[0])


def test_kb_check_reports_file_line_and_exits_1(tmp_path):
    broken = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", broken)
    (broken / "roadmap.yaml").write_text("title: x\nstages:\n  - months: [\n", encoding="utf-8")
    out = mentorbot("kb", "check", "--knowledge", str(broken))
    assert out.returncode == 1
    assert "roadmap.yaml:" in out.stderr and "YAML syntax error" in out.stderr
    ok = mentorbot("kb", "check")
    assert ok.returncode == 0 and "knowledge base OK: 48 intents" in ok.stdout


def test_kb_check_warns_about_progress_a_rename_would_orphan(tmp_path):
    import asyncio

    from bot.storage import Store
    from bot.storage.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"

    async def seed() -> None:
        await upgrade_async(url)
        store = Store.open(url)
        try:
            await store.checklist.mark(7, "p1.renamed-long-ago")
            await store.checklist.mark(7, "p1.drift-event")
        finally:
            await store.close()

    asyncio.run(seed())
    out = mentorbot("kb", "check", "--db", url)
    assert out.returncode == 0, out.stderr
    assert "p1.renamed-long-ago" in out.stderr and "1 member" in out.stderr
    assert "p1.drift-event" not in out.stderr


# --- one line for the operator, whatever the command --------------------------------------------

BAD_PG = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k.upper() not in {"DISCORD_TOKEN", "DATABASE_URL", "LOG_LEVEL", "KNOWLEDGE_DIR"}}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=cwd, env={**base, "PYTHONPATH": str(ROOT), **env}, timeout=90,
                          stdin=subprocess.DEVNULL)


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("mentorbot: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    return lines[0]


TOKEN = "MTE5ODc2NTQzMjEwOTg3NjU0MzI.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
EVERY_COMMAND = [["chat"], ["run"], ["sync"], ["ask", "hello"], ["kb", "list"], ["kb", "check"],
                 ["db", "current"], ["db", "upgrade"], ["db", "purge"], ["reminders", "run-once"]]


@pytest.mark.parametrize("env, expected", [
    ({"LOG_LEVEL": "bogus"}, "invalid setting LOG_LEVEL"),
    ({"DATABASE_URL": "nonsense://"}, "unsupported database 'nonsense'"),
])
def test_a_bad_setting_stops_every_command_with_one_line(env, expected, tmp_path):
    for args in EVERY_COMMAND:
        line = one_line(run_cli(args, {"DISCORD_TOKEN": TOKEN, **env}, tmp_path))
        assert expected in line, (args, line)


def test_an_unreachable_database_is_one_line_for_every_command_that_opens_it(tmp_path):
    for args in (["chat"], ["run"], ["db", "current"], ["db", "upgrade"], ["db", "purge"],
                 ["reminders", "run-once"], ["kb", "check", "--db", BAD_PG]):
        line = one_line(run_cli(args, {"DISCORD_TOKEN": TOKEN, "DATABASE_URL": BAD_PG},
                                tmp_path))
        assert "database unavailable" in line and "127.0.0.1:1" in line, (args, line)


def test_a_path_given_as_database_url_gets_the_url_it_meant(tmp_path):
    line = one_line(run_cli(["db", "current", "--db", "data/x.db"], {}, tmp_path))
    assert "(--db)" in line and "did you mean sqlite+aiosqlite:///data/x.db?" in line
    line = one_line(run_cli(["chat"], {"DATABASE_URL": "/srv/mentorbot.db"}, tmp_path))
    assert "DATABASE_URL" in line and "sqlite+aiosqlite:////srv/mentorbot.db" in line


@pytest.mark.parametrize("args", [["ask", "how long until senior?"], ["kb", "list"],
                                  ["ask", "--batch", "QUESTIONS", "--json"]])
def test_a_reader_that_closes_stdout_early_ends_it_quietly(args, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("how long until senior?\n" * 20000, encoding="utf-8")
    args = [str(questions) if a == "QUESTIONS" else a for a in args]
    for _ in range(3):  # the race (reader gone before or after the first write) varies
        proc = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()  # `| head -1`
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) in (0, 141), err
        assert err == "", err


@pytest.mark.parametrize("args, forbidden", [
    (["kb", "list"], ("sqlalchemy", "alembic", "discord", "aiohttp")),
    (["ask", "--json", "feast or tecton?"], ("sqlalchemy", "alembic", "discord", "aiohttp")),
    (["ask", "feast or tecton?"], ("sqlalchemy", "alembic", "discord", "aiohttp",
                                   "bot.engine.core", "bot.engine.quiz")),
])
def test_commands_load_only_what_they_need(args, forbidden, tmp_path):
    probe = mentorbot_then(
        "sys.stdout.flush()\n"
        "print('\\nLOADED', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    loaded = set(out.stdout.rsplit("LOADED", 1)[1].split())
    assert "bot" in loaded and not loaded & set(forbidden), loaded & set(forbidden)


def test_start_up_runs_without_the_cyclic_gc_and_in_process_freezes_nothing():
    import gc

    from bot.cli import starting

    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    with starting():
        assert not gc.isenabled()
        with starting():  # nested: still off, and the outer one turns it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()  # turned off by whoever runs us: left off
    try:
        with starting():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_mentorbot_process_freezes_what_start_up_built_and_collects_after(tmp_path):
    probe = mentorbot_then("import gc\nprint('GC', gc.isenabled(), gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", probe, "ask", "--json", "feast or tecton?"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["intent"] == "topic.feature-stores"
    _, enabled, frozen = out.stdout.splitlines()[-1].split()
    assert enabled == "True" and int(frozen) > 10_000  # the imports, the kb, the matcher


def test_db_purge_deletes_only_old_questions(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    assert run_cli(["db", "upgrade", "--db", url], {}, tmp_path).returncode == 0
    out = run_cli(["db", "purge", "--db", url], {"QUESTION_LOG_DAYS": "30"}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("purged 0 logged questions older than 30 days "
                                  "(QUESTION_LOG_DAYS)")


def _read_only_mount_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return False
    probe = subprocess.run([unshare, "--mount", "sh", "-c", "mount --bind /tmp /tmp && "
                            "mount -o remount,bind,ro /tmp && ! touch /tmp/.mentorbot-ro"],
                           capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.mark.skipif(not _read_only_mount_works(),
                    reason="needs root and unshare --mount (a non-root uid cannot run this "
                    "interpreter here, so the unwritable directory is a read-only mount)")
def test_an_unwritable_sqlite_directory_names_the_user_and_the_fix(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'mentorbot.db'}"
    for args in (["run"], ["chat"], ["db", "upgrade"], ["reminders", "run-once"]):
        out = subprocess.run(
            ["unshare", "--mount", "sh", "-c", f'mount --bind "{tmp_path}" "{tmp_path}" && '
             f'mount -o remount,bind,ro "{tmp_path}" && exec "$@"', "sh",
             sys.executable, "-m", "bot", *args],
            capture_output=True, text=True, cwd=ROOT, timeout=90, stdin=subprocess.DEVNULL,
            env={**os.environ, "DATABASE_URL": url, "DISCORD_TOKEN": TOKEN})
        line = one_line(out)
        assert f"the directory {data} is not writable by uid {os.getuid()}" in line, line
        assert "chown" in line and "DATABASE_URL" in line
        assert "Event loop is closed" not in out.stderr


# OpenBLAS caps its threads at the machine's cores
@pytest.mark.parametrize("preset, expected", [(None, 1), ("2", min(2, os.cpu_count() or 1))])
def test_the_mentorbot_process_starts_one_blas_thread_unless_told(preset, expected, tmp_path):
    probe = mentorbot_then("from threadpoolctl import threadpool_info\n"
                           "print('\\nBLAS', *sorted({p['num_threads'] for p in threadpool_info()"
                           " if p['internal_api'] == 'openblas'}))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    out = subprocess.run([sys.executable, "-c", probe, "ask", "feast or tecton?"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={**env, "PYTHONPATH": str(ROOT)})
    assert out.stdout.rsplit("BLAS", 1)[1].split() == [str(expected)], out.stderr
