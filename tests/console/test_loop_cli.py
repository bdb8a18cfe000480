"""The knowledge loop's command-line contract, as other tools use it: subprocesses on a real
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.storage import Store
from bot.storage.migrate import upgrade_async

ROOT = Path(__file__).resolve().parents[2]
MISS = "what does an ML platform team spend its time on"
NONSENSE = "best pizza in naples"


def cli(*args: str, stdin: str | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k.upper() not in {"DISCORD_TOKEN", "DATABASE_URL", "LOG_LEVEL", "KNOWLEDGE_DIR"}}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
                          input=stdin, timeout=120)


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    return out.stdout


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mentorbot: "), out.stderr
    return lines[0]


def inbox(url: str, *flags: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in ok(cli("kb", "inbox", "--db", url, "--json",
                                                *flags)).splitlines()]


def ask(url: str, question: str) -> dict[str, object]:
    out = json.loads(ok(cli("ask", "--db", url, "--json", question)))
    assert isinstance(out, dict)
    return out


def test_chat_misses_reach_the_inbox_and_teaching_answers_them(db_url: str) -> None:
    ok(cli("chat", "--db", db_url, stdin=f"{NONSENSE}\n{MISS}\n{MISS}?\nfeast or tecton?\n"))
    rows = inbox(db_url)
    assert [set(r) for r in rows] == [{"id", "question", "status", "guess", "count"}] * 2
    by_q = {r["question"]: r for r in rows}
    assert set(by_q) == {MISS, NONSENSE}  # the answered question is not there
    assert by_q[MISS]["status"] == "ambiguous" and by_q[MISS]["count"] == 2
    assert by_q[NONSENSE]["status"] == "unanswered" and by_q[NONSENSE]["count"] == 1
    assert by_q[MISS]["guess"] == "topic.kubernetes"
    assert ask(db_url, MISS)["status"] == "ambiguous"

    ok(cli("kb", "teach", str(by_q[MISS]["id"]), "faq.day-to-day", "--db", db_url))
    taught = ask(db_url, "What does an ML platform team spend its time on?")
    assert (taught["intent"], taught["status"]) == ("faq.day-to-day", "answered")
    ok(cli("kb", "teach", NONSENSE, "--off-topic", "--db", db_url))  # by its text
    off = ask(db_url, NONSENSE)
    assert (off["intent"], off["status"]) == (None, "unanswered")
    assert inbox(db_url) == []
    assert {r["question"] for r in inbox(db_url, "--all")} == {MISS, NONSENSE}
    # a question never asked can be taught by its text too
    ok(cli("kb", "teach", "who runs the model registry", "faq.day-to-day", "--db", db_url))
    assert ask(db_url, "Who runs the model registry?")["intent"] == "faq.day-to-day"

    assert "no open inbox entry 999" in one_line_error(
        cli("kb", "teach", "999", "faq.day-to-day", "--db", db_url))
    assert "already resolved" in one_line_error(
        cli("kb", "teach", str(by_q[MISS]["id"]), "faq.levels", "--db", db_url))
    assert "unknown intent 'faq.nope'" in one_line_error(
        cli("kb", "teach", MISS, "faq.nope", "--db", db_url))
    assert "no inbox entry 998" in one_line_error(cli("kb", "dismiss", "998", "--db", db_url))
    assert cli("kb", "teach", MISS, "--db", db_url).returncode == 2  # neither intent nor flag
    assert cli("kb", "dismiss", "abc", "--db", db_url).returncode == 2

    exported = ok(cli("kb", "export-overlay", "--db", db_url))
    assert MISS in exported and NONSENSE in exported and "who runs the model registry" in \
        exported
    assert "knowledge base OK" in ok(cli("kb", "check", "--db", db_url))


def test_ask_answers_paraphrases_of_what_was_taught(db_url: str) -> None:
    """``mentorbot ask --db`` retrains the matcher with the overlay, as the bot's processes do:
    not only the exact wording of a taught question is answered."""
    paraphrase = "what does a ML platform team spend their time on?"
    off_topic = "how do I price my side project"
    before = ask(db_url, paraphrase)
    assert before["intent"] != "faq.day-to-day"
    assert ask(db_url, "how to price a side project?")["status"] == "answered"
    ok(cli("kb", "teach", MISS, "faq.day-to-day", "--db", db_url))
    ok(cli("kb", "teach", off_topic, "--off-topic", "--db", db_url))
    taught = ask(db_url, paraphrase)
    assert (taught["intent"], taught["status"]) == ("faq.day-to-day", "answered")
    off = ask(db_url, "how to price a side project?")
    assert (off["intent"], off["status"]) == (None, "unanswered")
    text = ok(cli("ask", "--db", db_url, paraphrase))
    assert "What an MLOps engineer does day to day" in text


def test_dismiss_and_the_configured_database(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    ok(cli("chat", stdin=f"{NONSENSE}\n", env=env, cwd=tmp_path))
    (row,) = [json.loads(x) for x in ok(cli("kb", "inbox", "--json", env=env)).splitlines()]
    ok(cli("kb", "dismiss", str(row["id"]), env=env))
    assert ok(cli("kb", "inbox", "--json", env=env)) == ""
    ok(cli("kb", "teach", NONSENSE, "--off-topic", env=env))
    assert json.loads(ok(cli("ask", "--json", NONSENSE, env=env)))["status"] == "unanswered"


async def test_a_proposed_answer_becomes_an_intent_from_the_command_line(db_url: str) -> None:
    await upgrade_async(db_url)
    async with Store.open(db_url) as store:
        await store.inbox.propose_answer(
            "is the berlin mlops meetup worth it", "Yes, if you give a talk there.",
            mentor_id=77, mentor_name="ada")
    (row,) = inbox(db_url)
    assert row["status"] == "proposed_answer"
    out = ok(cli("kb", "adopt", str(row["id"]), "--title", "The Berlin MLOps meetup",
                 "--db", db_url))
    assert "community.the-berlin-mlops-meetup" in out
    answer = ask(db_url, "Is the Berlin MLOps meetup worth it?")
    assert (answer["intent"], answer["status"]) == ("community.the-berlin-mlops-meetup",
                                                    "answered")
    text = ok(cli("ask", "--db", db_url, "is the berlin mlops meetup worth it"))
    assert "Yes, if you give a talk there." in text and "community answer by" in text


async def test_kb_check_refuses_an_overlay_naming_a_missing_intent(db_url: str) -> None:
    await upgrade_async(db_url)
    async with Store.open(db_url) as store:
        await store.overlay.teach("what is a feature flag", "faq.gone")
    out = cli("kb", "check", "--db", db_url)
    assert out.returncode == 1
    assert "names the missing intent 'faq.gone'" in out.stderr


def test_apply_overlay_keeps_comments_and_order_then_retire(db_url: str,
                                                            tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    ok(cli("chat", "--db", db_url, stdin=f"{MISS}\n"))
    ok(cli("kb", "teach", MISS, "faq.day-to-day", "--db", db_url))
    for q in ("tell me about pizza", "who won the derby", "my cat is sick"):
        ok(cli("kb", "teach", q, "--off-topic", "--db", db_url))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(ok(cli("kb", "export-overlay", "--db", db_url)), encoding="utf-8")
    before = {p.name: p.read_text(encoding="utf-8") for p in knowledge.rglob("*.yaml")}
    out = ok(cli("kb", "apply-overlay", str(overlay), "--knowledge", str(knowledge)))
    assert "faq.day-to-day: + " + MISS in out
    after = {p.name: p.read_text(encoding="utf-8") for p in knowledge.rglob("*.yaml")}
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"career-faq.yaml", "out_of_scope.yaml"}
    for name in changed:  # only lines added: every comment and every line kept in order
        old, new = before[name].splitlines(), after[name].splitlines()
        it = iter(new)
        assert all(line in it for line in old), name
        assert len(new) > len(old)
    assert f"      - {MISS}" in after["career-faq.yaml"].splitlines()
    assert "knowledge base OK" in ok(cli("kb", "check", "--knowledge", str(knowledge)))
    # applying twice adds nothing
    ok(cli("kb", "apply-overlay", str(overlay), "--knowledge", str(knowledge)))
    assert {p.name: p.read_text(encoding="utf-8") for p in knowledge.rglob("*.yaml")} == after
    out = ok(cli("kb", "retire-overlay", str(overlay), "--knowledge", str(knowledge),
                 "--db", db_url))
    assert "retired 4" in out
    assert "phrasings: {}" in ok(cli("kb", "export-overlay", "--db", db_url))
