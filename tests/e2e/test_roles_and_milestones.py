"""Phase roles and milestones on the loopback fake: the role follows the quiz and the
checklist for members who opted in; Discord's 403 / 50013 reaches the admins (``/setup show``,
a log line), never the member; a finished phase is announced once, mentions off."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.e2e.fake_discord import perms

from .test_bot import button, text, title

QUIZ_PHASE_2 = (True, True, True, False, True, False)


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    from bot.knowledge.loader import load_knowledge

    return load_knowledge()


async def eventually(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``check()`` is true: roles and posts come after the reply, in the
    background."""
    deadline = time.monotonic() + timeout
    while not await check() if asyncio.iscoroutinefunction(check) else not check():
        if time.monotonic() > deadline:
            raise AssertionError("the bot never got there")
        await asyncio.sleep(0.05)


def role_ids(fake, guild, user) -> set[int]:  # type: ignore[no-untyped-def]
    return {r.id for r in fake.member_roles(guild, user)}


async def map_phase_roles(fake, guild, admin, roles):  # type: ignore[no-untyped-def]
    for phase, role in roles.items():
        msg = await (await fake.slash(admin, "setup phase-role", {"phase": phase, "role": role.id},
                                      guild=guild)).final_message()
        assert title(msg) == "Setup saved"
    return msg


async def quiz_to_phase_2(fake, user, guild, kb):  # type: ignore[no-untyped-def]
    await (await fake.slash(user, "quiz", guild=guild)).final_message()
    dm = (await fake.wait_for_dm(user))[-1]
    for yes in QUIZ_PHASE_2:
        dm = await (await fake.click(user, dm, button(dm, "Yes" if yes else "No"))).final_message()
    assert title(dm) == f"You're in phase 2: {kb.phase_by_number[2].title}"
    return dm


async def finish_phase(fake, user, guild, kb, phase: int) -> list:  # type: ignore[no-untyped-def]
    replies = []
    for item in kb.phase_by_number[phase].checklist:
        h = await fake.slash(user, "checklist done", {"item": item.id}, guild=guild)
        replies.append(await h.final_message())
        assert h.ack_latency is not None and h.ack_latency < 3.0
    return replies


async def test_phase_roles_follow_the_quiz_and_the_checklist(running, world, kb):
    fake = world.fake
    g = fake.add_guild("Roles welcome", bot_permissions=perms.DEFAULT_BOT | perms.MANAGE_ROLES)
    boss = fake.add_user("boss", guild=g, permissions=perms.MANAGE_GUILD)
    carol = fake.add_user("carol", guild=g)
    dave = fake.add_user("dave", guild=g)
    roles = {n: fake.add_role(g, f"Phase {n}", position=1) for n in sorted(kb.phase_by_number)}
    saved = await map_phase_roles(fake, g, boss, roles)
    assert "Needs your attention" not in text(saved)
    fake.give_role(g, carol, roles[4])  # a phase role from before: it goes

    on = await (await fake.slash(carol, "roles", {"state": "on"}, guild=g)).final_message()
    assert on.ephemeral and title(on) == "Phase roles" and "/quiz" in text(on)
    await eventually(lambda: role_ids(fake, g, carol) == set())

    await quiz_to_phase_2(fake, carol, g, kb)  # in DMs: the role is set in carol's server
    await eventually(lambda: role_ids(fake, g, carol) == {roles[2].id})

    await finish_phase(fake, carol, g, kb, 2)
    await eventually(lambda: role_ids(fake, g, carol) == {roles[3].id})
    reasons = {e.reason for e in fake.audit_log if e.guild_id == g.id}
    assert reasons == {"mentorbot: the member's phase role (they opted in with /roles on)"}

    off = await (await fake.slash(carol, "roles", {"state": "off"}, guild=g)).final_message()
    assert "off" in text(off)
    await eventually(lambda: role_ids(fake, g, carol) == set())

    # dave never opted in: the quiz gives him no role
    await quiz_to_phase_2(fake, dave, g, kb)
    await asyncio.sleep(0.5)
    assert role_ids(fake, g, dave) == set()
    shown = await (await fake.slash(boss, "setup show", guild=g)).final_message()
    assert "Needs your attention" not in text(shown)


async def test_a_refused_role_tells_the_admins_never_the_member(running, world, kb, caplog):
    fake, g = world.fake, world.guild  # the bot has no Manage Roles here
    roles = {n: fake.add_role(g, f"Phase {n}") for n in sorted(kb.phase_by_number)}
    saved = await map_phase_roles(fake, g, world.admin, roles)
    # told at once: the bot lacks Manage Roles here
    assert "Needs your attention" in text(saved) and "Manage Roles" in text(saved)
    store = running.bot.engine.deps.store
    await store.community.clear_note(g.id, "phase_roles")  # so the refusal below notes again
    caplog.set_level(logging.WARNING, logger="bot.frontends.discord.effects")

    on = await (await fake.slash(world.alice, "roles", {"state": "on"}, guild=g)).final_message()
    assert on.ephemeral and title(on) == "Phase roles"
    result = await quiz_to_phase_2(fake, world.alice, g, kb)

    async def noted() -> bool:
        return bool(await store.community.notes(g.id))

    await eventually(noted)
    assert role_ids(fake, g, world.alice) == set()
    refused = [r for r in fake.requests if "/roles/" in r.path]
    assert refused and all(r.status == 403 for r in refused)
    assert "cannot set phase roles (Discord 403, code 50013)" in caplog.text
    # the member saw only their own answers: no error, no mention of roles failing
    mine = [*fake.dm_messages(world.alice), on, result]
    assert all(title(m) not in ("Sorry", "Hmm") and "50013" not in text(m) for m in mine)

    shown = await (await fake.slash(world.admin, "setup show", guild=g)).final_message()
    assert shown.ephemeral and "Needs your attention" in text(shown)
    assert "Manage Roles" in text(shown) and "50013" in text(shown)

    # Manage Roles, but the bot's role below the phase roles: still refused
    helper = fake.add_role(g, "mentorbot helper", perms.MANAGE_ROLES, position=1)
    fake.give_role(g, fake.bot_user, helper)
    before = len(fake.requests)
    await (await fake.slash(world.alice, "roles", {"state": "on"}, guild=g)).final_message()
    await eventually(lambda: any("/roles/" in r.path and r.status == 403
                                 for r in fake.requests[before:]))
    await asyncio.sleep(0.2)
    assert role_ids(fake, g, world.alice) == set() and await noted()

    # the admins drag the bot's role above the phase roles: it works, the note goes
    fake.move_role(g, helper, len(roles) + 2)
    await (await fake.slash(world.alice, "roles", {"state": "on"}, guild=g)).final_message()
    await eventually(lambda: role_ids(fake, g, world.alice) == {roles[2].id})

    async def cleared() -> bool:
        return not await store.community.notes(g.id)

    await eventually(cleared)
    shown = await (await fake.slash(world.admin, "setup show", guild=g)).final_message()
    assert "Needs your attention" not in text(shown)


async def test_a_finished_phase_is_announced_once_with_mentions_off(running, world, kb):
    fake, g = world.fake, world.guild
    channel = fake.add_channel(g, "milestones")
    await (await fake.slash(world.admin, "setup announcements", {"channel": channel.id},
                            guild=g)).final_message()
    on = await (await fake.slash(world.alice, "milestones", {"state": "on"},
                                 guild=g)).final_message()
    assert "/privacy share on" in text(on)
    await (await fake.slash(world.alice, "privacy share", {"state": "on"},
                            guild=g)).final_message()

    def posts() -> list:  # type: ignore[type-arg]
        return [m for m in fake.channel_messages(channel) if m.author.id == fake.bot_user.id]

    await finish_phase(fake, world.alice, g, kb, 1)
    await eventually(lambda: len(posts()) == 1)
    [post] = posts()
    assert post.allowed_mentions == {"parse": []}
    assert f"<@{world.alice.id}>" in text(post) and kb.phase_by_number[1].title in text(post)

    # undone and done again: not announced twice; bob did not opt in: not announced
    item = kb.phase_by_number[1].checklist[0].id
    await (await fake.slash(world.alice, "checklist undo", {"item": item},
                            guild=g)).final_message()
    await (await fake.slash(world.alice, "checklist done", {"item": item},
                            guild=g)).final_message()
    await finish_phase(fake, world.bob, g, kb, 1)
    await asyncio.sleep(0.5)
    assert len(posts()) == 1


async def test_an_announcement_channel_the_bot_cant_post_in_tells_the_admins(running, world,
                                                                                kb):
    fake, g = world.fake, world.guild
    channel = fake.add_channel(g, "milestones")
    await (await fake.slash(world.admin, "setup announcements", {"channel": channel.id},
                            guild=g)).final_message()
    for command, state in (("milestones", "on"), ("privacy share", "on")):
        await (await fake.slash(world.bob, command, {"state": state}, guild=g)).final_message()
    fake.fail("POST", f"/channels/{channel.id}/messages", 403,
              {"message": "Missing Permissions", "code": 50013})
    replies = await finish_phase(fake, world.bob, g, kb, 1)
    assert all(title(r) == "Checklist updated" for r in replies)
    store = running.bot.engine.deps.store

    async def noted() -> bool:
        return [n.topic for n in await store.community.notes(g.id)] == ["milestones"]

    await eventually(noted)
    shown = await (await fake.slash(world.admin, "setup show", guild=g)).final_message()
    assert "Needs your attention" in text(shown) and f"<#{channel.id}>" in text(shown)
    assert not [m for m in fake.channel_messages(channel) if m.author.id == fake.bot_user.id]
