"""The real ``mentorbot chat`` as a subprocess (``python -m bot chat --db … --user 42``).

Piped stdin and stdout: no prompt, no banner, plain text, exit status 0 and never a traceback.
The full session runs on SQLite and, when ``MENTORBOT_TEST_POSTGRES_URL`` is set, on
PostgreSQL (the console migrates the database itself at start).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from bot.render import progress_bar
from tests.console.conftest import USER, Session, chat_argv, chat_env, run_chat


def lines(*typed: str) -> str:
    return "".join(f"{t}\n" for t in typed)


async def test_a_whole_session_on_a_pipe(db_url, tmp_path, kb):
    item = kb.phase_by_number[2].checklist[0]
    export = tmp_path / "me.json"
    s = run_chat(tmp_path, db_url, lines(
        "/quiz", "yes", "no", "y", "n", "3", "no", "1", "n",  # 3 = Back, 1 = Yes
        "how long until senior?",
        f"/done {item.id} https://github.com/me/pr/7",
        "/progress",
        "/reminders on friday 18 Europe/Berlin", "/reminders status", "/reminders off",
        f"/export {export}",
        "/delete", "1",
        "/progress",
    ))
    s.assert_clean()
    assert s.err == ""
    # piped: no banner, no prompt, the first line is the first reply
    assert s.out.startswith("== Which phase are you in? ==\n")
    assert "you>" not in s.out and "Ctrl-D to leave" not in s.out and "bye!" not in s.out
    assert "\x1b[" not in s.out  # no colours on a pipe
    assert f"You're in phase 2: {kb.phase_by_number[2].title}" in s.titles()
    assert "You answered yes to 3 of 6" in s.out
    assert kb.intent_by_id["faq.time-to-senior"].title in s.titles()
    assert f"✅ Marked {item.title} as done (evidence: https://github.com/me/pr/7)." in s.out
    assert f"Phase 2 {progress_bar(1, 4)}" in s.out
    assert "Weekly reminders are on: every Friday at 18:00 (Europe/Berlin)." in s.out
    # <t:…> shown in the local time of this terminal (TZ=Europe/Berlin): 18:00 CET or CEST
    assert re.search(r"^Next one: Fri \d{2} \w{3}, 18:00 in Europe/Berlin, which is "
                     r"Fri \d{2} \w{3} \d{4} 18:00 CES?T for you \(in \d+ (days?|hours?)\)\.$",
                     s.out, re.M), s.out
    assert "<t:" not in s.out
    assert "Weekly reminders are off" in s.titles()
    data = json.loads(export.read_text(encoding="utf-8"))
    assert item.id in json.dumps(data)
    assert f"Written to {export} (" in s.out
    assert s.titles()[-3:] == ["Delete all your data?", "Your data is deleted", "Your progress"]
    before, after = s.out.split("== Your data is deleted ==")
    assert f"Overall {progress_bar(1, 16)}" in before
    assert f"Overall {progress_bar(0, 16)}" in after and "No phase yet" in after


async def test_bad_input_on_a_pipe(tmp_path, sqlite_url):
    script = (b"\n\r\n   \n\x00\x00\n\x1b[31m\x1b[0m\n\xff\xfe\xfd\n"  # invalid UTF-8
              + "🤖🔥\n".encode()
              + b"z" * 100_000 + b"\n"
              + b"/quiz\n\x00\n7\nyes\n"  # a NUL and a number out of range at the quiz
              + b"/done zzzz-nothing\n/done \"abc\n/reminders on friday 18 Mars/Olympus\n"
              + b"/frobnicate\n/export\n/progress\r\n/quiz")  # no newline before EOF
    s = run_chat(tmp_path, sqlite_url, script)
    s.assert_clean()
    assert s.err == ""
    assert "\x1b" not in s.out and "\x00" not in s.out
    assert "There is no choice 7." in s.out
    assert re.findall(r"^Question (\d) of 6$", s.out, re.M) == ["1", "2", "2"]
    assert "I know no checklist item “zzzz-nothing”" in s.out
    assert "I know no checklist item “abc”" in s.out
    assert "unknown timezone 'Mars/Olympus'" in s.out
    assert "Unknown command /frobnicate." in s.out
    assert (tmp_path / f"mentorbot-data-{USER}.json").is_file()  # /export: into HOME
    assert "Your progress" in s.titles()


async def test_eof_mid_quiz_then_the_next_session_resumes_it(tmp_path, sqlite_url):
    first = run_chat(tmp_path, sqlite_url, lines("/quiz", "no", "yes", "no"))
    first.assert_clean()
    assert re.findall(r"^Question (\d) of 6$", first.out, re.M) == ["1", "2", "3", "4"]
    script = tmp_path / "script.txt"  # this time `mentorbot chat < script.txt`: a regular file
    script.write_text(lines("/quiz", "no", "no", "no"), encoding="utf-8")
    with script.open("rb") as stdin:
        proc = subprocess.run(chat_argv(sqlite_url), stdin=stdin, capture_output=True,
                              cwd=tmp_path, env=chat_env(tmp_path), timeout=60)
    second = Session(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    second.assert_clean()
    assert re.findall(r"^Question (\d) of 6$", second.out, re.M) == ["4", "5", "6"]
    assert "You answered yes to 1 of 6" in second.out


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and sh")


#: runs the rest of its argv with SIGINT at its default: a shell starts a background job
#: (``pytest &`` in a script) with SIGINT ignored, its children inherit that, and a program
#: that finds SIGINT ignored rightly keeps it so (Python does not install its handler)
_SIGINT_DEFAULT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execv(sys.argv[1], sys.argv[1:])")


@posix_only
def test_ctrl_c_on_an_open_pipe_exits_cleanly(tmp_path, sqlite_url):
    argv = [sys.executable, "-c", _SIGINT_DEFAULT, *chat_argv(sqlite_url)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env=chat_env(tmp_path))
    try:
        assert proc.stdin and proc.stdout and proc.stderr
        proc.stdin.write(b"/progress\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"== Your progress ==\n"  # it is up and waiting
        time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)  # stdin stays open: nothing else would end it
        code = proc.wait(timeout=15)
        assert time.monotonic() - started < 5
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert code in (130, 0), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Error" not in err


def test_a_reader_that_stops_early_is_no_error(tmp_path, sqlite_url):
    """``mentorbot chat < script | head -1``: the output pipe closes under the console."""
    proc = subprocess.Popen(chat_argv(sqlite_url), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env=chat_env(tmp_path))
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        proc.stdin.write(b"/help\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"== mentorbot: your MLOps career mentor ==\n"
        proc.stdout.close()
        try:
            proc.stdin.write(b"/help\n" * 200)
            proc.stdin.close()
        except BrokenPipeError:  # it may have left already: fine too
            pass
        code = proc.wait(timeout=15)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert code == 0, err
    assert err == ""


@posix_only
def test_stdin_from_dev_null_or_closed_is_an_empty_session(tmp_path, sqlite_url):
    argv = chat_argv(sqlite_url)
    procs = [subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=tmp_path, env=chat_env(tmp_path))
             for command in (argv, ["sh", "-c", 'exec "$@" <&-', "sh", *argv])]  # in parallel
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out, err) == (0, b"", b""), err


async def test_a_typed_answer_after_a_restart_shows_the_waiting_question(tmp_path, sqlite_url):
    first = run_chat(tmp_path, sqlite_url, lines("/quiz", "no", "yes"))
    first.assert_clean()
    second = run_chat(tmp_path, sqlite_url, lines("yes", "yes"))  # a new session: no choices
    second.assert_clean()
    assert "Your quiz was waiting at this question" in second.out
    assert re.findall(r"^Question (\d) of 6$", second.out, re.M) == ["3", "4"]
    fresh = run_chat(tmp_path, sqlite_url.replace(".db", "-other.db"), lines("yes"))
    assert "Question" not in fresh.out  # no quiz open: "yes" is just a line
