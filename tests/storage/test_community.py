"""Opt-ins, milestones (at most once per member and phase) and admins' notes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.errors import InvalidInput
from bot.storage.repo.community import OptIns

ALICE, BOB, G1, G2 = 7001, 7002, 9001, 9002


async def test_opt_ins_default_off_and_switch_independently(store):
    assert await store.community.opt_ins(ALICE) == OptIns(False, False)
    assert await store.community.set_opt_ins(ALICE, phase_roles=True) == OptIns(True, False)
    assert await store.community.set_opt_ins(ALICE, milestones=True) == OptIns(True, True)
    assert await store.community.set_opt_ins(ALICE, phase_roles=False) == OptIns(False, True)
    assert await store.community.opt_ins(ALICE) == OptIns(False, True)
    assert await store.community.opt_ins(BOB) == OptIns()
    assert (await store.members.get(ALICE)) is not None  # the member row is made on the way


async def test_a_milestone_is_claimed_once_per_member_and_phase_even_at_once(store):
    await store.members.touch(ALICE)
    results = await asyncio.gather(*(store.community.claim_milestone(ALICE, 2, G1)
                                     for _ in range(8)))
    assert results.count(True) == 1
    assert not await store.community.claim_milestone(ALICE, 2, G2)
    assert await store.community.claim_milestone(ALICE, 3, G2)
    assert await store.community.claim_milestone(BOB, 2, None)
    reached = await store.community.milestones(ALICE)
    assert [(m.phase, m.guild_id) for m in reached] == [(2, G1), (3, G2)]
    with pytest.raises(InvalidInput):
        await store.community.claim_milestone(ALICE, 0, G1)


async def test_notes_for_admins_are_kept_per_guild_and_topic_and_cleared(store):
    await store.community.note(G1, "phase_roles", "first")
    await store.community.note(G1, "phase_roles", "replaced")
    await store.community.note(G1, "milestones", "channel gone")
    await store.community.note(G2, "phase_roles", "other server")
    notes = await store.community.notes(G1)
    assert [(n.topic, n.message) for n in notes] == [("milestones", "channel gone"),
                                                     ("phase_roles", "replaced")]
    assert await store.community.clear_note(G1, "phase_roles")
    assert not await store.community.clear_note(G1, "phase_roles")
    assert [n.topic for n in await store.community.notes(G1)] == ["milestones"]
    assert [n.message for n in await store.community.notes(G2)] == ["other server"]


async def test_privacy_delete_takes_opt_ins_and_milestones(store):
    for user in (ALICE, BOB):
        await store.community.set_opt_ins(user, phase_roles=True, milestones=True)
        await store.community.claim_milestone(user, 1, G1)
    data = await store.privacy.export(ALICE)
    assert data["opt_ins"] == {"phase_roles": True, "milestones": True}
    assert [m["phase"] for m in data["milestones"]] == [1]
    await store.privacy.delete(ALICE)
    assert await store.community.opt_ins(ALICE) == OptIns()
    assert await store.community.milestones(ALICE) == []
    assert [m.phase for m in await store.community.milestones(BOB)] == [1]
    # after a deletion the member starts over: the milestone may be reached again
    assert await store.community.claim_milestone(ALICE, 1, G1)


async def test_check_ins_one_per_week_a_snooze_never_replaces_one(store):
    await store.checkins.snoozed(ALICE, "2026-W48")
    first = await store.checkins.check_in(ALICE, "2026-W49", done="shipped the pipeline",
                                          next_step="alerts", blocker="  ",
                                          blocker_intent=None)
    assert first.blocker is None  # blank is nothing
    await store.checkins.check_in(ALICE, "2026-W49", done="x" * 900, next_step=None,
                                  blocker="no prod access", blocker_intent="roadblock.x")
    await store.checkins.snoozed(ALICE, "2026-W49")  # too late: checked in that week
    await store.checkins.check_in(ALICE, "2026-W48", done="a", next_step=None, blocker=None,
                                  blocker_intent=None)  # a check-in replaces a snooze
    weeks = await store.checkins.history(ALICE)
    assert [(w.week, w.kind) for w in weeks] == [("2026-W49", "checkin"), ("2026-W48", "checkin")]
    assert len(weeks[0].done or "") == 500 and weeks[0].blocker == "no prod access"
    assert await store.checkins.history(BOB) == []
    with pytest.raises(InvalidInput):
        await store.checkins.snoozed(ALICE, "last week")
    data = await store.privacy.export(ALICE)
    assert [c["week"] for c in data["checkins"]] == ["2026-W49", "2026-W48"]
    await store.privacy.delete(ALICE)
    assert await store.checkins.history(ALICE) == []
