"""What a reminder says: progress bar, done since last time, next item with hint and tools,
the roadblock tip after three quiet weeks, how to update — short enough for a notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.knowledge.loader import KnowledgeBase
from bot.reminders.compose import (
    BODY_LIMIT,
    ReminderComposer,
    compose_reminder,
    roadblock_for_phase,
    shorten,
    tool_name,
)
from bot.render import progress_bar
from bot.storage import NotFound, Store
from tests.conftest import FakeClock

from .conftest import RecordingSender, at, opt_in

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
ALICE = 1001


@dataclass
class _Deps:
    kb: KnowledgeBase
    store: Store


def test_roadblock_per_phase_comes_from_the_knowledge_base(kb: KnowledgeBase) -> None:
    picked = {n: roadblock_for_phase(kb, n) for n in (1, 2, 3, 4)}
    assert {n: i.id for n, i in picked.items() if i} == {
        1: "roadblock.no-production-experience",
        2: "roadblock.tools-not-promoted",
        3: "roadblock.stuck-at-senior",
        4: "roadblock.stuck-at-senior",
    }
    for intent in picked.values():
        assert intent is not None and intent.kind == "roadblock" and intent.unlock


def test_shorten_and_tool_names() -> None:
    text = "First sentence is here. Second one is a bit longer than the first one."
    assert shorten(text, 200) == text
    assert shorten(text, 40) == "First sentence is here."
    cut = shorten("word " * 50, 33)
    assert len(cut) <= 33 and cut.endswith("…") and "  " not in cut
    assert tool_name("MLflow (experiment tracking; W&B is the alternative)") == "MLflow"
    assert tool_name("Feast (open source) or Tecton (managed) as the store") == (
        "Feast or Tecton as the store")


async def test_first_reminder_for_a_new_member(store: Store, kb: KnowledgeBase,
                                               clock: FakeClock) -> None:
    at(clock, T0)
    await opt_in(store, ALICE, now=T0)
    reply = await compose_reminder(kb, store, ALICE, T0 + timedelta(days=1))
    phase = kb.phase_by_number[1]
    first = phase.checklist[0]
    assert reply.kind == "reminder" and reply.private
    assert [a.id for a in reply.actions] == ["form:checkin", "chk:view:1", "rem:snooze", "rem:off"]
    assert "▱▱▱▱▱▱▱▱▱▱ 0/4" in reply.body
    assert first.title in reply.body and f"`{first.id}`" in reply.body
    assert first.hint[:60] in reply.body
    assert "MLflow" in reply.body and "(experiment tracking" not in reply.body
    assert f"/checklist done {first.id}" in reply.body
    assert "Since last time" not in reply.body and "💡" not in reply.body
    assert reply.footer and "Monday at 09:00 (UTC)" in reply.footer
    assert len(reply.body) <= BODY_LIMIT


async def test_done_since_the_last_reminder_and_the_next_item(
    store: Store, kb: KnowledgeBase, dispatcher, sender: RecordingSender, clock: FakeClock
) -> None:
    at(clock, T0)
    due = (await opt_in(store, ALICE, now=T0, phase=2)).next_due_utc
    assert due is not None
    items = kb.phase_by_number[2].checklist
    await store.checklist.mark(ALICE, items[0].id)  # before the first reminder
    at(clock, due)
    await dispatcher.run_once()
    first = sender.sent[0].reply
    assert f"✅ {items[0].title}" in first.body  # done within the week before the first one
    assert progress_bar(1, 4) in first.body
    # during the week: two more done, one of them also in another phase's list
    at(clock, due + timedelta(days=2))
    await store.checklist.mark(ALICE, items[2].id)
    await store.checklist.mark(ALICE, kb.phase_by_number[1].checklist[0].id)
    at(clock, due + timedelta(days=7))
    await dispatcher.run_once()
    second = sender.sent[1].reply
    assert second.reminder.done_since == (items[2].id, kb.phase_by_number[1].checklist[0].id)
    assert items[0].title not in second.body.split("**Next:**")[0]  # not again
    assert f"✅ {shorten(items[2].title, 60)}" in second.body
    assert f"**Next:** {items[1].title}" in second.body  # first unchecked, in list order
    assert progress_bar(2, 4) in second.body
    assert [a.id for a in second.actions] == ["form:checkin", "chk:view:2", "rem:snooze", "rem:off"]


@pytest.mark.parametrize("phase", [1, 2, 3, 4])
async def test_stalled_three_weeks_gets_the_phase_roadblock_tip(
    store: Store, kb: KnowledgeBase, clock: FakeClock, phase: int
) -> None:
    at(clock, T0)
    await opt_in(store, ALICE, now=T0, phase=phase)
    item = kb.phase_by_number[phase].checklist[0]
    await store.checklist.mark(ALICE, item.id)
    roadblock = roadblock_for_phase(kb, phase)
    assert roadblock is not None and roadblock.unlock
    fresh = await compose_reminder(_Deps(kb, store), ALICE, T0 + timedelta(days=20))
    assert "💡" not in fresh.body and fresh.reminder.stalled is False
    stale = await compose_reminder(_Deps(kb, store), ALICE, T0 + timedelta(days=21, minutes=1))
    assert stale.reminder.stalled is True and stale.reminder.roadblock == roadblock.id
    assert f"**{roadblock.title}**" in stale.body
    assert roadblock.unlock[:50] in stale.body
    assert len(stale.body) <= BODY_LIMIT
    # an undo is activity too
    at(clock, T0 + timedelta(days=21))
    await store.checklist.unmark(ALICE, item.id)
    again = await compose_reminder(_Deps(kb, store), ALICE, T0 + timedelta(days=22))
    assert again.reminder.stalled is False


async def test_never_ticked_anything_counts_from_joining(
    store: Store, kb: KnowledgeBase, clock: FakeClock
) -> None:
    at(clock, T0)
    await opt_in(store, ALICE, now=T0)
    assert not (await compose_reminder(kb, store, ALICE, T0 + timedelta(days=3))).reminder.stalled
    late = await compose_reminder(kb, store, ALICE, T0 + timedelta(days=30))
    assert late.reminder.roadblock == "roadblock.no-production-experience"


async def test_phase_complete_points_to_the_next_phase(
    store: Store, kb: KnowledgeBase, clock: FakeClock
) -> None:
    at(clock, T0)
    await opt_in(store, ALICE, now=T0, phase=3)
    for item in kb.phase_by_number[3].checklist:
        await store.checklist.mark(ALICE, item.id)
    reply = await compose_reminder(kb, store, ALICE, T0 + timedelta(days=1))
    assert "▰▰▰▰▰▰▰▰▰▰ 4/4" in reply.body and "phase 4" in reply.body
    assert "**Next:**" not in reply.body and reply.reminder.next_item is None
    assert "and 1 more" in reply.body  # four done this week: three shown


async def test_every_phase_and_state_fits_a_notification(
    store: Store, kb: KnowledgeBase, clock: FakeClock
) -> None:
    composer = ReminderComposer(kb)
    at(clock, T0)
    await opt_in(store, ALICE, now=T0)
    worst = 0
    for phase in (1, 2, 3, 4):
        await store.members.set_phase(ALICE, phase, source="chosen")
        for n_done in range(len(kb.phase_by_number[phase].checklist)):
            item = kb.phase_by_number[phase].checklist[n_done - 1]
            if n_done:
                await store.checklist.mark(ALICE, item.id)
            snaps = await store.reminders.snapshots([ALICE])
            for later in (timedelta(days=1), timedelta(days=40)):  # fresh and stalled
                reply = composer.render(snaps[ALICE], clock.current + later)
                worst = max(worst, len(reply.body))
                assert len(reply.title) <= 256
    assert worst <= BODY_LIMIT
    tight = ReminderComposer(kb, body_limit=500)
    reply = tight.render((await store.reminders.snapshots([ALICE]))[ALICE],
                         clock.current + timedelta(days=40))
    assert len(reply.body) <= 500 and "**Next:**" in reply.body


async def test_unknown_member_is_not_found(store: Store, kb: KnowledgeBase) -> None:
    with pytest.raises(NotFound):
        await compose_reminder(kb, store, 424242, T0)
    with pytest.raises(TypeError):
        await compose_reminder(kb, 424242)  # type: ignore[call-overload]
