"""Apps → Answer with mentorbot, on someone else's message: answered publicly, the asker named
but not pinged, the usual buttons, no Message Content intent."""

from __future__ import annotations

import pytest

from bot.knowledge.loader import load_knowledge

from .test_bot import labels, text, title


async def test_a_member_answers_another_members_question(running, world):
    fake = world.fake
    kb = load_knowledge()
    assert "Answer with mentorbot" in {c["name"] for c in fake.commands() if c.get("type") == 3}
    question = fake.user_message(world.bob, "@everyone feast or tecton for a small team?",
                                 guild=world.guild)
    h = await fake.message_command(world.alice, "Answer with mentorbot", question)
    msg = await h.final_message()
    assert not msg.ephemeral and h.ack_latency < 3.0
    assert title(msg) == kb.intent_by_id["topic.feature-stores"].title
    body = text(msg)
    assert "asked:" in body and "feast or tecton" in body
    assert "@everyone" not in body  # quoted safely …
    assert msg.allowed_mentions == {"parse": []}  # … and nobody is pinged
    assert {"More", "Helpful", "Not what I asked"} <= set(labels(msg))


async def test_an_off_topic_message_gets_an_honest_answer(running, world):
    fake = world.fake
    question = fake.user_message(world.bob, "what's a good banana bread recipe",
                                 guild=world.guild)
    msg = await (await fake.message_command(world.alice, "Answer with mentorbot",
                                            question)).final_message()
    assert title(msg) == "I don't know that one" and "asked:" in text(msg)


async def test_setup_can_limit_answering_to_a_role(running, world):
    fake = world.fake
    helpers = fake.add_role(world.guild, "helpers")
    carol = fake.add_user("carol")
    fake.add_member(world.guild, carol, roles=[helpers])
    saved = await (await fake.slash(world.admin, "setup answer-role", {"role": helpers.id},
                                    guild=world.guild)).final_message()
    assert saved.ephemeral and f"<@&{helpers.id}>" in text(saved)
    with pytest.raises(PermissionError):  # Discord doesn't offer /setup to members
        await fake.slash(world.alice, "setup show", guild=world.guild)
    question = fake.user_message(world.bob, "how long until senior?", guild=world.guild)
    refused = await (await fake.message_command(world.alice, "Answer with mentorbot",
                                                question)).final_message()
    assert refused.ephemeral and title(refused) == "Not allowed"
    answered = await (await fake.message_command(carol, "Answer with mentorbot",
                                                 question)).final_message()
    assert not answered.ephemeral and "asked:" in text(answered)

