"""The mentors' inbox, the overlay and answer quality, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import Store
from bot.storage.errors import InvalidInput
from bot.storage.repo.inbox import UnknownEntry
from tests.storage.observe import server_commands, statements

G1 = 7001
ALICE, BOB, MENTOR = 5001, 5002, 5003


async def test_similar_questions_group_with_a_count(store: Store) -> None:
    a = await store.inbox.record("Who pays for GPUs?", "unanswered", None, G1, user_id=ALICE)
    b = await store.inbox.record("who  pays for gpus", "unanswered", "faq.salary", G1,
                                 user_id=BOB)
    c = await store.inbox.record("who pays for GPUs", "ambiguous", "faq.salary", G1,
                                 user_id=BOB)
    other = await store.inbox.record("who pays for GPUs", "unanswered", None, None,
                                     user_id=BOB)
    assert a == b and len({a, c, other}) == 3
    items = await store.inbox.entries(G1)
    assert [(i.id, i.status, i.count, i.guess) for i in items] == [
        (a, "unanswered", 2, "faq.salary"), (c, "ambiguous", 1, "faq.salary")]
    assert items[0].question == "Who pays for GPUs?"  # the first wording
    assert len(await store.inbox.entries(all_guilds=True)) == 3
    assert items[0].to_json() == {"id": a, "question": "Who pays for GPUs?",
                                  "status": "unanswered", "guess": "faq.salary", "count": 2}


async def test_concurrent_asks_of_one_question_make_one_entry(store: Store) -> None:
    ids = await asyncio.gather(*(store.inbox.record("is rust worth it", "unanswered",
                                                    user_id=5000 + n) for n in range(8)))
    assert len(set(ids)) == 1
    (item,) = await store.inbox.entries(all_guilds=True)
    assert item.count == 8


async def test_resolved_entries_close_and_the_question_opens_a_new_one(store: Store) -> None:
    a = await store.inbox.record("tell me a joke", "unanswered", user_id=ALICE)
    dismissed = await store.inbox.dismiss(a)
    assert dismissed.resolution == "dismissed"
    with pytest.raises(UnknownEntry):
        await store.inbox.dismiss(a)
    with pytest.raises(UnknownEntry):
        await store.inbox.dismiss(999999)
    assert await store.inbox.entries() == []
    assert [i.id for i in await store.inbox.entries(include_resolved=True)] == [a]
    b = await store.inbox.record("tell me a joke!", "unanswered", user_id=BOB)
    assert b != a and [i.count for i in await store.inbox.entries()] == [1]


async def test_teach_serves_the_phrasing_and_changes_the_version(store: Store) -> None:
    assert await store.overlay.version() is None
    entry = await store.inbox.record("what does an ML platform team do", "unanswered",
                                     user_id=ALICE)
    item = await store.overlay.teach_entry(entry, "faq.day-to-day", taught_by="mentor")
    assert item.resolution == "taught" and item.resolved_intent == "faq.day-to-day"
    v1 = await store.overlay.version()
    assert v1 is not None
    snap = await store.overlay.snapshot()
    assert snap.version == v1
    found = snap.lookup("What does an ML platform team do?")
    assert found is not None and found.intent_id == "faq.day-to-day"
    await store.overlay.teach("what does an ML platform team do", None)  # re-taught: off-topic
    snap2 = await store.overlay.snapshot()
    assert snap2.version not in (None, v1)
    found2 = snap2.lookup("what does an ml platform team do")
    assert found2 is not None and found2.intent_id is None
    assert len(snap2.phrases) == 1
    with pytest.raises(UnknownEntry):
        await store.overlay.teach_entry(entry, "faq.salary")  # already resolved
    assert await store.overlay.retire() == 1
    assert (await store.overlay.snapshot()).phrases == {}


async def test_a_proposed_answer_becomes_a_new_intent(store: Store) -> None:
    entry = await store.inbox.propose_answer(
        "how do I price GPU inference?", "Start from cost per thousand requests ...",
        mentor_id=MENTOR, mentor_name="ada", guild_id=G1)
    (item,) = await store.inbox.entries(G1)
    assert item.status == "proposed_answer" and item.mentor_name == "ada"
    assert item.answer == "Start from cost per thousand requests ..."
    asked = await store.inbox.record("how do I price GPU inference", "unanswered", None, G1,
                                     user_id=ALICE)
    with pytest.raises(InvalidInput):  # only a proposed answer can become an intent
        await store.overlay.adopt(asked, title="GPU pricing")
    intent = await store.overlay.adopt(entry, title="Pricing GPU inference",
                                       taken={"community.pricing-gpu-inference"})
    assert intent.id == "community.pricing-gpu-inference-2"
    assert intent.source == "community answer by @ada"
    assert intent.short == "Start from cost per thousand requests ..."
    snap = await store.overlay.snapshot()
    assert [i.id for i in snap.intents] == [intent.id]
    taught = snap.lookup("How do I price GPU inference")
    assert taught is not None and taught.intent_id == intent.id
    # the mentor's proposal is theirs: in their export
    data = await store.privacy.export(MENTOR)
    assert [(p["status"], p["text"]) for p in data["inbox"]] == [
        ("proposed_answer", "Start from cost per thousand requests ...")]


async def test_withdraw_and_delete_take_the_members_part(store: Store) -> None:
    shared = await store.inbox.record("is mlops dying", "unanswered", user_id=ALICE)
    await store.inbox.record("Is MLOps dying?", "unanswered", user_id=BOB)
    own = await store.inbox.record("my own question", "unanswered", user_id=ALICE)
    assert not await store.inbox.withdraw(own, BOB)  # not Bob's
    before = await store.inbox.get(shared)
    assert before is not None and before.question == "is mlops dying"
    assert await store.inbox.withdraw(shared, ALICE)
    item = await store.inbox.get(shared)
    assert item is not None and item.count == 1
    assert item.question == "Is MLOps dying?"  # her wording left with her part
    assert [p["text"] for p in (await store.privacy.export(ALICE))["inbox"]] == [
        "my own question"]
    await store.privacy.delete(ALICE)
    assert await store.inbox.get(own) is None  # only hers: gone with her
    assert await store.inbox.get(shared) is not None
    assert await store.inbox.withdraw(shared, BOB)
    assert await store.inbox.get(shared) is None


async def test_quality_counters(store: Store) -> None:
    for _ in range(3):
        await store.questions.log("what do mlops engineers earn", "answered", "faq.salary", 9.0,
                                   count_ask=True)
    await store.questions.feedback(ALICE, "faq.salary", False)
    await store.questions.feedback(ALICE, "faq.salary", False)  # same vote: counted once
    await store.questions.feedback(BOB, "faq.salary", True)
    await store.questions.feedback(BOB, "faq.salary", False)  # changed: moves
    await store.questions.feedback(ALICE, "faq.levels", True)
    entry = await store.inbox.not_what_i_asked("faq.levels", "how much do staff make",
                                               user_id=BOB)
    await store.inbox.not_what_i_asked("faq.levels", None, user_id=None)
    q = {x.intent_id: x for x in await store.inbox.quality()}
    assert (q["faq.salary"].asks, q["faq.salary"].helpful, q["faq.salary"].not_helpful) == \
        (3, 0, 2)
    assert q["faq.levels"].not_what_i_asked == 2 and q["faq.levels"].helpful == 1
    item = await store.inbox.get(entry or 0)
    assert item is not None and item.status == "not_what_i_asked"
    assert item.guess == "faq.levels"
    weakest = await store.inbox.weakest(min_count=2)
    assert [w.intent_id for w in weakest] == ["faq.salary", "faq.levels"]
    assert await store.inbox.weakest(min_count=5) == []


async def test_a_members_ask_enters_the_inbox_in_one_round_trip_on_postgresql(
    store: Store,
) -> None:
    """Issue 11, CPU per interaction: a member's ask is put in the inbox with one statement on
    PostgreSQL (the member's lock, the member's row if new, the entry, the member's part; no
    BEGIN or COMMIT): one round trip instead of six. Grouping and parts are as before."""
    sent = statements(store)
    commands = server_commands(store) if store.db.is_postgres else []
    first = await store.inbox.record("feast or tecton?", "unanswered", None, G1, user_id=9101)
    again = await store.inbox.record("Feast or Tecton", "unanswered", "tools.feature-store", G1,
                                     user_id=9102, part="which one, feast or tecton?")
    if store.db.is_postgres:
        assert len(sent) == 2 and all(
            sql.startswith("WITH lk AS (SELECT pg_advisory_xact_lock(") for sql in sent)
        assert commands == []
    assert first == again
    entry = await store.inbox.get(first)
    assert entry is not None and entry.count == 2 and entry.guess == "tools.feature-store"
    assert (await store.members.get(9101)) is not None
    exported = await store.privacy.export(9102)
    assert "which one, feast or tecton?" in str(exported)
