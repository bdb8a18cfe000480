"""The `mentorbot` command line: ask (text, --json, --batch), kb check / list."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
