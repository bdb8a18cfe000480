"""Storage holds no domain facts: how many phases and quiz questions there are comes from the
knowledge base. Revision 0006 widens the old 1–4 / 0–5 constraints without losing a row (on
SQLite the table copy must not cascade into the tables that refer to ``member``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from bot.storage import Database, Store
from bot.storage import migrate as m
from bot.storage.errors import Conflict, InvalidInput
from bot.storage.models import Base

ALICE, BOB = 111, 222


async def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            # the tables of this revision (later revisions add tables it doesn't have)
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            return {t.name: int(await conn.scalar(text(f'SELECT count(*) FROM "{t.name}"')) or 0)
                    for t in Base.metadata.sorted_tables if t.name in present}
    finally:
        await db.close()


async def _fill(store: Store) -> None:
    """A little of everything that hangs off ``member``."""
    for user in (ALICE, BOB):
        await store.members.touch(user, guild_id=42)
        await store.members.set_phase(user, 2)
        await store.checklist.mark(user, "p1.python", "https://example.com/x")
        await store.reminders.set(user, enabled=True, weekday=0, hour=9, timezone="Europe/Paris",
                                  next_due_utc=datetime.now(UTC) + timedelta(days=1))
        await store.questions.log(text="feast or tecton?", outcome="unanswered", intent_id=None,
                                  score=0.1, guild_id=42, user_id=user)
        attempt = await store.quiz.start(user)
        for i in range(3):
            await store.quiz.answer(attempt.id, user, i, True)
    await store.guilds.set(42, {"mentor_role": 7})


async def test_upgrade_to_0006_keeps_every_row(db_url: str) -> None:
    # written by today's code (at head), then taken back to 0005: later revisions add columns
    # today's code writes
    await m.upgrade_async(db_url)
    async with Store.open(db_url) as store:
        await _fill(store)
    filled = await _counts(db_url)
    await m.downgrade_async(db_url, "0005")
    before = await _counts(db_url)
    assert before == {t: n for t, n in filled.items() if t in before}
    assert all(before[t] for t in ("member", "quiz_attempt", "quiz_answer", "checklist_progress",
                                   "reminder_pref", "question_log", "guild_membership"))

    await m.upgrade_async(db_url, "0006")
    assert await _counts(db_url) == before

    await m.upgrade_async(db_url)  # today's code (its privacy deletion) needs today's schema
    upgraded = await _counts(db_url)
    assert {t: n for t, n in upgraded.items() if t in before} == before
    before = upgraded
    async with Store.open(db_url) as store:
        # the copied tables kept their keys, indexes and cascades
        assert (await store.quiz.start(ALICE)).answers == (True, True, True)  # one open attempt
        await store.privacy.delete(BOB)
        after = await _counts(db_url)
        assert after["member"] == before["member"] - 1
        assert after["quiz_answer"] == before["quiz_answer"] - 3  # cascaded through the attempt
        assert after["checklist_progress"] == before["checklist_progress"] - 1
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            async with store.db.session() as s, s.begin():
                await s.execute(text(
                    "INSERT INTO quiz_attempt (member_id, started_at, status) "
                    f"VALUES ({ALICE}, CURRENT_TIMESTAMP, 'open')"))


async def test_a_longer_quiz_and_a_fifth_phase_need_no_migration(store: Store) -> None:
    await store.members.touch(ALICE)
    attempt = await store.quiz.start(ALICE)
    for i in range(8):  # a knowledge base with eight questions
        await store.quiz.answer(attempt.id, ALICE, i, i % 2 == 0)
    with pytest.raises(Conflict, match="8 of 9"):
        await store.quiz.finish(attempt.id, ALICE, 5, questions=9)
    done = await store.quiz.finish(attempt.id, ALICE, 5, questions=8)
    assert (done.status, done.score, done.phase) == ("finished", 4, 5)
    member = await store.members.get(ALICE)
    assert member is not None and member.current_phase == 5
    stats = await store.stats.guild(1, {p: [] for p in range(1, 6)})
    assert list(stats.phase_distribution) == [1, 2, 3, 4, 5]  # the phases the caller lists

    for bad in (0, -1, True, 2.0, 2**15):
        with pytest.raises(InvalidInput):
            await store.members.set_phase(ALICE, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await store.quiz.answer(attempt.id, ALICE, -1, True)


async def test_downgrade_refuses_rows_the_old_range_cannot_hold(db_url: str) -> None:
    await m.upgrade_async(db_url)
    async with Store.open(db_url) as store:
        await store.members.set_phase(ALICE, 5)
    with pytest.raises(Exception, match="phases above 4"):
        await m.downgrade_async(db_url, "0005")
    assert await m.current_async(db_url) != "0005"
    await m.upgrade_async(db_url)  # today's code writes the columns of later revisions
    async with Store.open(db_url) as store:
        await store.members.set_phase(ALICE, 4)
    await m.downgrade_async(db_url, "0005")
    assert await m.current_async(db_url) == "0005"
    assert (await _counts(db_url))["member"] == 1
