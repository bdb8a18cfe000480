from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.storage import Store
from bot.storage.models import Base
from tests.storage.observe import attempt_ids

ALICE = 4001
BOB = 400_200_000_000_000_002
CAROL = 4003
DAVE = 4004
G1 = 77
G2 = 78
KB = {1: ["p1-git", "p1-python"], 2: ["p2-docker"], 3: [], 4: ["p4-k8s"]}
T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


async def _row_counts(store: Store) -> dict[str, int]:
    out = {}
    async with store.db.session() as s:
        for table in Base.metadata.sorted_tables:
            out[table.name] = int(await s.scalar(select(func.count()).select_from(table)) or 0)
    return out


async def _populate(store: Store, user: int, guild: int) -> None:
    await store.members.touch(user, guild_id=guild)
    att = await store.quiz.start(user)
    for i in range(6):
        await store.quiz.answer(att.id, user, i, i % 2 == 0)
    await store.quiz.finish(att.id, user, 2, questions=6)
    await store.quiz.start(user)  # an open retake
    await store.checklist.mark(user, "p1-git", "https://github.com/me/repo")
    await store.checklist.mark(user, "p2-docker")
    await store.checklist.unmark(user, "p2-docker")
    await store.reminders.set(
        user, enabled=True, weekday=1, hour=9, timezone="Europe/Berlin", next_due_utc=T0
    )
    claim = await store.reminders.claim(user, "2025-W11", T0, 60)
    assert claim is not None
    await store.reminders.mark_sent(claim.delivery_id, T0, T0 + timedelta(days=7))
    await store.questions.feedback(user, "deploy", True, guild)
    await store.community.set_opt_ins(user, phase_roles=True, milestones=True)
    assert await store.community.claim_milestone(user, 1, guild)
    await store.checkins.check_in(user, "2025-W11", done="shipped", next_step="tests",
                                  blocker="flaky CI", blocker_intent=None)
    await store.inbox.record(f"who pays for GPUs, asks {user}", "unanswered", None, guild,
                             user_id=user)
    await store.escalations.open(member_id=user, guild_id=guild,
                                 question=f"who pays for GPUs, asks {user}",
                                 guesses=["faq.salary"], context=None, channel_id=77,
                                 remind_at=None)


async def test_export_contains_everything_about_the_member_only(store: Store) -> None:
    await _populate(store, ALICE, G1)
    await store.members.touch(ALICE, guild_id=G2)
    await _populate(store, BOB, G1)
    await store.questions.log("anonymous question", "unanswered", None, 0.0, G1)

    data = await store.privacy.export(ALICE)
    json.dumps(data)  # JSON-serialisable as is
    assert data["format"] == "mentorbot-export/1" and data["user_id"] == ALICE
    assert data["member"]["user_id"] == ALICE and data["member"]["current_phase"] == 2
    assert data["member"]["phase_source"] == "quiz"
    assert [g["guild_id"] for g in data["guilds"]] == [G1, G2]
    attempts = data["quiz_attempts"]
    assert [a["status"] for a in attempts] == ["finished", "open"]
    assert [x["yes"] for x in attempts[0]["answers"]] == [True, False] * 3
    assert all(isinstance(x["answered_at"], str) for x in attempts[0]["answers"])
    assert attempts[0]["score"] == 3 and attempts[0]["phase"] == 2
    items = {i["item_id"]: i for i in data["checklist"]["items"]}
    assert items["p1-git"]["done"] is True
    assert items["p1-git"]["evidence_url"] == "https://github.com/me/repo"
    assert items["p2-docker"]["done"] is False
    assert [(e["item_id"], e["action"]) for e in data["checklist"]["events"]] == [
        ("p1-git", "done"),
        ("p2-docker", "done"),
        ("p2-docker", "undone"),
    ]  # oldest first
    # the done item's copies /stats counts: in G1, and in G2 where she was seen after marking it
    assert [(c["guild_id"], c["item_id"], c["done_at"]) for c in data["checklist"]["in_servers"]
            ] == [(G1, "p1-git", items["p1-git"]["done_at"]), (G2, "p1-git",
                                                              items["p1-git"]["done_at"])]
    prefs = data["reminders"]["preferences"]
    assert prefs["timezone"] == "Europe/Berlin" and prefs["weekday"] == 1
    assert datetime.fromisoformat(prefs["next_due_utc"]) == T0 + timedelta(days=7)
    assert [(d["period_key"], d["status"]) for d in data["reminders"]["deliveries"]] == [
        ("2025-W11", "sent")
    ]
    assert [(f["intent_id"], f["helpful"]) for f in data["feedback"]] == [("deploy", True)]
    assert str(BOB) not in json.dumps(data)  # nothing of Bob's
    assert "anonymous question" not in json.dumps(data)


async def test_export_of_unknown_member_is_empty(store: Store) -> None:
    data = await store.privacy.export(ALICE)
    assert data["member"] is None
    assert data["guilds"] == [] and data["quiz_attempts"] == [] and data["feedback"] == []
    assert data["checklist"] == {"items": [], "events": [], "in_servers": []}
    assert data["reminders"] == {"preferences": None, "deliveries": []}


async def test_delete_removes_everything_in_one_go(store: Store) -> None:
    await _populate(store, ALICE, G1)
    await store.members.touch(ALICE, guild_id=G2)
    await _populate(store, BOB, G1)
    await store.questions.log("anonymous question", "unanswered", None, 0.0, G1)
    before = await _row_counts(store)

    deleted = await store.privacy.delete(ALICE)
    after = await _row_counts(store)
    # the inbox entry of a question only Alice asked goes with her part in it (not counted)
    assert deleted + 1 == sum(before.values()) - sum(after.values())
    assert before["inbox_entry"] - after["inbox_entry"] == 1
    # Alice had: member, 2 guilds, 2 attempts, 6 answers, 2 items, 3 events, prefs,
    # 1 delivery, 1 feedback, opt-ins, 1 milestone, 1 check-in, 1 part in the inbox,
    # 1 escalation, the done item's copies in her 2 servers
    assert deleted == 1 + 2 + 2 + 6 + 2 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2
    assert await store.members.get(ALICE) is None
    assert (await store.privacy.export(ALICE))["member"] is None
    assert await attempt_ids(store, ALICE) == []
    # Bob and the anonymous question log are untouched
    assert (await store.privacy.export(BOB))["member"] is not None
    assert after["question_log"] == before["question_log"] == 1
    assert await store.privacy.delete(ALICE) == 0


async def test_guild_stats(store: Store) -> None:
    # Alice (G1, G2): phase 1 via quiz, twice; Bob (G1): chose phase 2; Carol (G1): no phase;
    # Dave (G2 only): phase 4
    for user, guild in [(ALICE, G1), (ALICE, G2), (BOB, G1), (CAROL, G1), (DAVE, G2)]:
        await store.members.touch(user, guild_id=guild)
    for _ in range(2):
        att = await store.quiz.start(ALICE)
        for i in range(6):
            await store.quiz.answer(att.id, ALICE, i, False)
        await store.quiz.finish(att.id, ALICE, 1, questions=6)
    await store.members.set_phase(BOB, 2)
    att = await store.quiz.start(CAROL)  # unfinished: not a completion
    await store.members.set_phase(DAVE, 4)
    att = await store.quiz.start(DAVE)
    for i in range(6):
        await store.quiz.answer(att.id, DAVE, i, True)
    await store.quiz.finish(att.id, DAVE, 4, questions=6)

    for user, item in [
        (ALICE, "p1-git"),
        (ALICE, "p1-python"),
        (BOB, "p1-git"),
        (BOB, "retired-item"),
        (CAROL, "p2-docker"),
        (DAVE, "p1-git"),
        (DAVE, "p4-k8s"),
    ]:
        await store.checklist.mark(user, item)
    await store.checklist.unmark(CAROL, "p2-docker")

    await store.questions.log("what is mlflow", "unanswered", None, 0.0, G1)
    await store.questions.log("What is MLflow?", "unanswered", None, 0.0, G1)
    await store.questions.log("what is kserve", "unanswered", None, 0.0, G2)

    s1 = await store.stats.guild(G1, KB)
    assert s1.guild_id == G1 and s1.members == 3 and s1.unplaced == 1
    assert dict(s1.phase_distribution) == {1: 1, 2: 1, 3: 0, 4: 0}
    assert list(s1.funnel.items()) == [
        ("p1-git", 2),
        ("p1-python", 1),
        ("p2-docker", 0),
        ("p4-k8s", 0),
    ]
    assert (s1.quiz_completions, s1.quiz_completers) == (2, 1)
    assert s1.top_unanswered == (("what is mlflow", 2),)

    s2 = await store.stats.guild(G2, KB)
    assert s2.members == 2 and s2.unplaced == 0
    assert dict(s2.phase_distribution) == {1: 1, 2: 0, 3: 0, 4: 1}
    assert s2.funnel["p1-git"] == 2 and s2.funnel["p4-k8s"] == 1
    assert (s2.quiz_completions, s2.quiz_completers) == (3, 2)
    assert s2.top_unanswered == (("what is kserve", 1),)

    empty = await store.stats.guild(99, KB)
    assert empty.members == 0 and sum(empty.phase_distribution.values()) == 0
    assert all(v == 0 for v in empty.funnel.values()) and empty.top_unanswered == ()
