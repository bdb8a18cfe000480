"""The console driven in-process: ``Console(engine, member, out=StringIO).run(stdin=StringIO)``.

Plain output (as when piped), a real migrated database. Each test reads like a terminal
session: the script typed, then the lines expected on screen.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from datetime import datetime, timedelta

import pytest

from bot.frontends.console import MAX_BUFFER, Console, clean_line, local_times, plain_markdown
from bot.limits import MAX_QUESTION_CHARS
from bot.render import progress_bar

NEXT_ONE = re.compile(r"^Next one: Fri \d{2} \w{3}, 18:00 in Europe/Berlin, which is "
                      r"\w{3} \d{2} \w{3} "
                      r"\d{4} 18:00 \S+ for you \(in \d+ (days?|hours?)\)\.$",
                      re.M)
TOTAL = 16  # checklist items over the four phases


@pytest.fixture
def berlin(monkeypatch):
    """This process's local time zone is Europe/Berlin for the test."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def lines(*typed: str) -> str:
    return "".join(f"{t}\n" for t in typed)


# --- the quiz ------------------------------------------------------------------------------------


async def test_quiz_taken_to_a_phase_by_typing_answers(chat, kb):
    s = await chat(lines("/quiz", "yes", "no", "y", "n", "1", "2"))
    s.assert_clean()
    phase = kb.phase_by_number[2]
    assert s.titles() == ["Which phase are you in?"] * 6 + [f"You're in phase 2: {phase.title}"]
    for n in range(1, 7):
        assert f"Question {n} of 6" in s.out
    assert "Choices: [1] Yes  [2] No  [3] Start over" in s.out  # no Back on question 1
    assert "Choices: [1] Yes  [2] No  [3] Back  [4] Start over" in s.out
    assert "You answered yes to 3 of 6" in s.out
    assert "Choices: [1] Weekly reminders  [2] Open my checklist  [3] Retake the quiz" in s.out
    for item in phase.checklist:
        assert f"⬜ {item.title}" in s.out


async def test_quiz_back_and_restart(chat, kb):
    s = await chat(lines("/quiz", "y", "y", "back", "n", "b", "b", "restart", "n",
                         "start over", "/quiz restart", *["no"] * 6))
    s.assert_clean()
    asked = re.findall(r"^Question (\d) of 6$", s.out, re.M)
    #     /quiz y  y  back n  b  b  restart n  start over  /quiz restart  six no
    assert asked == ["1", "2", "3", "2", "3", "2", "1", "1", "2", "1", "1",
                     "2", "3", "4", "5", "6"]
    assert s.titles()[-1] == f"You're in phase 1: {kb.phase_by_number[1].title}"
    assert "You answered yes to 0 of 6" in s.out


async def test_eof_in_the_middle_of_the_quiz_then_resume(chat, db_url):
    """On SQLite and, with MENTORBOT_TEST_POSTGRES_URL, on PostgreSQL."""
    first = await chat(lines("/quiz", "yes", "no"), url=db_url)  # EOF at question 3
    first.assert_clean()
    assert first.out.rstrip().splitlines()[-1] == \
        "Choices: [1] Yes  [2] No  [3] Back  [4] Start over"
    second = await chat(lines("/quiz", "yes", "yes", "yes", "yes"), url=db_url)
    second.assert_clean()
    assert re.findall(r"^Question (\d) of 6$", second.out, re.M) == ["3", "4", "5", "6"]
    assert "yes to 5 of 6" in second.out  # yes, no from the first session + four yes


async def test_a_question_in_the_middle_of_the_quiz_pauses_it(chat, kb):
    s = await chat(lines("/quiz", "y", "what is data drift?", "/quiz", "n"))
    s.assert_clean()
    assert kb.intent_by_id["topic.drift-types"].title in s.titles()
    assert "(The quiz is paused at question 2: /quiz continues it.)" in s.out
    assert re.findall(r"^Question (\d) of 6$", s.out, re.M) == ["1", "2", "2", "3"]


# --- ask -----------------------------------------------------------------------------------------


async def test_a_plain_line_is_a_question_and_ask_works_too(chat, kb):
    s = await chat(lines("how long until senior?", "2",
                         "/ask feast or tecton?",
                         "/ask what's a feature store, really?",  # an apostrophe: no shlex error
                         "what's a good recipe for banana bread"))
    s.assert_clean()
    senior = kb.intent_by_id["faq.time-to-senior"].title
    stores = kb.intent_by_id["topic.feature-stores"].title
    assert s.titles() == [senior, "Thanks for the feedback", stores, stores,
                          "I don't know that one"]
    assert "Choices: [1] More  [2] Helpful  [3] Not helpful  [4] Not what I asked" in s.out
    assert "**" not in s.out and "`" not in s.out  # markdown made plain for a pipe


async def test_a_10000_character_question_is_answered(chat, kb):
    question = ("how long until senior mlops " + "really " * 1500)[:10_000]
    s = await chat(lines(question, "x" * 10_000))
    s.assert_clean()
    assert s.titles() == [kb.intent_by_id["faq.time-to-senior"].title, "I don't know that one"]
    assert f"(I read the first {MAX_QUESTION_CHARS} characters of your question." in s.out


# --- checklist & progress ------------------------------------------------------------------------


async def test_checklist_done_by_id_title_and_number_with_evidence_then_undo(chat, kb):
    p1, p3 = kb.phase_by_number[1].checklist, kb.phase_by_number[3].checklist
    s = await chat(lines(
        "/checklist 1",
        f"/done {p1[0].id}",
        "/done tool evaluation https://github.com/me/pr/1",  # fuzzy title + evidence link
        f"/done {p1[1].id} evidence=https://example.org/notes",
        "/checklist 1",
        "/done 3",  # the third item of the checklist just shown
        f"/undo {p1[0].id}",
        "/progress",
    ))
    s.assert_clean()
    assert f"Phase 1 checklist: {kb.phase_by_number[1].checklist_heading}" in s.titles()
    assert f"⬜ {p1[0].title} ({p1[0].id})" in s.out
    assert f"✅ Marked {p1[0].title} as done." in s.out
    assert f"✅ Marked {p3[1].title} as done (evidence: https://github.com/me/pr/1)." in s.out
    assert f"✅ {p1[1].title} ({p1[1].id}) · evidence (https://example.org/notes)" in s.out
    assert f"✅ Marked {p1[2].title} as done." in s.out
    assert f"↩️ {p1[0].title} is open again." in s.out
    # progress: per-phase bars, overall, recent activity
    assert f"Phase 1 {progress_bar(2, 4)}" in s.out
    assert f"Phase 2 {progress_bar(0, 4)}" in s.out
    assert f"Phase 3 {progress_bar(1, 4)}" in s.out
    assert f"Overall {progress_bar(3, TOTAL)}" in s.out
    assert "Recent activity" in s.out and f"• ✅ {p1[2].title} just now" in s.out
    assert "<t:" not in s.out


async def test_checklist_choices_toggle_items_and_completing_a_phase_moves_on(chat, kb):
    p4 = kb.phase_by_number[4].checklist
    s = await chat(lines("/checklist 4", "1", "/checklist 4", "2",
                         *[f"/done {i.id}" for i in p4[2:]], "/checklist 4", "1"))
    s.assert_clean()
    assert "That's every item of phase 4" in s.out
    assert f"Choices: [1] ↩ {p4[0].title}" in s.out
    assert f"↩️ {p4[0].title} is open again." in s.out


async def test_an_item_id_with_something_that_is_no_link_marks_nothing(chat):
    s = await chat(lines("/done p1.drift-event notalink", "/checklist 1"))
    s.assert_clean()
    assert "“notalink” is not a link" in s.out
    assert "✅" not in s.out  # nothing was marked


async def test_done_and_undo_with_bad_items(chat, kb):
    item = kb.phase_by_number[2].checklist[0]
    s = await chat(lines("/done zzzz-not-an-item", "/undo qqqq-nothing", "/done", "/undo",
                         '/done "abc', '/done "tool evaluation', "/done 2",
                         f"/done {item.id} github.com/me/pr/1", f"/done {item.id} javascript:x",
                         "/checklist 9", "/checklist banana", "/done 🤖🔥"))
    s.assert_clean()
    assert "I know no checklist item “zzzz-not-an-item”. See the ids with /checklist view." in s.out
    assert "I know no checklist item “qqqq-nothing”" in s.out
    assert "Usage: /checklist done ITEM [EVIDENCE]" in s.out
    assert "Usage: /checklist undo ITEM" in s.out
    assert "I know no checklist item “abc”" in s.out  # an unterminated quote is forgiven
    assert "✅ Marked Lead a tool evaluation" in s.out
    assert "see the numbers with /checklist first" in s.out  # /done 2 with no list shown
    assert s.out.count("That evidence link doesn't look right") == 2  # no https://
    assert "Phases are numbered 1 to 4." in s.out
    assert "Usage: /checklist view [PHASE]" in s.out
    assert "I know no checklist item “🤖🔥”" in s.out


# --- reminders -----------------------------------------------------------------------------------


async def test_reminders_on_status_off(chat, berlin):
    s = await chat(lines("/reminders on friday 18 Europe/Berlin", "/reminders status",
                         "/reminders off", "/reminders status", "/reminders"))
    s.assert_clean()
    assert s.titles() == ["Weekly reminders are on", "Weekly reminders",
                          "Weekly reminders are off", "Weekly reminders", "Weekly reminders"]
    assert s.out.count("Weekly reminders are on: every Friday at 18:00 (Europe/Berlin).") == 2
    # Discord's <t:…> markup shown as local time: this terminal is in Berlin too
    assert len(NEXT_ONE.findall(s.out)) == 2 and "<t:" not in s.out
    assert "No more reminders." in s.out
    assert s.out.count("Weekly reminders are off. Turn them on with /reminders on") == 2


async def test_reminders_bad_input(chat):
    s = await chat(lines("/reminders on friday 18 Mars/Olympus", "/reminders on funday",
                         "/reminders on friday 25", "/reminders on friday 18 'Europe/Berlin",
                         "/reminders dance", "/reminders snooze"))
    s.assert_clean()
    assert "unknown timezone 'Mars/Olympus': use an IANA name like Europe/Berlin" in s.out
    assert "weekday" in s.out and "hour" in s.out
    assert "Weekly reminders are on: every Friday at 18:00 (Europe/Berlin)." in s.out
    assert "Usage: /reminders on [WEEKDAY] [HOUR] [TIMEZONE]" in s.out
    assert "Snoozed for a week" in s.titles()


# --- privacy -------------------------------------------------------------------------------------


async def test_export_writes_a_json_file_with_the_checklist_item(chat, kb, tmp_path):
    item = kb.phase_by_number[1].checklist[0]
    target = tmp_path / "out" / "me.json"
    target.parent.mkdir()
    s = await chat(lines(f"/done {item.id} https://example.org/pr", f"/export {target}",
                         f"/privacy export {tmp_path / 'out'}",
                         f"/export {tmp_path / 'missing' / 'dir' / 'x.json'}"))
    s.assert_clean()
    data = json.loads(target.read_text(encoding="utf-8"))
    assert item.id in json.dumps(data) and "https://example.org/pr" in json.dumps(data)
    assert f"Written to {target} (" in s.out
    assert (tmp_path / "out" / "mentorbot-data-42.json").is_file()  # a directory: default name
    assert "Export failed" in s.titles() and "No such file or directory" in s.out


async def test_export_goes_home_never_into_the_cwd_and_never_overwrites(chat, tmp_path,
                                                                         monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "repo"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    s = await chat(lines("/export", "/export"))
    s.assert_clean()
    written = home / "mentorbot-data-42.json"
    assert written.is_file() and list(cwd.iterdir()) == []
    assert written.stat().st_mode & 0o077 == 0  # only the member can read it
    assert "already exists" in s.out and "Export not written" in s.titles()


async def test_delete_is_confirmed_by_typing_the_choice_number(chat, kb):
    s = await chat(lines("/quiz", *["yes"] * 6, f"/done {kb.phase_by_number[4].checklist[0].id}",
                         "/delete", "7", "🤖", "2", "/progress",
                         "/delete", "1", "/progress"))
    s.assert_clean()
    titles = s.titles()
    assert titles.count("Delete all your data?") == 2
    assert "There is no choice 7. Type a number from 1 to 2, or a choice's label." in s.out
    assert "I didn't get that. Type a number from 1 to 2" in s.out
    assert "Nothing deleted" in titles and "Your data is deleted" in titles
    before, after = s.out.split("== Your data is deleted ==")
    assert f"Overall {progress_bar(1, TOTAL)}" in before
    assert f"Overall {progress_bar(0, TOTAL)}" in after
    assert "No phase yet: take /quiz to find yours." in after
    assert "Recent activity" not in after


async def test_delete_answered_with_words(chat):
    s = await chat(lines("/delete", "no", "/privacy delete", "yes"))
    s.assert_clean()
    assert s.titles() == ["Delete all your data?", "Nothing deleted",
                          "Delete all your data?", "Your data is deleted"]


# --- help, commands, bad input -------------------------------------------------------------------


async def test_help_and_unknown_commands(chat):
    s = await chat(lines("/help", "/frobnicate now", "/chekclist", "/", "/HELP"))
    s.assert_clean()
    assert s.titles() == ["mentorbot: your MLOps career mentor"] * 2
    assert "/checklist view [PHASE]: your checklist for a phase" in s.out
    assert "In this console" in s.out and "/export [FILE]: write your data" in s.out
    assert "Unknown command /frobnicate. Type /help for the list." in s.out
    assert "Unknown command /chekclist. Did you mean /checklist? Type /help for the list." in s.out
    assert "Unknown command /. Type /help for the list." in s.out


async def test_browse_commands(chat, kb):
    s = await chat(lines("/phase 2", "/levels", "/tools 3", "/roadmap", "/roadblock tools",
                         "/faq salary", "/share on", "/share", "/privacy", "/stats"))
    s.assert_clean()
    assert len(s.titles()) == 10 and "Sorry" not in s.titles()
    assert "Sharing is now on" in s.out and "Usage: /privacy share STATE" in s.out
    assert "Usage: /privacy export  |  /privacy delete  |  /privacy share STATE" in s.out


async def test_bad_input_at_every_prompt(chat):
    garbage = ["", "   ", "\t", "🤖🔥", "\x00\x00", "\x1b[31mred\x1b[0m", "\x1b[31m", "x" * 10_000,
               "\x07\x08\x7f", "\ud800", "²", "0", "-1", "99999999999999999999999999"]
    s = await chat(lines(
        "/help", "5",  # help offers no choices
        *garbage,  # questions or hints
        "/quiz", *garbage, "yes",  # at the quiz: the choices survive every bad line
        "/delete", *garbage, "2",  # at the delete confirmation
        "/progress 99999999999999999999999", "/progress abc", "/phase ²", "/tools -1",
    ))
    s.assert_clean()
    assert "\x1b" not in s.out and "\x00" not in s.out and "\x07" not in s.out
    assert "There is nothing to choose right now. Ask a question, or /help." in s.out
    assert "There is no choice 0. Type a number from 1 to 3" in s.out
    assert "There is no choice 99999999999999999999. " in s.out  # cut at 20 digits
    assert re.findall(r"^Question (\d) of 6$", s.out, re.M) == ["1", "2"]
    assert "Nothing deleted" in s.titles()
    assert s.out.count("Usage: /progress [MEMBER_ID]") == 2


async def test_quit_ends_the_session(chat):
    s = await chat(lines("/progress", "/quit", "/help"))
    s.assert_clean()
    assert s.titles() == ["Your progress"]
    s = await chat(lines("exit", "/help"))
    assert s.titles() == [] and s.code == 0


async def test_an_invalid_member_id_is_one_clear_line(chat, capsys):
    s = await chat(lines("/progress"), user=0)
    assert s.code == 2 and s.out == ""
    assert capsys.readouterr().err == \
        "mentorbot: the member id must be a positive 64-bit number, not 0\n"


async def test_rich_output(chat):
    s = await chat(lines("/quiz", "/progress"), rich=True)
    s.assert_clean()
    assert "╭─ Which phase are you in? " in s.out
    assert "[1] Yes  [2] No  [3] Start over" in s.out
    assert "Question 1 of 6" in s.out and "**" not in s.out
    # every template line stays a line (markdown would join them into one paragraph)
    assert re.search(r"│ Phase 1 ▱▱▱▱▱▱▱▱▱▱ 0/4 +│\n│ Phase 2 ", s.out)


# --- a pipe as stdin, read by the event loop ----------------------------------------------------


async def test_reading_a_real_pipe_with_invalid_utf8_and_a_huge_line(engine_on, sqlite_url):
    from bot.engine.context import Member

    engine = await engine_on(sqlite_url)
    r, w = os.pipe()
    data = b"\xff\xfe\n/quiz\n" + b"y" * 200_000 + b"\nyes\r\n/progress"  # no final newline

    def write() -> None:  # more than a pipe holds: written while the console reads
        with os.fdopen(w, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    out = io.StringIO()
    with os.fdopen(r, encoding="utf-8") as stdin:
        code = await Console(engine, Member(42), out=out, rich=False).run(stdin=stdin)
    writer.join()
    assert code == 0
    text = out.getvalue()
    assert "Traceback" not in text and "Sorry, that failed" not in text
    assert re.findall(r"^Question (\d) of 6$", text, re.M) == ["1", "2"]
    assert text.count("== Your progress ==") == 1
    assert MAX_BUFFER < 200_000


# --- helpers -------------------------------------------------------------------------------------


def test_discord_timestamps_become_local_time_text():
    moment = datetime(2030, 5, 17, 16, 0).astimezone()
    ts = int(moment.timestamp())
    assert local_times(f"at <t:{ts}:F>") == "at " + moment.strftime("%a %d %b %Y %H:%M %Z")
    assert local_times(f"<t:{ts}:t>") == moment.strftime("%H:%M %Z")
    assert local_times(f"<t:{ts}:d>") == "2030-05-17"
    assert local_times(f"<t:{ts}>") == moment.strftime("%d %b %Y %H:%M %Z")
    now = datetime.now().astimezone()
    assert local_times(f"<t:{int((now + timedelta(days=3, minutes=1)).timestamp())}:R>") \
        == "in 3 days"
    assert local_times(f"<t:{int((now - timedelta(hours=2)).timestamp())}:R>") == "2 hours ago"
    assert local_times(f"<t:{int((now + timedelta(minutes=30)).timestamp())}:R>") \
        in ("in 30 minutes", "in 29 minutes")
    assert local_times(f"<t:{int(now.timestamp())}:R>") == "just now"
    assert local_times("<t:999999999999:F>") == "<t:999999999999:F>"  # out of range: left as is


def test_plain_markdown_and_clean_line():
    assert plain_markdown("**a** *b* ~~c~~ `d` [e](https://x.org/f) 2*3*4 * g") \
        == "a b c d e (https://x.org/f) 2*3*4 * g"
    assert clean_line("\x1b[31mred\x1b[0m\x00ok\x1b]0;title\x07 \r\n") == "red ok"
    assert len(clean_line("é" * 50_000)) == 10_000


async def test_more_shows_the_whole_card_of_the_last_answer(chat, kb):
    intent = kb.intent_by_id["faq.time-to-senior"]
    s = await chat(lines("/more", "how long until senior?", "/more"))
    s.assert_clean()
    assert "There is no answer to show in full yet." in s.out
    assert s.titles() == [intent.title, intent.title]
    first, full = s.out.split(f"== {intent.title} ==")[1:]
    assert len(first.split()) < 120 < len(full.split())
    assert plain_markdown(intent.answer.strip().splitlines()[0])[:60] in full
    assert ".txt" not in s.out


async def test_save_writes_the_progress_card_as_a_png(chat, tmp_path):
    from PIL import Image

    target = tmp_path / "card.png"
    s = await chat(lines("/save", "/progress", f"/save {target}", f"/save {target}"))
    s.assert_clean()
    assert "The last reply has no picture" in s.out
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (800, 400)
    assert "already exists" in s.out


# --- Ask a mentor (issue 14) -----------------------------------------------------------------


async def test_ask_a_mentor_in_a_server_is_said_in_words(engine_on, sqlite_url):
    """``mentorbot chat --guild ID``: the same flow as on Discord, the thread said in words."""
    from bot.engine.context import Member

    engine = await engine_on(sqlite_url)
    out = io.StringIO()
    console = Console(engine, Member(42, guild_id=77, name="you", is_admin=True), out=out,
                      rich=False)
    code = await console.run(stdin=io.StringIO(lines(
        "/setup mentors 4242 880", "best pizza in naples", "1", "1")))
    text = out.getvalue()
    assert code == 0 and "Traceback" not in text
    assert "Choices: [1] Ask a mentor" in text
    assert "== Ask a mentor? ==" in text and "== Passed to the mentors ==" in text
    assert "→ Passed to the mentors' inbox; on Discord a thread “best pizza in naples”" in text


async def test_without_a_server_the_question_only_goes_to_the_inbox(chat):
    s = await chat(lines("best pizza in naples"))
    s.assert_clean()
    assert "Ask a mentor" not in s.out and "noted the question" in s.out
