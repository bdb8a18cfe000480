"""/kb inbox through mentorbot's real discord.py client and the loopback fake Discord: a miss
reaches the mentors, a mentor teaches it with buttons, the next ask is answered with it."""

from __future__ import annotations

import re

import pytest

from bot.knowledge.loader import load_knowledge

MISS = "what does an ML platform team spend its time on"


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def title(message) -> str:  # type: ignore[no-untyped-def]
    return message.embeds[0].get("title", "") if message.embeds else ""


def text(message) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(e.get("title", "") + "\n" + e.get("description", "")
                     for e in message.embeds) + message.content


def button(message, label: str) -> str:  # type: ignore[no-untyped-def]
    for row in message.components:
        for comp in row.get("components", []):
            if comp.get("label", "").endswith(label):
                return comp["custom_id"]
    raise AssertionError(f"no button {label!r} on message {message.id}")


async def test_a_mentor_teaches_from_the_inbox_and_the_question_is_answered(running, world,
                                                                             kb):
    fake = world.fake
    miss = await (await fake.slash(world.alice, "ask", {"question": MISS},
                                   guild=world.guild)).final_message()
    assert title(miss) == "Did you mean…"
    pizza = await (await fake.slash(world.bob, "ask", {"question": "@everyone best pizza?"},
                                    guild=world.guild)).final_message()
    assert title(pizza) == "I don't know that one"

    # members don't get the inbox (Discord hides it; the bot refuses a stale client too)
    with pytest.raises(PermissionError):
        await fake.slash(world.alice, "kb inbox", guild=world.guild)
    refused = await (await fake.slash(world.alice, "kb inbox", guild=world.guild,
                                      check_permissions=False)).final_message()
    assert refused.ephemeral and "for mentors" in text(refused)
    # a member with the mentor role of /setup mentors may (servers can show it to the role)
    mentors = fake.add_role(world.guild, "mentors")
    ada = fake.add_user("ada")
    fake.add_member(world.guild, ada, roles=[mentors])
    await (await fake.slash(world.admin, "setup mentors", {"role": mentors.id},
                            guild=world.guild)).final_message()
    inbox = await (await fake.slash(ada, "kb inbox", guild=world.guild,
                                    check_permissions=False)).final_message()
    assert inbox.ephemeral and title(inbox) == "Mentor inbox"
    body = text(inbox)
    assert MISS in body and "best pizza" in body
    assert "@everyone" not in body  # quoted member text is escaped
    assert inbox.allowed_mentions == {"parse": []}

    ids = re.findall(r"\*\*#(\d+)\*\*.*\n+“(.*)”", body)
    entry = {q: n for n, q in ids}
    miss_id, pizza_id = entry[MISS], next(n for q, n in entry.items() if "pizza" in q)
    menu = await (await fake.click(ada, inbox, button(inbox, f"#{miss_id}: teach as…"))
                  ).final_message()
    target = kb.intent_by_id["faq.day-to-day"]
    done = await (await fake.click(ada, menu, button(menu, target.title))).final_message()
    assert title(done) == "Taught" and target.title in text(done)
    off = await (await fake.click(ada, inbox, button(inbox, f"#{pizza_id}: off-topic"))
                 ).final_message()
    assert title(off) == "Marked off-topic"

    again = await (await fake.slash(world.bob, "ask", {"question": MISS + "?"},
                                    guild=world.guild)).final_message()
    assert title(again) == target.title
    after = await (await fake.slash(world.admin, "kb inbox", guild=world.guild)).final_message()
    assert "Nothing waiting" in text(after)


async def test_a_mentor_answer_becomes_an_intent_answered_by_the_other_shard(db_url):
    """The issue's loop: the inbox → a new intent → the same question, asked in a server of
    the other shard process, is answered with it."""
    import asyncio
    import time

    from bot.storage import Store

    from .conftest import Running, bot_settings
    from .fake_discord import FakeDiscord, perms

    question = "is the berlin mlops meetup worth it"
    async with FakeDiscord(shard_count=2) as fake:
        g0 = fake.add_guild("zero", on_shard=0)
        g1 = fake.add_guild("one", on_shard=1)
        admin = fake.add_user("admin", guild=g0, permissions=perms.MANAGE_GUILD)
        alice = fake.add_user("alice", guild=g1)
        first = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[0]))
        second = Running(fake, bot_settings(fake, db_url, shard_count=2, shard_ids=[1]))
        await first.start()
        await second.start()
        try:
            before = await (await fake.slash(alice, "ask", {"question": question},
                                             guild=g1)).final_message()
            assert title(before) in ("I don't know that one", "My sources don't cover that")
            async with Store.open(db_url) as store:  # a mentor answered (issue 14, items 2-3)
                await store.inbox.propose_answer(
                    question, "Yes, if you give a talk: that is how people get to know you.",
                    mentor_id=admin.id, mentor_name="ada", guild_id=g0.id)
            inbox = await (await fake.slash(admin, "kb inbox", guild=g0)).final_message()
            assert "proposed answer" in text(inbox)
            made = await (await fake.click(admin, inbox, button(inbox, "make it an intent"))
                          ).final_message()
            assert title(made) == "New intent"
            start = time.monotonic()
            while True:
                msg = await (await fake.slash(alice, "ask", {"question": question + "?"},
                                              guild=g1)).final_message()
                if title(msg) == "Is the berlin mlops meetup worth it":
                    break
                assert time.monotonic() - start < 2.5, text(msg)
                await asyncio.sleep(0.2)
            assert "give a talk" in text(msg)
            assert "community answer by" in msg.embeds[0].get("footer", {}).get("text", "")
        finally:
            await second.stop()
            await first.stop()
