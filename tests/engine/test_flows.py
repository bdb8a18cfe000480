"""The conversation engine, driven directly, on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from PIL import Image

from benchmarks.intents import load_questions
from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.replies import QuizOutcome, Reply
from bot.engine.stats import week_label
from bot.limits import MAX_QUESTION_CHARS
from bot.render.images import CHARTS_SIZE
from bot.storage import Store
from bot.storage.repo.stats import week_start

ALICE = Member(1001, guild_id=77, name="alice")
BOB = Member(1002, guild_id=77, name="bob")
ADMIN = Member(1003, guild_id=77, name="admin", is_admin=True)


def action(reply: Reply, label: str) -> str:
    for a in reply.actions:
        if a.label == label:
            return a.id
    raise AssertionError(f"no action {label!r} in {[a.label for a in reply.actions]}")


async def take_quiz(engine: Engine, member: Member, answers: list[bool]) -> Reply:
    reply = await engine.run("quiz", member)
    for yes in answers:
        reply = await engine.act(member, action(reply, "Yes" if yes else "No"))
    return reply


# --- ask ---------------------------------------------------------------------------------------


async def test_ask_answers_with_feedback_and_alternatives(engine, kb):
    reply = await engine.run("ask", ALICE, question="feast or tecton?")
    intent = kb.intent_by_id["topic.feature-stores"]
    assert reply.kind == "ask" and reply.title == intent.title
    assert reply.body == intent.short.strip() or reply.body in [p.text for p in intent.parts]
    labels = [a.label for a in reply.actions]
    assert {"More", "Helpful", "Not helpful", "Not what I asked"} <= set(labels)
    more = await engine.act(ALICE, action(reply, "More"))
    assert intent.answer.strip()[:80] in more.body and more.title == intent.title
    assert ".txt" not in more.footer + "".join(f.value for f in more.fields)
    alts = await engine.act(ALICE, action(reply, "Not what I asked"))
    match = reply.match
    assert match is not None
    assert [a.id for a in alts.actions] == [f"ask:show:{_short(c.intent)}"
                                            for c in match.alternatives]


def _short(intent_id: str) -> str:
    from bot.engine.commands import short_intent

    return short_intent(intent_id)


async def test_unknown_question_is_honest_and_logged(engine, store):
    reply = await engine.run("ask", ALICE, question="what's a good recipe for banana bread")
    assert reply.title == "I don't know that one"
    assert reply.actions, "nearest topics are offered"
    top = await store.questions.top_unanswered(guild_id=77)
    assert top and "banana bread" in top[0][0]


async def test_empty_and_emoji_only_questions_get_a_prompt_not_a_log(engine, store):
    for text in ("", "   ", "🤖🔥", "\x00\x1b"):
        reply = await engine.run("ask", ALICE, question=text)
        assert reply.title == "Ask me anything about MLOps careers"
    assert await store.questions.top_unanswered() == []


async def test_ambiguous_question_offers_choices_instead_of_an_answer(engine):
    in_scope, _ = load_questions()
    matcher = engine.deps.matcher
    question = next(q["q"] for q in in_scope if matcher.match(q["q"]).status == "ambiguous")
    result = matcher.match(question)
    reply = await engine.run("ask", ALICE, question=question)
    assert reply.title == "Did you mean…"
    expected = [result.intent, *(c.intent for c in result.alternatives)]
    assert [a.id for a in reply.actions] == [
        *(f"ask:show:{_short(i)}" for i in expected), "ask:withdraw:1"]  # passed to mentors


async def test_feedback_is_stored_for_the_member(engine, store):
    reply = await engine.run("ask", ALICE, question="how long until senior?")
    thanks = await engine.act(ALICE, action(reply, "Helpful"))
    assert thanks.tone == "success"
    data = await store.privacy.export(ALICE.user_id)
    assert "faq.time-to-senior" in json.dumps(data)


async def test_huge_question_is_answered_and_says_it_was_cut(engine):
    question = "how long until senior mlops " + "really " * 2000
    reply = await engine.run("ask", ALICE, question=question)
    assert reply.title != "Sorry"
    assert reply.footer and f"first {MAX_QUESTION_CHARS} characters" in reply.footer


# --- quiz --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("yes_count", "phase"), [(0, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 4)])
async def test_quiz_routes_scores_to_phases(engine, store, yes_count, phase):
    answers = [True] * yes_count + [False] * (6 - yes_count)
    result = await take_quiz(engine, ALICE, answers)
    assert result.kind == "quiz_result"
    assert result.outcome == QuizOutcome(phase, yes_count)
    assert "Weekly reminders" in [a.label for a in result.actions]
    member = await store.members.get(ALICE.user_id)
    assert member.current_phase == phase and member.phase_source == "quiz"


async def test_quiz_back_resume_and_stale_buttons(engine):
    first = await engine.run("quiz", ALICE)
    assert first.quiz.index == 0 and "Back" not in [a.label for a in first.actions]
    second = await engine.act(ALICE, action(first, "Yes"))
    assert second.quiz.index == 1
    # a double click on question 1 changes nothing
    again = await engine.act(ALICE, action(first, "Yes"))
    assert again.quiz.index == 1
    back = await engine.act(ALICE, action(second, "Back"))
    assert back.quiz.index == 0
    # leaving and coming back resumes the same attempt
    resumed = await engine.run("quiz", ALICE)
    assert resumed.quiz == back.quiz
    # somebody else pressing Alice's button cannot answer for her
    stolen = await engine.act(BOB, action(resumed, "No"))
    assert stolen.kind == "error" and stolen.tone == "warning" and "someone else" in stolen.body
    # finishing, then pressing an old button
    reply = resumed
    for _ in range(5):
        reply = await engine.act(ALICE, action(reply, "No"))
    last_question = reply
    reply = await engine.act(ALICE, action(last_question, "No"))
    assert reply.kind == "quiz_result"
    stale = await engine.act(ALICE, action(second, "No"))
    assert stale.kind == "quiz_result" and stale.outcome == reply.outcome
    # the last answer clicked again (its reply was lost): the result, not "ended"
    again = await engine.act(ALICE, action(last_question, "No"))
    assert again.kind == "quiz_result" and again.outcome == reply.outcome


# --- checklist & progress ----------------------------------------------------------------------


async def test_checklist_mark_all_suggests_next_phase(engine, kb, store):
    await take_quiz(engine, ALICE, [False] * 6)
    view = await engine.run("checklist view", ALICE)
    phase1 = kb.phase_by_number[1]
    assert (view.checklist.phase, view.checklist.done) == (1, 0)
    assert [a.id for a in view.actions] == [f"chk:done:{i.id}" for i in phase1.checklist]
    reply = view
    for item in phase1.checklist:
        reply = await engine.act(ALICE, f"chk:done:{item.id}")
        assert reply.checklist.changed_item == item.id and reply.checklist.changed_to_done is True
    assert reply.checklist.phase_complete is True
    moved = await engine.act(ALICE, action(reply, "Move to phase 2"))
    assert moved.title == "You're now in phase 2"
    assert (await store.members.get(ALICE.user_id)).current_phase == 2
    undo = await engine.run("checklist undo", ALICE, item=phase1.checklist[0].id)
    assert undo.checklist.changed_to_done is False and undo.checklist.phase_complete is False


async def test_checklist_by_title_evidence_and_unknown_items(engine, kb, store):
    item = kb.phase_by_number[2].checklist[0]
    ok = await engine.run("checklist done", ALICE, item=item.title.lower(), evidence="https://github.com/me/pr/1")
    assert ok.checklist.changed_item == item.id
    states = await store.checklist.states(ALICE.user_id)
    assert states[item.id].evidence_url == "https://github.com/me/pr/1"
    bad = await engine.run("checklist done", ALICE, item=item.id, evidence="javascript:alert(1)")
    assert bad.tone == "warning" and "evidence" in bad.body
    unknown = await engine.run("checklist done", ALICE, item="zzzz-not-an-item-qqqq")
    assert unknown.tone == "warning" and "checklist item" in unknown.body


async def test_progress_is_private_until_shared(engine, kb):
    await engine.run("checklist done", BOB, item=kb.phase_by_number[1].checklist[0].id)
    own = await engine.run("progress", BOB)
    assert own.attachment is not None and own.attachment.filename == "progress.png"
    assert own.attachment.data.startswith(b"\x89PNG\r\n")  # the card beside the text
    assert own.private and own.overall == (1, sum(len(p.checklist)
                                                          for p in kb.phases.phases))
    hidden = await engine.run("progress", ALICE, member_id=BOB.user_id)
    assert hidden.tone == "warning" and "private" in hidden.body
    await engine.act(BOB, "share:on")
    shown = await engine.run("progress", ALICE, member_id=BOB.user_id)
    assert shown.title == "Their progress" and shown.overall[0] == 1
    # shared is not public: not from another server, not in DMs, not by a made-up id
    elsewhere = Member(ALICE.user_id, guild_id=78, name="alice")
    for asker, why in ((elsewhere, "no progress for that member"),
                       (Member(ALICE.user_id), "inside a server")):
        refused = await engine.run("progress", asker, member_id=BOB.user_id)
        assert refused.tone == "warning" and why in refused.body
    nobody = await engine.run("progress", ALICE, member_id=12345)
    assert "no progress for that member" in nobody.body and "private" not in nobody.body
    await engine.act(BOB, "share:off")
    assert (await engine.run("progress", ALICE, member_id=BOB.user_id)).tone == "warning"


# --- reminders ---------------------------------------------------------------------------------


async def test_reminders_on_status_snooze_off(engine, store, clock):
    reply = await engine.run("reminders on", ALICE, weekday="friday", hour="18",
                             timezone="europe/berlin")
    assert reply.title == "Weekly reminders are on"
    assert "Friday" in reply.body and "18:00" in reply.body and "Europe/Berlin" in reply.body
    assert "<t:" in reply.body
    prefs = await store.reminders.get(ALICE.user_id)
    assert prefs.timezone == "Europe/Berlin" and prefs.next_due_utc > clock.current
    first_due = prefs.next_due_utc
    await engine.act(ALICE, "rem:snooze")
    assert (await store.reminders.get(ALICE.user_id)).next_due_utc - first_due == timedelta(days=7)
    bad = await engine.run("reminders on", ALICE, weekday="funday")
    assert bad.tone == "warning" and "weekday" in bad.body
    bad_tz = await engine.run("reminders on", ALICE, timezone="Mars/Olympus")
    assert bad_tz.tone == "warning" and "timezone" in bad_tz.body
    off = await engine.act(ALICE, "rem:off")
    assert off.title == "Weekly reminders are off"
    assert not (await store.reminders.get(ALICE.user_id)).enabled


# --- privacy & stats ---------------------------------------------------------------------------


async def test_export_then_delete_everything(engine, kb, store):
    await take_quiz(engine, ALICE, [True, True, True, False, False, False])
    await engine.run("checklist done", ALICE, item=kb.phase_by_number[2].checklist[1].id)
    export = await engine.run("privacy export", ALICE)
    data = json.loads(export.attachment.data)
    assert kb.phase_by_number[2].checklist[1].id in json.dumps(data)
    confirm = await engine.run("privacy delete", ALICE)
    assert "priv:delete:yes" in [a.id for a in confirm.actions]
    cancelled = await engine.act(ALICE, "priv:delete:no")
    assert cancelled.title == "Nothing deleted"
    assert await store.members.get(ALICE.user_id) is not None
    done = await engine.act(ALICE, "priv:delete:yes")
    assert done.title == "Your data is deleted"
    assert await store.members.get(ALICE.user_id) is None
    assert await store.checklist.states(ALICE.user_id) == {}


async def test_stats_are_for_admins_only(engine, store):
    await take_quiz(engine, ALICE, [False] * 6)
    await engine.run("ask", ALICE, question="recipe for banana bread please")
    denied = await engine.run("stats", ALICE)
    assert denied.tone == "warning" and "Manage Server" in denied.body
    stats = await engine.run("stats", ADMIN)
    assert stats.title == "Server progress"
    assert "Phase 1" in stats.body and "banana bread" in stats.body
    # the charts beside the text, which keeps every figure (screen readers)
    assert stats.attachment is not None and stats.attachment.filename == "stats.png"
    with Image.open(io.BytesIO(stats.attachment.data)) as image:
        assert image.format == "PNG" and image.size == CHARTS_SIZE
    # twelve weeks, the question asked this week (the store's clock) last
    this_week = week_label(week_start(store.stats.now()).date())
    weekly = stats.body.split("Unanswered questions per week** (oldest first): ")[1].split("\n")[0]
    assert len(weekly.split(", ")) == 12 and weekly.endswith(f"{this_week}: 1")


async def test_unknown_action_ids_are_friendly(engine):
    for bad in ("", "nope", "quiz:ans:x:y:z", "chk:view:99", "ask:show:f.nothing"):
        reply = await engine.act(ALICE, bad)
        assert isinstance(reply, Reply) and reply.tone in ("warning", "info", "error")


# --- database outage ---------------------------------------------------------------------------


async def test_database_down_gives_a_friendly_reply_and_answers_still_work(kb, tmp_path):
    store = Store.open("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    engine = Engine(kb, store, Settings(_env_file=None))
    try:
        answer = await engine.run("ask", ALICE, question="feast or tecton?")
        assert answer.title == kb.intent_by_id["topic.feature-stores"].title
        unknown = await engine.run("ask", ALICE, question="recipe for banana bread")
        assert unknown.title == "I don't know that one"
        down = await engine.run("checklist view", ALICE)
        assert down.title == "Database unavailable" and down.tone == "error"
        assert "nothing was changed" in down.body
    finally:
        await store.close()


async def test_vague_item_names_are_not_guessed(engine, store):
    for vague in ("a", "2", "p"):
        reply = await engine.run("checklist done", ALICE, item=vague)
        assert reply.tone == "warning"
    assert await store.checklist.states(ALICE.user_id) == {}


async def test_undo_of_an_item_never_done_says_so(engine, kb, store):
    item = kb.phase_by_number[3].checklist[0]
    reply = await engine.run("checklist undo", ALICE, item=item.id)
    assert reply.tone == "warning" and "isn't marked done" in reply.body
    assert await store.checklist.states(ALICE.user_id) == {}


async def test_bare_numbers_are_not_questions(engine):
    for text in ("7", "2", "²", "42 17"):
        reply = await engine.run("ask", ALICE, question=text)
        assert reply.title == "Ask me anything about MLOps careers"


async def test_phase_view_can_become_my_phase(engine, store):
    view = await engine.run("phase", ALICE, number=3)
    moved = await engine.act(ALICE, action(view, "Make this my phase"))
    assert moved.title == "You're now in phase 3"
    assert (await store.members.get(ALICE.user_id)).current_phase == 3


async def test_reminder_words_in_any_order_and_every_problem_at_once(engine):
    reply = await engine.run("reminders on", ALICE, weekday="18", hour="Europe/Berlin")
    assert "every **Monday** at **18:00** (Europe/Berlin)" in reply.body
    bad = await engine.run("reminders on", ALICE, weekday="funday", hour="25",
                           timezone="Mars/Olympus")
    assert bad.tone == "warning"
    for problem in ("weekday", "hour", "Mars/Olympus"):
        assert problem in bad.body
    chatham = await engine.run("reminders on", ALICE, weekday="tue", hour="0",
                               timezone="Pacific/Chatham")
    # the member's own day and hour, besides the <t:…> markup every client shows locally
    assert "**Tue" in chatham.body and ", 00:00** in Pacific/Chatham" in chatham.body
    assert "<t:" in chatham.body


async def test_typed_item_names_prefer_the_members_phase(engine, kb):
    led = await engine.run("checklist done", ALICE, item="led a tool evaluation")
    assert led.checklist.changed_item == "p3.tool-evaluation"
    # "post mortem" fits a phase 2 and a phase 4 item: without a phase, the member chooses …
    both = await engine.run("checklist done", BOB, item="post mortem")
    assert both.tone == "warning" and "`p2.post-mortem`" in both.body
    # … in phase 4, theirs is taken
    await engine.act(BOB, "phase:set:4")
    mine = await engine.run("checklist done", BOB, item="post mortem")
    assert kb.phase_of_item(mine.checklist.changed_item) == 4


async def test_roadblock_and_faq_without_a_name_list_them_all(engine, kb):
    roadblocks = await engine.run("roadblock", ALICE)
    named = [i for i in kb.intents if i.kind == "roadblock"]
    assert [a.label for a in roadblocks.actions] == [i.title for i in named]
    assert all(i.title in roadblocks.body for i in named)
    topics = await engine.run("faq", ALICE, topic="  ")
    assert len(topics.actions) == 25 and topics.title.startswith("Career questions")
    shown = await engine.act(ALICE, roadblocks.actions[0].id)
    assert shown.title == named[0].title and shown.intent == named[0].id


@pytest.mark.parametrize("question", [
    "シニアMLOpsエンジニアになるにはどのくらいかかりますか",
    "Was verdient man als Ingenieur und wie lange dauert es?",
    "que es mlops y cuanto gana un ingeniero",
    "Сколько зарабатывает инженер MLOps?",
])
async def test_other_languages_are_told_only_english_is_understood(engine, question):
    reply = await engine.run("ask", ALICE, question=question)
    if reply.match is not None and reply.match.status == "answered":
        return  # a question clear enough to answer in any language is answered
    assert "only understand questions in English" in reply.body


async def test_english_questions_get_no_language_hint(engine):
    reply = await engine.run("ask", ALICE, question="recipe for banana bread with walnuts")
    assert "English" not in reply.body


async def test_phase_dependent_answers_end_with_the_members_next_step(engine, kb):
    before = await engine.run("ask", BOB, question="which phase should I start from?")
    assert before.intent == "faq.which-phase" and "take `/quiz`" in before.body
    await take_quiz(engine, BOB, [True, True, True, False, False, False])
    first = kb.phase_by_number[2].checklist[0]
    after = await engine.run("ask", BOB, question="which phase should I start from?")
    assert f"**For you** (phase 2): next on your checklist is **{first.title}**" in after.body
    await engine.run("checklist done", BOB, item=first.id)
    later = await engine.run("ask", BOB, question="which phase should I start from?")
    assert kb.phase_by_number[2].checklist[1].title in later.body


# --- server setup ------------------------------------------------------------------------------


async def test_setup_is_for_admins_in_a_server_and_changes_what_it_says(engine):
    refused = await engine.run("setup show", ALICE)
    assert refused.tone == "warning" and "Manage Server" in refused.body
    assert "inside a server" in (await engine.run("setup show", Member(ADMIN.user_id,
                                                                        is_admin=True))).body
    shown = await engine.run("setup show", ADMIN)
    assert "no role set" in shown.body and "every member" in shown.body
    saved = await engine.run("setup mentors", ADMIN, role=555, channel=666)
    assert saved.title == "Setup saved" and "<@&555>" in saved.body and "<#666>" in saved.body
    await engine.run("setup phase-role", ADMIN, phase=2, role=222)
    bad = await engine.run("setup phase-role", ADMIN, phase=9, role=1)
    assert bad.tone == "warning" and "Phases are numbered" in bad.body
    await engine.run("setup forum", ADMIN, channel=777, state=True)
    shown = await engine.run("setup show", ADMIN)
    assert "phase 2 → <@&222>" in shown.body and "<#777>" in shown.body
    assert "<@&555>" in shown.body  # earlier settings stay
    assert (await engine.run("setup sharing", ADMIN, policy="sometimes")).tone == "warning"
    reset = await engine.run("setup reset", ADMIN)
    assert "no role set" in reset.body


async def test_a_server_that_shares_nothing_shows_no_progress_of_others(engine):
    await engine.act(BOB, "share:on")
    await engine.run("progress", BOB)
    assert (await engine.run("progress", ALICE, member_id=BOB.user_id)).title == "Their progress"
    await engine.run("setup sharing", ADMIN, policy="nobody")
    hidden = await engine.run("progress", ALICE, member_id=BOB.user_id)
    assert hidden.tone == "warning" and "not shared in this server" in hidden.body


async def test_a_topic_the_sources_dont_cover_is_said_so(engine, kb):
    reply = await engine.run("ask", ALICE, question="is a computer science degree a must")
    assert reply.title == "My sources don't cover that"
    topic = next(t for t in kb.uncovered if t.id == "uncovered.cs-degree")
    assert topic.title in reply.body
    assert [a.label for a in reply.actions] == [
        *(kb.intent_by_id[i].title for i in topic.nearest), "Withdraw my question"]
    assert reply.match is not None and reply.match.to_json()["intent"] is None
    assert reply.match.to_json()["status"] == "unanswered"


@pytest.mark.parametrize("zone", ["EST", "localtime", "Factory", "posix/Europe/Berlin",
                                  "right/UTC", "Etc/GMT+5"])
async def test_only_iana_place_zones_are_accepted(engine, zone):
    reply = await engine.run("reminders on", ALICE, weekday="friday", hour="18", timezone=zone)
    assert reply.tone == "warning"
    if zone == "EST":  # says why, and what to use instead
        assert "daylight saving" in reply.body and "America/New_York" in reply.body


@pytest.mark.parametrize(("question", "part_says"), [
    ("how much do staff mlops engineers earn", "$240K-$330K"),  # the level asked about
    ("salary numbers from the mentorcruise roadmap?", "$95K-$115K"),  # the source named
    ("bentoml vs ray serve", "Ray Serve"),  # the tool pair
    ("how long until senior?", "4-7 years"),  # a level in a tenure answer
])
async def test_the_first_answer_is_the_part_the_question_names(engine, question, part_says):
    reply = await engine.run("ask", ALICE, question=question)
    intent = engine.kb.intent_by_id[reply.intent]
    assert reply.body.split("\n\n")[0] in [p.text.strip() for p in intent.parts]
    assert part_says in reply.body
