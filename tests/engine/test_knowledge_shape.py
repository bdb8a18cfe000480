"""Phase numbers and the quiz length come from the knowledge base alone: a knowledge base with a
fifth phase and eight questions works end to end on the real database, with no code change."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.knowledge.loader import load_knowledge
from bot.matching.build import build_matcher
from tests.engine.test_flows import action, take_quiz

ROOT = Path(__file__).resolve().parents[2]
ALICE = Member(2001, guild_id=88, name="alice")
ADMIN = Member(2002, guild_id=88, name="admin", is_admin=True)


def _five_phases(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", root)
    phases = yaml.safe_load((root / "phases.yaml").read_text(encoding="utf-8"))
    fifth = copy.deepcopy(phases["phases"][-1])
    fifth.update(number=5, title="Beyond the ladder", before_label="Phase 4")
    for item in fifth["checklist"]:
        item["id"] = item["id"].replace("p4.", "p5.", 1)
    phases["phases"].append(fifth)
    (root / "phases.yaml").write_text(yaml.safe_dump(phases, sort_keys=False), encoding="utf-8")

    quiz = yaml.safe_load((root / "quiz.yaml").read_text(encoding="utf-8"))
    for n in (7, 8):
        extra = copy.deepcopy(quiz["questions"][-1])
        extra.update(id=f"q{n}", text=f"Extra question number {n}: have you done it?")
        quiz["questions"].append(extra)
    last = quiz["routing"][-1]
    last["max_yes"] = 6
    quiz["routing"].append({**last, "min_yes": 7, "max_yes": 7, "phase": 4})
    quiz["routing"].append({**last, "min_yes": 8, "max_yes": 8, "phase": 5})
    (root / "quiz.yaml").write_text(yaml.safe_dump(quiz, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture
def engine(tmp_path, store, clock) -> Engine:
    kb = load_knowledge(_five_phases(tmp_path))
    assert len(kb.quiz.questions) == 8 and max(kb.phase_by_number) == 5
    return Engine(kb, store, Settings(_env_file=None), clock=clock)


async def test_an_eight_question_quiz_places_a_member_in_phase_five(engine, store):
    result = await take_quiz(engine, ALICE, [True] * 8)
    assert result.outcome is not None and (result.outcome.phase, result.outcome.score) == (5, 8)
    member = await store.members.get(ALICE.user_id)
    assert member is not None and member.current_phase == 5

    checklist = await engine.run("checklist view", ALICE)
    assert checklist.checklist is not None and checklist.checklist.phase == 5
    done = await engine.run("checklist done", ALICE, item="p5.reliability-2x")
    assert done.checklist is not None and done.checklist.changed_to_done is True

    stats = await engine.run("stats", ADMIN)
    assert "Phase 5: ▰▰▰▰▰▰▰▰▰▰ 1/1" in stats.body and "Phase 4: ▱" in stats.body


async def test_seven_yes_of_eight_and_a_button_past_the_end(engine):
    reply = await take_quiz(engine, ALICE, [True] * 6 + [False, True])
    assert reply.outcome is not None and reply.outcome.phase == 4  # 7 yes: routed as written
    first = await engine.run("quiz", ALICE, restart=True)
    attempt = action(first, "Yes").split(":")[2]
    # a button of a longer quiz than the knowledge base has now: the stale reply, no error
    stale = await engine.act(ALICE, f"quiz:ans:{attempt}:9:y")
    assert stale.title == "This quiz has ended" and stale.error is None


def test_the_matcher_reads_the_fifth_phase_and_the_eighth_question(tmp_path):
    kb = load_knowledge(_five_phases(tmp_path))
    matcher = build_matcher(kb, use_cache=False)
    assert matcher.match("whats the last phase about").slots.phase == 5
    assert matcher.match("just finished phase 4, what now?").slots.phase == 5
    assert matcher.match("what do I need before phase 5").slots.phase == 4
    scored = matcher.match("I got 8/8 on the quiz, what now").slots
    assert (scored.yes, scored.phase) == (8, 5)
    assert matcher.match("yes to all of them on the quiz").slots.yes == 8
    # the same sentence on the knowledge base as shipped: four phases, six questions
    shipped = build_matcher(load_knowledge(ROOT / "knowledge"))
    assert shipped.match("whats the last phase about").slots.phase == 4
    assert shipped.match("yes to all of them on the quiz").slots.yes == 6
