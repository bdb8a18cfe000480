"""Retraining in the background (issue 14, item 5): what mentors teach reaches the matcher, so a
paraphrase of a taught question is answered too — after a rebuild off the event loop, in every
process — on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.overlay import overlay_documents, retrained_matcher
from bot.knowledge.loader import KnowledgeBase
from bot.matching.build import content_key, documents, kb_shape, merge_documents
from bot.matching.matcher import Matcher, MatcherConfig
from bot.storage import Store
from bot.storage.overlay_data import CommunityIntent, Overlay, TaughtPhrase, question_key

G = 77
ALICE = Member(1001, guild_id=G, name="alice")

TAUGHT = "what does an ML platform team spend its time on"  # knowledge base: kubernetes, ambiguous
TAUGHT_AS = "faq.day-to-day"
PARAPHRASE = "what does a ML platform team spend their time on?"
KAGGLE = "is a kaggle grandmaster title useful for mlops jobs"
KAGGLE_PARAPHRASE = "are kaggle grandmaster titles useful for getting an mlops job?"
# the knowledge base alone: portfolio projects. (Not a question naming a field term such as
# "gpu": the matcher never lets negatives veto those, taught or not.)
OFF_TOPIC = "how do I price my side project"
OFF_TOPIC_PARAPHRASE = "how to price a side project?"
MEETUP = "is the mlops meetup in berlin worth it"
MEETUP_PARAPHRASE = "is the berlin mlops meetup worth going to?"
DONT_KNOW = "I don't know that one"


@pytest.fixture
async def other(kb: KnowledgeBase, engine: Engine, db_url: str) -> AsyncIterator[Engine]:
    """A second process's engine: its own Store (connections) on the same database."""
    store = Store.open(db_url)
    try:
        yield Engine(kb, store, Settings(_env_file=None), matcher=engine.deps.matcher)
    finally:
        await store.close()


async def ask(engine: Engine, question: str) -> tuple[str | None, str]:
    reply = await engine.run("ask", ALICE, question=question)
    return reply.intent, reply.title


async def retrained(engine: Engine) -> None:
    """Let the engine notice the overlay (its next command does) and finish its rebuild."""
    await engine.deps.live.refresh(engine.deps.store, force=True)
    await asyncio.wait_for(engine.deps.live.settled(), 120)


async def test_paraphrases_of_what_was_taught_are_answered_in_every_process(
        engine: Engine, other: Engine) -> None:
    kb, store = engine.kb, engine.deps.store
    assert (await ask(engine, PARAPHRASE))[0] != TAUGHT_AS  # the knowledge base alone
    assert (await ask(engine, OFF_TOPIC_PARAPHRASE))[1] != DONT_KNOW
    assert (await ask(other, MEETUP_PARAPHRASE))[0] is None
    await store.overlay.teach(TAUGHT, TAUGHT_AS, taught_by="ada")
    await store.overlay.teach(KAGGLE, "faq.portfolio-projects", taught_by="ada")
    await store.overlay.teach(OFF_TOPIC, None, taught_by="ada")
    entry = await store.inbox.propose_answer(
        MEETUP, "Yes if you present: talks get you known.", mentor_id=1004,
        mentor_name="ada", guild_id=G)
    meetup = await store.overlay.adopt(entry, title="Is the MLOps meetup in Berlin worth it",
                                       taken=kb.intent_by_id)

    for process in (engine, other):  # the second one reads the same overlay: a cached build
        await retrained(process)
        assert await ask(process, TAUGHT) == (TAUGHT_AS, kb.intent_by_id[TAUGHT_AS].title)
        assert await ask(process, PARAPHRASE) == (TAUGHT_AS, kb.intent_by_id[TAUGHT_AS].title)
        assert (await ask(process, KAGGLE_PARAPHRASE))[0] == "faq.portfolio-projects"
        assert (await ask(process, OFF_TOPIC_PARAPHRASE))[1] == DONT_KNOW
        assert await ask(process, MEETUP_PARAPHRASE) == (meetup.id, meetup.title)
        # the matcher serving is the retrained one; the knowledge base's stays as it was
        assert process.deps.live.current(process.deps.matcher) is not process.deps.matcher


async def test_the_loop_serves_the_old_matcher_while_a_slow_build_runs(engine: Engine) -> None:
    """One build at a time, off the event loop; versions that arrive meanwhile are built after
    it, only the newest."""
    kb, store, live = engine.kb, engine.deps.store, engine.deps.live
    gate = threading.Event()
    built: list[str | None] = []

    def slow(kb: KnowledgeBase, overlay: Overlay) -> Matcher:
        built.append(overlay.version)
        if len(built) == 1:
            assert gate.wait(60), "the test never opened the gate"
        return retrained_matcher(kb, overlay)

    live.builder = slow
    try:
        await store.overlay.teach(TAUGHT, TAUGHT_AS)
        await retrained_start(engine)
        first = live.version
        assert built == [first]  # the build is running (in its thread, held at the gate)
        # meanwhile the loop serves: the exact wording at once, a paraphrase by the old matcher
        title = kb.intent_by_id[TAUGHT_AS].title
        assert await ask(engine, TAUGHT) == (TAUGHT_AS, title)
        assert (await ask(engine, PARAPHRASE))[0] != TAUGHT_AS
        # two more versions arrive during the build: no second build starts now
        await store.overlay.teach(KAGGLE, "faq.portfolio-projects")
        await live.refresh(store, force=True)
        await store.overlay.teach(OFF_TOPIC, None)
        await live.refresh(store, force=True)
        newest = live.version
        assert newest != first and built == [first]
        assert (await ask(engine, KAGGLE_PARAPHRASE))[0] != "faq.portfolio-projects"
    finally:
        gate.set()
    await asyncio.wait_for(live.settled(), 120)
    assert built == [first, newest]  # the one in between was never built
    assert await ask(engine, PARAPHRASE) == (TAUGHT_AS, title)
    assert (await ask(engine, KAGGLE_PARAPHRASE))[0] == "faq.portfolio-projects"
    assert (await ask(engine, OFF_TOPIC_PARAPHRASE))[1] == DONT_KNOW


async def retrained_start(engine: Engine) -> None:
    """The engine notices the overlay: its build starts (and yields to its thread)."""
    await engine.deps.live.refresh(engine.deps.store, force=True)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if engine.deps.live._task is not None:
            return
    raise AssertionError("no build started")


async def test_a_failed_build_keeps_the_old_matcher(engine: Engine,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    store, live = engine.deps.store, engine.deps.live
    calls: list[str | None] = []

    def broken(kb: KnowledgeBase, overlay: Overlay) -> Matcher:
        calls.append(overlay.version)
        raise MemoryError("no room to train")

    live.builder = broken
    before = await ask(engine, PARAPHRASE)
    await store.overlay.teach(TAUGHT, TAUGHT_AS)
    with caplog.at_level(logging.WARNING, logger="bot.engine.overlay"):
        await retrained(engine)
    assert "could not retrain the matcher" in caplog.text
    assert live.current(engine.deps.matcher) is engine.deps.matcher
    assert (await ask(engine, TAUGHT))[0] == TAUGHT_AS  # the exact wording still at once
    assert await ask(engine, PARAPHRASE) == before
    await retrained(engine)
    assert len(calls) == 1  # the same version is not retried on every command


async def test_a_reloaded_knowledge_base_is_retrained_too(engine: Engine) -> None:
    store, live = engine.deps.store, engine.deps.live
    await store.overlay.teach(TAUGHT, TAUGHT_AS)
    await retrained(engine)
    assert (await ask(engine, PARAPHRASE))[0] == TAUGHT_AS
    engine.reload(engine.kb, engine.deps.matcher.__class__.from_arrays(
        engine.deps.matcher.to_arrays(), engine.deps.matcher.config))
    await asyncio.wait_for(live.settled(), 120)
    assert (await ask(engine, PARAPHRASE))[0] == TAUGHT_AS


def test_the_same_overlay_gives_the_same_cache_key_in_every_process(kb: KnowledgeBase) -> None:
    """Processes read the overlay in any row order; the documents (and so the build cached
    under their hash) are the same, and a phrasing taught for a gone intent is left out."""
    phrases = [TaughtPhrase(TAUGHT, TAUGHT_AS), TaughtPhrase(KAGGLE, "faq.portfolio-projects"),
               TaughtPhrase(OFF_TOPIC, None), TaughtPhrase(MEETUP, "community.meetup"),
               TaughtPhrase("who still asks this", "community.retired")]
    meetup = CommunityIntent("community.meetup", "The meetup", "The meetup", "Go.", "@ada")
    one = Overlay("1", {question_key(p.phrasing): p for p in phrases}, (meetup,))
    two = Overlay("2", {question_key(p.phrasing): p for p in reversed(phrases)}, (meetup,))
    known = {i.id for i in kb.intents}
    docs = overlay_documents(one, known)
    assert docs == overlay_documents(two, known)
    assert [(d.id, d.texts) for d in docs] == [
        ("community.meetup", (MEETUP,)), (TAUGHT_AS, (TAUGHT,)),
        ("faq.portfolio-projects", (KAGGLE,)), ("oos.overlay#0", (OFF_TOPIC,))]
    merged = merge_documents(documents(kb), docs)
    assert len(merged) == len(documents(kb)) + 2  # the new intent and the negative
    day = next(d for d in merged if d.id == TAUGHT_AS)
    assert day.texts[-1] == TAUGHT and day.title == kb.intent_by_id[TAUGHT_AS].title
    config = MatcherConfig()
    assert content_key(merged, kb_shape(kb), config) == content_key(
        merge_documents(documents(kb), overlay_documents(two, known)), kb_shape(kb), config)
