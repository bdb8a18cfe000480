"""The help-forum first responder: a new post in a forum the server chose is answered once,
only when the bot is sure, with Solved / Still need help."""

from __future__ import annotations

import asyncio

from tests.e2e.fake_discord import GUILD_FORUM

from .test_bot import button, labels, text, title


async def test_a_clear_forum_post_is_answered_once_with_solved_and_still_need_help(running,
                                                                                    world):
    fake = world.fake
    forum = fake.add_channel(world.guild, "help", type=GUILD_FORUM)
    other = fake.add_channel(world.guild, "showcase", type=GUILD_FORUM)
    await (await fake.slash(world.admin, "setup forum", {"channel": forum.id, "state": "on"},
                            guild=world.guild)).final_message()

    thread, _ = fake.user_forum_post(world.bob, forum, "Feast or Tecton for our feature store?",
                                     "we're a small team")
    answer = await fake.wait_for_message(
        lambda m: m.channel_id == thread.id and m.author.id == fake.bot_user.id, timeout=5)
    assert "Feast" in title(answer) or "feature store" in text(answer).lower()
    assert {"Solved", "Still need help"} <= set(labels(answer))
    assert answer.allowed_mentions == {"parse": []}

    unsure, _ = fake.user_forum_post(world.bob, forum, "weekend plans anyone?", "bbq?")
    elsewhere, _ = fake.user_forum_post(world.bob, other, "feast or tecton?", "same question")
    await asyncio.sleep(1.0)
    for quiet in (unsure, elsewhere):
        assert not [m for m in fake.thread_messages(quiet) if m.author.id == fake.bot_user.id]
    assert len([m for m in fake.thread_messages(thread) if m.author.id == fake.bot_user.id]) == 1

    still = await (await fake.click(world.bob, answer, button(answer, "Still need help")))\
        .final_message()
    assert title(still) == "Still open"
    solved = await (await fake.click(world.bob, answer, button(answer, "Solved"))).final_message()
    assert title(solved) == "Marked as solved" and solved.ephemeral
