"""Phase roles and milestones as the engine says them: typed effects on the reply, only for
members who opted in, on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.replies import RoleEffect
from tests.engine.test_flows import take_quiz

G, OTHER = 77, 88
ALICE = Member(1001, guild_id=G, name="alice")
BOB = Member(1002, guild_id=G, name="bob")
ADMIN = Member(1003, guild_id=G, name="admin", is_admin=True)
ROLES = {1: 501, 2: 502, 3: 503, 4: 504}
ANNOUNCE = 601


@pytest.fixture
async def engine(kb, store, clock) -> Engine:
    e = Engine(kb, store, Settings(_env_file=None), clock=clock)
    for phase, role in ROLES.items():
        await e.run("setup phase-role", ADMIN, phase=phase, role=role)
    await e.run("setup announcements", ADMIN, channel=ANNOUNCE)
    return e


async def finish_phase(engine: Engine, member: Member, kb, phase: int):  # type: ignore[no-untyped-def]
    reply = None
    for item in kb.phase_by_number[phase].checklist:
        reply = await engine.run("checklist done", member, item=item.id)
    assert reply is not None and reply.checklist and reply.checklist.phase_complete
    return reply


async def test_no_role_effect_without_opting_in(engine, kb):
    result = await take_quiz(engine, ALICE, [True, True, True, False, True, False])
    assert result.outcome and result.outcome.phase == 2
    assert result.roles == ()
    assert (await finish_phase(engine, ALICE, kb, 2)).roles == ()


async def test_roles_on_then_quiz_checklist_and_phase_choice_set_the_phase_role(engine, kb):
    on = await engine.run("roles", ALICE, state=True)
    assert on.roles == (RoleEffect(G, ALICE.user_id, None, None, (501, 502, 503, 504)),)
    assert "no phase yet" in on.body
    # the quiz runs in DMs: its result sets the role in the member's servers
    dm = replace(ALICE, guild_id=None)
    result = await take_quiz(engine, dm, [True, True, True, False, True, False])
    assert result.roles == (RoleEffect(G, ALICE.user_id, 2, 502, (501, 503, 504)),)
    # finishing phase 2's checklist: ready for phase 3
    done = await finish_phase(engine, ALICE, kb, 2)
    assert done.roles == (RoleEffect(G, ALICE.user_id, 3, 503, (501, 502, 504)),)
    # catching up on an older phase changes nothing
    assert (await finish_phase(engine, ALICE, kb, 1)).roles == ()
    moved = await engine.act(ALICE, "phase:set:4")
    assert moved.roles == (RoleEffect(G, ALICE.user_id, 4, 504, (501, 502, 503)),)
    off = await engine.run("roles", ALICE, state=False)
    assert off.roles == (RoleEffect(G, ALICE.user_id, None, None, (501, 502, 503, 504)),)
    assert (await engine.act(ALICE, "phase:set:3")).roles == ()


async def test_a_server_without_phase_roles_gets_no_effect(engine):
    elsewhere = replace(BOB, guild_id=OTHER)
    reply = await engine.run("roles", elsewhere, state=True)
    assert "no phase roles yet" in reply.body
    assert [e.guild_id for e in reply.roles] == []
    # but a server the member also uses, with roles, gets one
    await engine.run("milestones", BOB, state=False)  # seen in G too
    assert [e.guild_id for e in (await engine.run("roles", elsewhere, state=True)).roles] == [G]


async def test_a_milestone_is_announced_once_only_with_opt_in_and_sharing(engine, kb):
    assert (await finish_phase(engine, BOB, kb, 1)).announce == ()  # not opted in
    reply = await engine.run("milestones", ALICE, state=True)
    assert "only while you share" in reply.body and f"<#{ANNOUNCE}>" in reply.body
    assert (await finish_phase(engine, ALICE, kb, 1)).announce == ()  # not sharing
    await engine.run("privacy share", ALICE, state=True)
    item = kb.phase_by_number[1].checklist[0].id
    await engine.run("checklist undo", ALICE, item=item)
    again = await engine.run("checklist done", ALICE, item=item)
    [post] = again.announce
    assert (post.guild_id, post.channel_id, post.phase) == (G, ANNOUNCE, 1)
    assert f"<@{ALICE.user_id}>" in post.body and kb.phase_by_number[1].title in post.body
    await engine.run("checklist undo", ALICE, item=item)
    assert (await engine.run("checklist done", ALICE, item=item)).announce == ()  # once
    # a server that shares nothing announces nothing
    await engine.run("setup sharing", ADMIN, policy="nobody")
    assert (await finish_phase(engine, ALICE, kb, 2)).announce == ()


async def test_setup_show_lists_what_needs_the_admins_attention(engine, store):
    shown = await engine.run("setup show", ADMIN)
    assert "Needs your attention" not in shown.body and shown.tone == "info"
    await store.community.note(G, "phase_roles", "I couldn't give members their phase roles")
    shown = await engine.run("setup show", ADMIN)
    assert "Needs your attention" in shown.body and shown.tone == "warning"
    assert "couldn't give members their phase roles" in shown.body
