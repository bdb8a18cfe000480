"""The weekly check-in on the loopback fake: *Check in* on the reminder DM opens the form at
once, its answers are stored and the blocker answered; ``/checkin`` opens the same form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .conftest import Running, bot_settings
from .test_bot import text, title

MODAL = 9


async def test_check_in_from_the_reminder_dm_answers_the_blocker(world, db_url):
    fake = world.fake
    r = Running(fake, bot_settings(fake, db_url, reminders_enabled=True,
                                   reminder_interval_seconds=1))
    bot = await r.start()
    try:
        store = bot.engine.deps.store
        due = datetime.now(UTC) - timedelta(minutes=1)
        await store.members.touch(world.alice.id)
        await store.reminders.set(world.alice.id, enabled=True, weekday=due.weekday(),
                                  hour=due.hour, timezone="UTC", next_due_utc=due)
        [dm] = await fake.wait_for_dm(world.alice, timeout=10)
        assert "form:checkin" in dm.custom_ids

        opened = await fake.click(world.alice, dm, "form:checkin")
        callback = await opened.response()
        assert callback.type == MODAL and opened.ack_latency is not None
        assert opened.ack_latency < 3.0
        assert opened.modal is not None and opened.modal["title"] == "Weekly check-in"

        sent = await fake.submit_modal(opened, {
            "done": "shipped drift alerts", "next_step": "",
            "blocker": "I know MLflow but never get promoted"})
        answer = await sent.final_message()
        assert title(answer) == "Checked in · 1 week in a row"
        assert "shipped drift alerts" in text(answer)
        assert answer.allowed_mentions == {"parse": []}
        [stored] = await store.checkins.history(world.alice.id)
        assert stored.done == "shipped drift alerts" and stored.next_step is None
        fits = bot.engine.kb.intent_by_id[stored.blocker_intent or ""]
        assert fits.kind in ("roadblock", "faq", "topic") and fits.title in text(answer)
    finally:
        await r.stop()


async def test_slash_checkin_opens_the_form_or_takes_the_lines(running, world):
    fake = world.fake
    opened = await fake.slash(world.bob, "checkin", guild=world.guild)
    assert (await opened.response()).type == MODAL
    inline = await (await fake.slash(world.bob, "checkin", {"blocker": "@everyone help"},
                                     guild=world.guild)).final_message()
    assert inline.ephemeral and title(inline).startswith("Checked in")
    assert "@everyone" not in text(inline)
    submitted = await (await fake.submit_modal(opened, {"done": "read the ADR"}))\
        .final_message()
    assert submitted.ephemeral and "read the ADR" in text(submitted)
    store = running.bot.engine.deps.store
    [week] = await store.checkins.history(world.bob.id)  # one row per week: the latest
    assert week.done == "read the ADR" and week.blocker is None


async def test_forms_open_at_once_are_not_mixed_up_and_survive_a_restart(running, world):
    fake = world.fake
    alice = await fake.slash(world.alice, "checkin", guild=world.guild)
    bob = await fake.slash(world.bob, "checkin", guild=world.guild)
    for h in (alice, bob):
        assert (await h.response()).type == MODAL
    await (await fake.submit_modal(bob, {"done": "bob's week"})).final_message()
    await running.restart()  # alice's form was open meanwhile
    mine = await (await fake.submit_modal(alice, {"done": "alice's week"})).final_message()
    assert "alice's week" in text(mine) and "bob" not in text(mine)
    store = running.bot.engine.deps.store
    assert [w.done for w in await store.checkins.history(world.alice.id)] == ["alice's week"]
    assert [w.done for w in await store.checkins.history(world.bob.id)] == ["bob's week"]


async def test_a_shared_check_in_is_posted_with_mentions_off_and_no_blocker(running, world):
    fake, g = world.fake, world.guild
    channel = fake.add_channel(g, "progress")
    await (await fake.slash(world.admin, "setup progress-channel", {"channel": channel.id},
                            guild=g)).final_message()
    await (await fake.slash(world.alice, "privacy share", {"state": "on"},
                            guild=g)).final_message()
    reply = await (await fake.slash(world.alice, "checkin",
                                    {"done": "@everyone shipped it", "blocker": "secret woes"},
                                    guild=g)).final_message()
    assert f"<#{channel.id}>" in text(reply)
    post = await fake.wait_for_message(
        lambda m: m.channel_id == channel.id and m.author.id == fake.bot_user.id)
    assert post.allowed_mentions == {"parse": []}
    assert "shipped it" in text(post) and "@everyone" not in text(post)
    assert "secret woes" not in text(post) and f"<@{world.alice.id}>" in text(post)
