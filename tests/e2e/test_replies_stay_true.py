"""Replies that stay true when Discord or the load get in the way: a saved change whose reply
Discord refused is reported at the next interaction, a DM Discord won't take gets its own
message, and past the in-flight bound members are told at once that nothing was changed."""

from __future__ import annotations

import asyncio

import pytest

from .test_bot import button, labels, text, title

UNKNOWN_INTERACTION = {"message": "Unknown interaction", "code": 10062}


@pytest.fixture
def kb():
    from bot.knowledge.loader import load_knowledge

    return load_knowledge()


async def test_a_saved_change_whose_reply_was_refused_is_reported_next_time(running, world, kb):
    fake = world.fake
    item = kb.phase_by_number[1].checklist[1]
    fake.fail("POST", "/interactions/{id}/{token}/callback", 404, UNKNOWN_INTERACTION, count=1)
    lost = await fake.slash(world.alice, "checklist done", {"item": item.id}, guild=world.guild)
    for _ in range(200):  # Discord refused the reply …
        if b'outcome="undelivered"' in running.bot.metrics.exposition():
            break
        await asyncio.sleep(0.025)
    assert lost.id  # (the handle of the refused interaction)
    states = await running.bot.engine.deps.store.checklist.states(world.alice.id)
    assert states[item.id].done  # … of a change that was stored
    nxt = await (await fake.slash(world.alice, "roadmap", guild=world.guild)).final_message()
    footer = nxt.embeds[-1].get("footer", {}).get("text", "")
    assert "Saved earlier" in footer and "Checklist updated" in footer
    again = await (await fake.slash(world.alice, "levels", guild=world.guild)).final_message()
    assert "Saved earlier" not in text(again) + str(again.embeds)  # said once


async def test_a_dm_discord_refuses_gets_its_own_message(running, world, caplog):
    fake = world.fake
    fake.fail("POST", "/users/@me/channels", 503, count=1)
    msg = await (await fake.slash(world.alice, "quiz", guild=world.guild)).final_message()
    assert msg.ephemeral and title(msg) == "Discord didn't take my DM"
    assert "/quiz" in text(msg) and "didn't accept" in text(msg)
    # the operator's line names what failed (a timeout's own text is empty)
    [line] = [r.getMessage() for r in caplog.records if "quiz DM to" in r.getMessage()]
    assert line.startswith(f"quiz DM to {world.alice.id} failed: DiscordServerError 503 ")
    again = await (await fake.slash(world.alice, "quiz", guild=world.guild)).final_message()
    assert title(again) == "Check your DMs"


async def test_a_dm_that_does_not_go_out_in_time_is_not_called_refused(
        running, world, caplog, monkeypatch):
    from bot.frontends.discord.cogs import quiz

    fake = world.fake
    monkeypatch.setattr(quiz, "DM_TIMEOUT", 0.3)  # discord.py waits out the 429 for 2 s
    fake.rate_limit("POST", "/users/@me/channels", retry_after=2.0)
    msg = await (await fake.slash(world.alice, "quiz", guild=world.guild)).final_message()
    assert msg.ephemeral and title(msg) == "Your DM is slow to go out"
    assert "may still arrive" in text(msg) and "/quiz" in text(msg)
    assert "didn't accept" not in text(msg)
    [line] = [r.getMessage() for r in caplog.records if "quiz DM to" in r.getMessage()]
    assert line.startswith(f"quiz DM to {world.alice.id} failed: TimeoutError")


async def test_past_the_in_flight_bound_members_are_told_at_once(running, world):
    fake = world.fake
    running.bot.max_in_flight = 0
    h = await fake.slash(world.alice, "checklist view", guild=world.guild)
    msg = await h.final_message()
    assert title(msg) == "I'm very busy right now" and msg.ephemeral
    assert "nothing was changed" in text(msg)
    assert h.ack_latency < 1.0
    running.bot.max_in_flight = 64
    ok = await (await fake.slash(world.alice, "checklist view", guild=world.guild)).final_message()
    assert "checklist" in title(ok).lower()


async def test_someone_elses_quiz_button_is_refused_privately(running, world):
    fake = world.fake
    await (await fake.slash(world.alice, "quiz", guild=world.guild)).final_message()
    dm = (await fake.wait_for_dm(world.alice))[-1]
    refused = await (await fake.click(world.bob, dm, button(dm, "Yes"))).final_message()
    assert "someone else" in text(refused) and refused.ephemeral
    shown = {m.id: m for m in fake.dm_messages(world.alice)}[dm.id]
    assert "Question 1 of 6" in text(shown)  # Alice's question is untouched
    assert set(labels(shown)) >= {"Yes", "No"}


@pytest.mark.backends("postgres")
async def test_autocomplete_answers_from_its_cache_when_the_database_hangs(running, world):
    """Autocomplete can't defer: with the member table locked by another session (reads
    wait), it still answers in time, the member's phase first from what it read last, and the
    slow read is counted."""
    import asyncpg
    from sqlalchemy.engine import make_url

    fake = world.fake
    card = await (await fake.slash(world.bob, "phase", {"number": 3},
                                   guild=world.guild)).final_message()
    await (await fake.click(world.bob, card, button(card, "Make this my phase"))).final_message()
    first = await fake.autocomplete(world.bob, "checklist done", "item", "", guild=world.guild)
    assert first[0]["value"].startswith("p3.")
    url = make_url(running.settings.database_url)
    schema = url.query["search_path"]
    dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    blocker = await asyncpg.connect(dsn)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute(f'LOCK TABLE "{schema}".member IN ACCESS EXCLUSIVE MODE')
        slow = await fake.autocomplete(world.bob, "checklist done", "item", "",
                                       guild=world.guild)
        await tx.rollback()
    finally:
        await blocker.close()
    assert slow.handle.ack_latency < 3.0
    assert slow[0]["value"].startswith("p3."), "the cached phase still comes first"
    metrics = running.bot.metrics.exposition().decode()
    assert 'command="autocomplete:checklist",outcome="slow"' in metrics
    assert 'command="autocomplete:checklist",outcome="ok"' in metrics


@pytest.mark.backends("sqlite")
async def test_a_defer_that_fails_still_reports_the_saved_change_later(running, world, kb):
    """The database is slow, so the bot defers; Discord refuses the defer and the reply (the
    interaction expired): the change is stored and the member's next interaction says so."""
    import sqlite3

    fake = world.fake
    item = kb.phase_by_number[1].checklist[3]
    fake.fail("POST", "/interactions/{id}/{token}/callback", 404, UNKNOWN_INTERACTION, count=2)
    path = running.settings.database_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # writers wait; the bot defers after 0.4 s
    try:
        await fake.slash(world.alice, "checklist done", {"item": item.id}, guild=world.guild)
        await asyncio.sleep(1.0)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    for _ in range(200):
        if b'outcome="undelivered"' in running.bot.metrics.exposition():
            break
        await asyncio.sleep(0.025)
    states = await running.bot.engine.deps.store.checklist.states(world.alice.id)
    assert states[item.id].done
    nxt = await (await fake.slash(world.alice, "levels", guild=world.guild)).final_message()
    assert "Saved earlier" in str(nxt.embeds)
    assert b'outcome="error"' not in running.bot.metrics.exposition()  # no internal error
