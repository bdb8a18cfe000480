"""mentorbot's real discord.py client against the loopback fake, driven as Discord would."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from bot.knowledge.loader import load_knowledge
from bot.render.images import CHARTS_SIZE


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def title(message) -> str:  # type: ignore[no-untyped-def]
    return message.embeds[0].get("title", "") if message.embeds else ""


def text(message) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(
        "\n".join([e.get("title", ""), e.get("description", "")]
                  + [f"{f['name']} {f['value']}" for f in e.get("fields", [])])
        for e in message.embeds
    ) + message.content


def button(message, label: str) -> str:  # type: ignore[no-untyped-def]
    for row in message.components:
        for comp in row.get("components", []):
            if comp.get("label") == label:
                return comp["custom_id"]
    raise AssertionError(f"no button {label!r} on message {message.id}")


def labels(message) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get("label") for row in message.components for c in row.get("components", [])]


async def test_startup_syncs_once_and_not_again_after_restart_or_reconnect(running, world):
    fake = world.fake
    assert fake.sync_count == 1
    names = {c["name"] for c in fake.commands()}
    assert {"ask", "quiz", "checklist", "progress", "reminders", "privacy", "stats",
            "roadblock", "faq", "phase", "levels", "tools", "roadmap", "help"} <= names
    await fake.force_reconnect()
    h = await fake.slash(world.alice, "levels", guild=world.guild)
    await h.final_message()
    first = h.messages[0]
    assert title(first) == "The MLOps level ladder"
    # a long reply is split into pages, each within Discord's limits, never cut mid-word
    assert all(sum(len(e.get("description", "")) for e in m.embeds) <= 6000 for m in h.messages)
    await running.restart()
    assert fake.sync_count == 1, "an unchanged command tree is not synced again"


async def test_ask_answers_publicly_with_buttons_in_time_and_no_mentions(running, world, kb):
    fake = world.fake
    h = await fake.slash(world.alice, "ask", {"question": "feast or tecton?"}, guild=world.guild)
    msg = await h.final_message()
    assert h.ack_latency is not None and h.ack_latency < 3.0
    assert not msg.ephemeral
    assert title(msg) == kb.intent_by_id["topic.feature-stores"].title
    assert {"Helpful", "Not helpful", "Not what I asked"} <= set(labels(msg))
    assert msg.allowed_mentions == {"parse": []}
    # answered without asking Discord to send the message back (nothing reads it)
    assert [c.with_response for c in h.callbacks] == [False]
    # "Not what I asked" → the alternatives, only for the one who clicked
    alt = await fake.click(world.bob, msg, button(msg, "Not what I asked"))
    alts = await alt.final_message()
    assert alts.ephemeral and title(alts) == "Other topics you may have meant"
    # a related-topic button from the alternatives opens that answer
    first = alts.components[0]["components"][0]
    shown = await (await fake.click(world.bob, alts, first["custom_id"])).final_message()
    assert title(shown) == first["label"]
    thanks = await (await fake.click(world.alice, msg, button(msg, "Helpful"))).final_message()
    assert thanks.ephemeral and title(thanks) == "Thanks for the feedback"
    # every press was answered by the one persistent handler: no view per message is kept
    # in discord.py's store (memory stays flat however many answers go out)
    store = running.bot._connection._view_store
    assert not store._synced_message_views
    assert all(key is None for key in store._views)  # only the DynamicItem, no message


async def test_everyone_in_a_question_pings_nobody_and_is_escaped_in_stats(running, world):
    fake = world.fake
    q = "@everyone <@&123> how do I bake bread"
    msg = await (await fake.slash(world.alice, "ask", {"question": q},
                                  guild=world.guild)).final_message()
    assert title(msg) == "I don't know that one"
    assert msg.allowed_mentions == {"parse": []}
    stats = await (await fake.slash(world.admin, "stats", guild=world.guild)).final_message()
    body = text(stats)
    assert "bake bread" in body
    assert "@everyone" not in body, "user text quoted back must not render as a mention"
    assert all(m.allowed_mentions == {"parse": []} for m in fake.messages if m.author.bot)
    # the charts arrive as a PNG that decodes to the charts' size; the text keeps the figures
    assert stats.ephemeral and [name for name, _ in stats.files] == ["stats.png"]
    with Image.open(io.BytesIO(stats.files[0][1])) as image:
        image.load()
        assert image.format == "PNG" and image.size == CHARTS_SIZE
    assert (stats.attachments[0].description or "").startswith("Server charts")  # alt text
    assert "Unanswered questions per week" in body and "Members with a phase" in body


async def test_stats_refused_to_non_admins(running, world):
    fake = world.fake
    with pytest.raises(PermissionError):  # Discord's client hides it: default permissions
        await fake.slash(world.bob, "stats", guild=world.guild)
    # a stale client or changed role settings: the bot itself still refuses
    h = await fake.slash(world.bob, "stats", guild=world.guild, check_permissions=False)
    msg = await h.final_message()
    assert msg.ephemeral and "Manage Server" in text(msg)


async def test_autocomplete(running, world):
    fake = world.fake
    faq = await fake.autocomplete(world.alice, "faq", "topic", "feature st", guild=world.guild)
    assert faq and faq[0]["value"] == "topic.feature-stores"
    rb = await fake.autocomplete(world.alice, "roadblock", "name", "senior", guild=world.guild)
    assert rb[0]["value"] == "roadblock.stuck-at-senior"
    tz = await fake.autocomplete(world.alice, "reminders on", "timezone", "berl",
                                 guild=world.guild)
    assert "Europe/Berlin" in [c["value"] for c in tz]
    assert faq.handle.ack_latency < 3.0


async def test_quiz_in_dms_to_a_result_then_reminders(running, world, kb):
    fake = world.fake
    h = await fake.slash(world.alice, "quiz", guild=world.guild)
    ack = await h.final_message()
    assert ack.ephemeral and title(ack) == "Check your DMs"
    dm = (await fake.wait_for_dm(world.alice))[-1]
    assert set(labels(dm)) >= {"Yes", "No"} and "Back" not in labels(dm)
    for yes in (True, True, True, False, True, False):
        click = await fake.click(world.alice, dm, button(dm, "Yes" if yes else "No"))
        dm = await click.final_message()
        assert [(c.type, c.with_response) for c in click.callbacks] == [(7, False)]  # an edit
    assert title(dm) == f"You're in phase 2: {kb.phase_by_number[2].title}"
    assert len(fake.dm_messages(world.alice)) == 1, "answers edit the one DM"
    on = await (await fake.click(world.alice, dm, button(dm, "Weekly reminders"))).final_message()
    assert title(on) == "Weekly reminders are on"
    assert "<t:" in text(on)


async def test_quiz_with_closed_dms_explains_how_to_open_them(running, world):
    fake = world.fake
    msg = await (await fake.slash(world.closed, "quiz", guild=world.guild)).final_message()
    assert msg.ephemeral and title(msg) == "I can't DM you"
    assert "Privacy Settings" in text(msg)
    assert fake.dm_messages(world.closed) == []


async def test_quiz_buttons_survive_a_restart_and_belong_to_the_taker(running, world):
    fake = world.fake
    await (await fake.slash(world.alice, "quiz", guild=world.guild)).final_message()
    dm = (await fake.wait_for_dm(world.alice))[-1]
    dm = await (await fake.click(world.alice, dm, button(dm, "Yes"))).final_message()
    dm = await (await fake.click(world.alice, dm, button(dm, "No"))).final_message()
    assert "Question 3 of 6" in text(dm)
    await running.restart()
    after = await (await fake.click(world.alice, dm, button(dm, "Yes"))).final_message()
    assert "Question 4 of 6" in text(after)
    back = await (await fake.click(world.alice, after, button(after, "Back"))).final_message()
    assert "Question 3 of 6" in text(back)


async def test_checklist_view_toggle_and_progress(running, world, kb):
    fake = world.fake
    item = kb.phase_by_number[1].checklist[0]
    view = await (await fake.slash(world.bob, "checklist view", guild=world.guild)).final_message()
    assert view.ephemeral and f"chk:done:{item.id}" in view.custom_ids
    ticked = await (await fake.click(world.bob, view, f"chk:done:{item.id}")).final_message()
    assert "Marked" in text(ticked) and item.title in text(ticked)
    ac = await fake.autocomplete(world.bob, "checklist undo", "item", "", guild=world.guild)
    assert ac[0]["value"].startswith("p1.")
    prog_h = await fake.slash(world.bob, "progress", guild=world.guild)
    prog = await prog_h.final_message()
    assert prog.ephemeral and "1/" in text(prog)
    assert [name for name, _ in prog.files] == ["progress.png"]  # the card too
    assert [c.with_response for c in prog_h.callbacks] == [False]
    assert prog.files[0][1].startswith(b"\x89PNG")
    other = await (await fake.slash(world.alice, "progress", {"member": world.bob.id},
                                    guild=world.guild)).final_message()
    assert "private" in text(other)


async def test_privacy_export_and_delete(running, world, kb):
    fake = world.fake
    item = kb.phase_by_number[1].checklist[1]
    await (await fake.slash(world.alice, "checklist done", {"item": item.id},
                            guild=world.guild)).final_message()
    export = await (await fake.slash(world.alice, "privacy export",
                                     guild=world.guild)).final_message()
    assert export.ephemeral and export.attachments
    data = json.loads(export.attachments[0].data)
    assert item.id in json.dumps(data)
    ask = await (await fake.slash(world.alice, "privacy delete",
                                  guild=world.guild)).final_message()
    done = await (await fake.click(world.alice, ask,
                                   button(ask, "Yes, delete everything"))).final_message()
    assert title(done) == "Your data is deleted"
    assert await running.bot.engine.deps.store.members.get(world.alice.id) is None


async def test_rate_limited_callback_is_retried(running, world):
    fake = world.fake
    fake.rate_limit("POST", "/webhooks/{app}/{token}", count=1, retry_after=0.2)
    fake.rate_limit("POST", "/interactions/{id}/{token}/callback", count=1, retry_after=0.2)
    h = await fake.slash(world.alice, "roadmap", guild=world.guild)
    msg = await h.final_message(timeout=10)
    assert title(msg)


@pytest.mark.backends("sqlite")
async def test_slow_database_is_deferred_within_three_seconds(running, world, kb):
    """A write stuck behind another process's lock: the bot acknowledges (defers) in time and
    finishes when the database frees up."""
    import asyncio
    import sqlite3

    path = running.settings.database_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        item = kb.phase_by_number[1].checklist[2]
        h = await world.fake.slash(world.alice, "checklist done", {"item": item.id},
                                   guild=world.guild)
        first = await h.response(timeout=3.5)
        assert first.type == 5 and h.ack_latency < 3.0  # deferred ("thinking…") in time
        await asyncio.sleep(3.0 - h.ack_latency + 0.3)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    msg = await h.final_message(timeout=15)
    assert "Marked" in text(msg) and msg.ephemeral


async def test_dev_guild_sync_goes_to_that_guild_only(world, db_url):
    from .conftest import Running, bot_settings

    r = Running(world.fake, bot_settings(world.fake, db_url, dev_guild_id=world.guild.id))
    await r.start()
    try:
        assert world.fake.sync_calls[-1].guild_id == world.guild.id
        assert "ask" in {c["name"] for c in world.fake.commands(world.guild)}
        assert world.fake.commands() == []
    finally:
        await r.stop()


async def test_the_bot_sends_due_reminders_once_with_working_buttons(world, db_url):
    from datetime import UTC, datetime, timedelta

    from .conftest import Running, bot_settings

    fake = world.fake
    r = Running(fake, bot_settings(fake, db_url, reminders_enabled=True,
                                   reminder_interval_seconds=1))
    bot = await r.start()
    try:
        store = bot.engine.deps.store
        due = datetime.now(UTC) - timedelta(minutes=1)
        for user in (world.alice, world.closed):
            await store.members.touch(user.id)
            await store.reminders.set(user.id, enabled=True, weekday=due.weekday(),
                                      hour=due.hour, timezone="UTC", next_due_utc=due)
        dms = await fake.wait_for_dm(world.alice, timeout=10)
        assert len(dms) == 1 and dms[0].allowed_mentions == {"parse": []}
        assert {"rem:snooze", "rem:off"} <= set(dms[0].custom_ids)
        await asyncio.sleep(2.5)  # more runs of the loop: no second reminder for the period
        assert len(fake.dm_messages(world.alice)) == 1
        paused = await store.reminders.get(world.closed.id)
        assert paused.paused_reason, "closed DMs pause the member's reminders"
        nxt = await store.reminders.get(world.alice.id)
        assert nxt.next_due_utc > datetime.now(UTC)
        off = await (await fake.click(world.alice, dms[0], "rem:off")).final_message()
        assert "off" in off.embeds[0]["title"]
    finally:
        await r.stop()
