"""*Ask a mentor* through mentorbot's real discord.py client on the loopback fake Discord
(issue 14's loop): an unknown question → *Ask a mentor* → confirm → a thread in the mentors'
forum → *Claim* → a mentor's reply marked as answer → the member's DM → the inbox shows the
proposed answer → a new intent → the same question, asked in a server of the other shard
process, is answered with it. Every message the bot sends has mentions off."""

from __future__ import annotations

import asyncio
import time

from .conftest import Running, bot_settings
from .fake_discord import GUILD_FORUM, FakeDiscord, perms
from .test_kb_inbox import button, text, title

QUESTION = "is the berlin mlops meetup worth it"
ANSWER = "Yes, if you give a talk: that is how people get to know you. <@&1> @here"


def labels(message) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get("label", "") for row in message.components for c in row.get("components", [])]


async def test_ask_a_mentor_from_a_miss_to_an_answer_on_the_other_shard(db_url):
    async with FakeDiscord(shard_count=2) as fake:
        g0 = fake.add_guild("zero", on_shard=0)
        g1 = fake.add_guild("one", on_shard=1)
        forum = fake.add_channel(g0, "mentors", type=GUILD_FORUM)
        mentors = fake.add_role(g0, "mentors")
        admin = fake.add_user("admin", guild=g0, permissions=perms.MANAGE_GUILD)
        alice = fake.add_user("alice", guild=g0)
        bob = fake.add_user("bob", guild=g0)
        ada = fake.add_user("ada")
        fake.add_member(g0, ada, roles=[mentors])
        carol = fake.add_user("carol", guild=g1)
        first = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[0]))
        second = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[1]))
        await first.start()
        await second.start()
        try:
            saved = await (await fake.slash(admin, "setup mentors",
                                            {"role": mentors.id, "channel": forum.id},
                                            guild=g0)).final_message()
            assert title(saved) == "Setup saved"

            miss = await (await fake.slash(alice, "ask", {"question": QUESTION},
                                           guild=g0)).final_message()
            assert title(miss) in ("I don't know that one", "My sources don't cover that")
            assert labels(miss)[0] == "Ask a mentor"
            # not someone else's to pass on
            stolen = await (await fake.click(bob, miss, button(miss, "Ask a mentor"))
                            ).final_message()
            assert stolen.ephemeral and "Only the member who asked" in text(stolen)

            confirm = await (await fake.click(alice, miss, button(miss, "Ask a mentor"))
                             ).final_message()
            assert confirm.ephemeral and title(confirm) == "Ask a mentor?"
            done = await (await fake.click(alice, confirm,
                                           button(confirm, "Yes, just the question"))
                          ).final_message()
            assert title(done) == "Passed to the mentors"

            [thread] = await fake.wait_for_threads(forum)
            assert thread.name.startswith("is the berlin")
            post = await fake.wait_for_message(lambda m: m.channel_id == thread.id)
            assert "berlin mlops meetup" in text(post) and f"<@{alice.id}>" in text(post)
            assert labels(post) == ["Claim"]

            # one escalation per question: a second press links to the thread
            again = await (await fake.click(alice, miss, button(miss, "Ask a mentor"))
                           ).final_message()
            assert title(again) == "Already with the mentors"
            assert f"/{g0.id}/{thread.id}" in text(again)

            # Claim: members are refused privately, a mentor claims it
            refused = await (await fake.click(bob, post, button(post, "Claim"))
                             ).final_message()
            assert refused.ephemeral and "for mentors" in text(refused)
            await (await fake.click(ada, post, button(post, "Claim"))).final_message()
            post = fake.message(post.id)
            assert "Claimed by ada" in text(post) and "<t:" in text(post)
            assert labels(post) == []

            # the mentor answers in the thread; Mark as answer (members refused)
            reply = fake.user_message(ada, ANSWER, channel=thread)
            nope = await (await fake.message_command(bob, "Mark as answer", reply)
                          ).final_message()
            assert nope.ephemeral and "for mentors" in text(nope)
            marked = await (await fake.message_command(ada, "Mark as answer", reply)
                            ).final_message()
            assert marked.ephemeral and title(marked) == "Marked as the answer"
            assert "sent it to the member" in text(marked)
            [dm] = await fake.wait_for_dm(alice)
            assert "give a talk" in text(dm) and f"/{g0.id}/{thread.id}/{reply.id}" in text(dm)
            assert "<@&1>" not in text(dm) and "@here" not in text(dm)

            # the inbox has the proposed answer; it becomes an intent
            inbox = await (await fake.slash(admin, "kb inbox", guild=g0)).final_message()
            assert "proposed answer" in text(inbox)
            made = await (await fake.click(admin, inbox, button(inbox, "make it an intent"))
                          ).final_message()
            assert title(made) == "New intent"

            # the same question in a server of the other shard process is answered with it
            start = time.monotonic()
            while True:
                msg = await (await fake.slash(carol, "ask", {"question": QUESTION + "?"},
                                              guild=g1)).final_message()
                if "give a talk" in text(msg):
                    break
                assert time.monotonic() - start < 2.5, text(msg)
                await asyncio.sleep(0.2)

            bot_messages = [m for m in fake.messages if m.author is fake.bot_user]
            assert bot_messages and all(m.allowed_mentions == {"parse": []}
                                        for m in bot_messages), [
                (m.id, m.allowed_mentions) for m in bot_messages
                if m.allowed_mentions != {"parse": []}]
        finally:
            await second.stop()
            await first.stop()


async def _escalate(fake, user, guild, question):  # type: ignore[no-untyped-def]
    miss = await (await fake.slash(user, "ask", {"question": question}, guild=guild)
                  ).final_message()
    confirm = await (await fake.click(user, miss, button(miss, "Ask a mentor"))).final_message()
    done = await (await fake.click(user, confirm, button(confirm, "Yes, just the question"))
                  ).final_message()
    assert title(done) == "Passed to the mentors"
    return miss


async def test_a_text_channel_thread_its_reminder_closed_dms_and_the_withdrawal(running,
                                                                                  world):
    """A text channel for the mentors: a public thread holds the post; the dispatcher's
    reminder names the role with mentions off; an asker whose DMs are closed is noted for the
    mentor; withdrawing the question turns the post into a note without their words."""
    from datetime import timedelta

    from bot.frontends.discord.sender import DiscordSender
    from bot.reminders.dispatcher import Dispatcher
    from bot.reminders.ratelimit import Unlimited

    fake = world.fake
    g = fake.add_guild("texty", bot_permissions=perms.DEFAULT_BOT | perms.CREATE_PUBLIC_THREADS
                       | perms.SEND_MESSAGES_IN_THREADS)
    channel = fake.add_channel(g, "mentors")
    role = fake.add_role(g, "mentors")
    boss = fake.add_user("boss", guild=g, permissions=perms.MANAGE_GUILD)
    shy = fake.add_user("shy2", guild=g, dms_closed=True)
    await (await fake.slash(boss, "setup mentors", {"role": role.id, "channel": channel.id},
                            guild=g)).final_message()
    question = "best pizza in naples"
    miss = await _escalate(fake, shy, g, question)
    [thread] = await fake.wait_for_threads(channel)
    post = await fake.wait_for_message(lambda m: m.channel_id == thread.id)
    assert "pizza" in text(post) and labels(post) == ["Claim"]

    # unclaimed past the delay: one reminder in the thread, through the dispatcher
    bot = running.bot
    store = bot.engine.deps.store
    esc = await store.escalations.by_thread(thread.id)
    assert esc is not None and esc.remind_at is not None
    dispatcher = Dispatcher(store, bot.engine.kb, DiscordSender(bot.http), limiter=Unlimited(),
                            clock=lambda: esc.remind_at + timedelta(seconds=1))
    assert (await dispatcher.run_once()).mentor_reminders == 1
    assert (await dispatcher.run_once()).mentor_reminders == 0
    reminder = await fake.wait_for_message(
        lambda m: m.channel_id == thread.id and "still waiting" in text(m))
    assert f"<@&{role.id}>" in text(reminder) and reminder.allowed_mentions == {"parse": []}

    # the mentor's answer can't be DMed: said to the mentor, not retried
    answer = fake.user_message(boss, "Da Michele, every time.", channel=thread)
    marked = await (await fake.message_command(boss, "Mark as answer", answer)).final_message()
    assert marked.ephemeral and "couldn't DM the member" in text(marked)
    assert fake.dm_messages(shy) == []
    # used outside such a thread: a clear private refusal
    elsewhere = fake.user_message(boss, "hello", channel=channel)
    nope = await (await fake.message_command(boss, "Mark as answer", elsewhere)).final_message()
    assert nope.ephemeral and "inside a question thread" in text(nope)

    # withdrawn: the post says so, without the member's words or the Claim button
    done = await (await fake.click(shy, miss, button(miss, "Withdraw my question"))
                  ).final_message()
    assert title(done) == "Question withdrawn"
    start = time.monotonic()
    while "withdrew" not in text(fake.message(post.id)):
        assert time.monotonic() - start < 3, text(fake.message(post.id))
        await asyncio.sleep(0.05)
    edited = fake.message(post.id)
    assert "pizza" not in text(edited) and labels(edited) == []


async def test_a_thread_discord_refuses_is_a_note_for_the_admins(running, world):
    fake = world.fake  # a server where the bot may not create threads
    g = fake.add_guild("locked", everyone_permissions=perms.VIEW_CHANNEL | perms.SEND_MESSAGES
                       | perms.READ_MESSAGE_HISTORY)
    channel = fake.add_channel(g, "mentors")
    boss = fake.add_user("boss", guild=g, permissions=perms.MANAGE_GUILD)
    lin = fake.add_user("lin", guild=g)
    await (await fake.slash(boss, "setup mentors", {"channel": channel.id}, guild=g)
           ).final_message()
    miss = await _escalate(fake, lin, g, "best pizza in naples")
    start = time.monotonic()
    while True:
        shown = await (await fake.slash(boss, "setup show", guild=g)).final_message()
        if "couldn't open a thread" in text(shown):
            break
        assert time.monotonic() - start < 3, text(shown)
        await asyncio.sleep(0.1)
    assert fake.threads(channel) == []
    again = await (await fake.click(lin, miss, button(miss, "Ask a mentor"))).final_message()
    assert title(again) == "Ask a mentor?"  # forgotten: the member may try again
