"""A server's stats count its own members only, whatever the other servers hold; the copies of
each member's phase and quiz count on their memberships follow every change; the weekly series
put each item done and each unanswered question in its ISO week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.storage import Store
from bot.storage.migrate import upgrade_async
from tests.conftest import FakeClock

A, B = 501, 502  # two servers
ALICE, BOB, CAROL, DAVE = 11, 12, 13, 14  # Alice in A, Bob in B, Carol in both, Dave in none
KB = {1: ["p1-git", "p1-python"], 2: ["p2-docker"], 3: ["p3-ci"]}
MONDAY = datetime(2025, 2, 17, 10, 0, tzinfo=UTC)


async def finish_quiz(store: Store, user: int, phase: int) -> None:
    attempt = await store.quiz.start(user)
    for i in range(6):
        await store.quiz.answer(attempt.id, user, i, True)
    await store.quiz.finish(attempt.id, user, phase, questions=6)


async def test_a_servers_stats_never_count_another_servers_rows(
    store: Store, clock: FakeClock
) -> None:
    clock.current = MONDAY - timedelta(weeks=1)
    for user, guild in [(ALICE, A), (BOB, B), (CAROL, A), (CAROL, B)]:
        await store.members.touch(user, guild_id=guild)
    await store.members.touch(DAVE)  # seen only in DMs: in no server's figures
    await store.checklist.mark(BOB, "p1-git")  # a week before MONDAY
    clock.current = MONDAY
    await finish_quiz(store, BOB, 3)
    await finish_quiz(store, BOB, 3)
    await finish_quiz(store, DAVE, 2)
    await finish_quiz(store, CAROL, 1)
    await store.members.set_phase(ALICE, 2)
    for user, item in [(ALICE, "p1-git"), (ALICE, "p2-docker"), (BOB, "p1-python"),
                       (BOB, "p3-ci"), (CAROL, "p1-git"), (DAVE, "p1-git"), (DAVE, "p2-docker")]:
        await store.checklist.mark(user, item)
    await store.checklist.mark(ALICE, "retired-item")  # not in the knowledge base: not counted
    await store.checklist.unmark(ALICE, "p2-docker")
    for text, guild in [("what is feast", A), ("What is Feast?", A), ("what is ray", B),
                        ("what is ray", B), ("what is ray", B), ("what is dvc", None)]:
        await store.questions.log(text, "unanswered", None, 0.0, guild)
    await store.questions.log("answered in A", "answered", "deploy", 90.0, A)
    clock.current = MONDAY + timedelta(weeks=2, days=3)

    a = await store.stats.guild(A, KB)
    assert (a.members, a.unplaced) == (2, 0)
    assert dict(a.phase_distribution) == {1: 1, 2: 1, 3: 0}
    assert dict(a.funnel) == {"p1-git": 2, "p1-python": 0, "p2-docker": 0, "p3-ci": 0}
    assert (a.quiz_completions, a.quiz_completers) == (1, 1)  # Carol's; not Bob's nor Dave's
    assert a.top_unanswered == (("what is feast", 2),)

    b = await store.stats.guild(B, KB)
    assert (b.members, b.unplaced) == (2, 0)
    assert dict(b.phase_distribution) == {1: 1, 2: 0, 3: 1}
    assert dict(b.funnel) == {"p1-git": 2, "p1-python": 1, "p2-docker": 0, "p3-ci": 1}
    assert (b.quiz_completions, b.quiz_completers) == (3, 2)
    assert b.top_unanswered == (("what is ray", 3),)

    # twelve ISO weeks, Mondays, the current one last; each count in its week
    weeks = [date(2025, 3, 3) - timedelta(weeks=11 - i) for i in range(12)]
    for s in (a, b):
        assert [d for d, _ in s.weekly_done] == weeks == [d for d, _ in s.weekly_unanswered]
    counts = {d: n for d, n in a.weekly_done if n}
    assert counts == {date(2025, 2, 17): 2}  # Alice's p1-git and Carol's (p2-docker undone)
    assert {d: n for d, n in b.weekly_done if n} == {
        date(2025, 2, 10): 1, date(2025, 2, 17): 3}
    assert {d: n for d, n in a.weekly_unanswered if n} == {date(2025, 2, 17): 2}
    assert {d: n for d, n in b.weekly_unanswered if n} == {date(2025, 2, 17): 3}

    empty = await store.stats.guild(999, KB)
    assert empty.members == 0 and not any(empty.funnel.values())
    assert not any(n for _, n in empty.weekly_done + empty.weekly_unanswered)


async def test_membership_copies_follow_the_member(store: Store) -> None:
    await store.members.touch(ALICE, guild_id=A)
    await finish_quiz(store, ALICE, 2)
    await store.members.touch(ALICE, guild_id=B)  # joins B afterwards: B sees the same
    for guild in (A, B):
        s = await store.stats.guild(guild, KB)
        assert dict(s.phase_distribution)[2] == 1
        assert (s.quiz_completions, s.quiz_completers) == (1, 1)
    await store.members.set_phase(ALICE, 3)
    await finish_quiz(store, ALICE, 1)
    for guild in (A, B):
        s = await store.stats.guild(guild, KB)
        assert dict(s.phase_distribution) == {1: 1, 2: 0, 3: 0}
        assert (s.quiz_completions, s.quiz_completers) == (2, 1)
    await store.members.set_phase(ALICE, None)
    assert (await store.stats.guild(A, KB)).unplaced == 1
    await store.privacy.delete(ALICE)
    for guild in (A, B):
        s = await store.stats.guild(guild, KB)
        assert s.members == 0 and s.quiz_completions == 0


async def test_revision_0009_fills_the_copies_from_existing_rows(db_url: str) -> None:
    await upgrade_async(db_url, "0006")
    async with Store.open(db_url) as old, old.db.engine.begin() as conn:
        from sqlalchemy import text

        now = "2025-03-03 09:00:00"
        await conn.execute(text(
            "INSERT INTO member (id, created_at, last_seen_at, current_phase, phase_source, "
            f"sharing) VALUES ({ALICE}, '{now}', '{now}', 2, 'quiz', false), "
            f"({BOB}, '{now}', '{now}', NULL, NULL, false)"))
        await conn.execute(text(
            "INSERT INTO guild_membership (member_id, guild_id, first_seen, last_seen) "
            f"VALUES ({ALICE}, {A}, '{now}', '{now}'), ({BOB}, {A}, '{now}', '{now}')"))
        await conn.execute(text(
            "INSERT INTO quiz_attempt (member_id, started_at, status) VALUES "
            f"({ALICE}, '{now}', 'finished'), ({ALICE}, '{now}', 'finished'), "
            f"({ALICE}, '{now}', 'abandoned'), ({BOB}, '{now}', 'open')"))
    await upgrade_async(db_url)
    async with Store.open(db_url) as store:
        s = await store.stats.guild(A, KB)
        assert dict(s.phase_distribution) == {1: 0, 2: 1, 3: 0} and s.unplaced == 1
        assert (s.quiz_completions, s.quiz_completers) == (2, 1)


async def test_the_report_reads_no_table_whole(store: Store) -> None:
    """The plan of a server's report (as the storage benchmark prints it): every table is
    reached through an index from the server's rows, none is scanned."""
    import random

    from benchmarks.storage import explain, seed

    await seed(store, 3_000, random.Random(7))
    plan = await explain(store, store.db.dialect_name)
    assert plan.lines and plan.full_scans == [], "\n".join(plan.lines)
