from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import pytest

from bot.storage import Conflict, InvalidInput, NotFound, Store
from bot.storage.repo._base import core
from bot.storage.repo.quiz import _NEW_OPEN
from tests.storage.observe import attempt_ids, statements

if TYPE_CHECKING:
    from tests.conftest import FakeClock

ALICE = 1001
BOB = 1002
#: This test's quiz length: storage takes it from the caller (the knowledge base's quiz).
QUIZ_LENGTH = 6


async def _answer_all(store: Store, attempt_id: int, user: int, answers: list[bool]) -> None:
    for i, yes in enumerate(answers):
        await store.quiz.answer(attempt_id, user, i, yes)


async def test_start_then_resume_the_open_attempt(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    assert att.status == "open" and att.user_id == ALICE
    assert att.answers == () and att.next_index == 0 and att.finished_at is None
    await store.quiz.answer(att.id, ALICE, 0, True)
    resumed = await store.quiz.start(ALICE)
    assert resumed.id == att.id
    assert resumed.answers == (True,)
    assert await attempt_ids(store, ALICE, "open") == [att.id]
    assert await attempt_ids(store, BOB) == []


async def test_answers_in_order_with_times_and_double_click(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    a = await store.quiz.answer(att.id, ALICE, 0, True)
    b = await store.quiz.answer(att.id, ALICE, 1, False)
    assert a.answers == (True,) and b.answers == (True, False)
    # double click on the last answered question: state unchanged, even with the other button
    assert (await store.quiz.answer(att.id, ALICE, 1, False)).answers == (True, False)
    assert (await store.quiz.answer(att.id, ALICE, 1, True)).answers == (True, False)
    with pytest.raises(Conflict, match="before question 2"):
        await store.quiz.answer(att.id, ALICE, 3, True)
    with pytest.raises(Conflict, match="already answered"):
        await store.quiz.answer(att.id, ALICE, 0, False)
    for bad in (-1, 2**15, True):
        with pytest.raises(InvalidInput):
            await store.quiz.answer(att.id, ALICE, bad, True)  # type: ignore[arg-type]
    assert (await store.quiz.get(att.id)).answers == (True, False)


async def test_only_the_owner_may_answer_and_missing_attempts(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    with pytest.raises(Conflict, match="another member"):
        await store.quiz.answer(att.id, BOB, 0, True)
    with pytest.raises(Conflict):
        await store.quiz.back(att.id, BOB)
    with pytest.raises(Conflict):
        await store.quiz.finish(att.id, BOB, 1, questions=QUIZ_LENGTH)
    with pytest.raises(NotFound):
        await store.quiz.answer(att.id + 999, ALICE, 0, True)
    with pytest.raises(NotFound):
        await store.quiz.get(att.id + 999)
    assert (await store.quiz.get(att.id)).answers == ()


async def test_back_drops_the_last_answer(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    assert (await store.quiz.back(att.id, ALICE)).answers == ()  # nothing to drop
    await _answer_all(store, att.id, ALICE, [True, True, False])
    after = await store.quiz.back(att.id, ALICE)
    assert after.answers == (True, True) and after.next_index == 2
    changed = await store.quiz.answer(att.id, ALICE, 2, True)
    assert changed.answers == (True, True, True)


async def test_finish_scores_sets_phase_and_is_idempotent(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    await _answer_all(store, att.id, ALICE, [True, False, True])
    with pytest.raises(Conflict, match="3 of 6"):
        await store.quiz.finish(att.id, ALICE, 2, questions=QUIZ_LENGTH)
    for i, yes in enumerate([True, False, True], start=3):
        await store.quiz.answer(att.id, ALICE, i, yes)
    with pytest.raises(InvalidInput):
        await store.quiz.finish(att.id, ALICE, 0, questions=QUIZ_LENGTH)
    done = await store.quiz.finish(att.id, ALICE, 3, questions=QUIZ_LENGTH)
    assert done.status == "finished" and done.score == 4 and done.phase == 3
    assert done.finished_at is not None and done.finished_at > done.started_at
    member = await store.members.get(ALICE)
    assert member is not None and (member.current_phase, member.phase_source) == (3, "quiz")
    # double click on "finish": unchanged
    assert await store.quiz.finish(att.id, ALICE, 1, questions=QUIZ_LENGTH) == done
    with pytest.raises(Conflict, match="finished"):
        await store.quiz.answer(att.id, ALICE, 5, True)
    with pytest.raises(Conflict, match="finished"):
        await store.quiz.back(att.id, ALICE)
    assert await attempt_ids(store, ALICE, "open") == []


async def test_restart_abandons_and_history_keeps_everything(
    store: Store, clock: FakeClock
) -> None:
    first = await store.quiz.start(ALICE)
    await _answer_all(store, first.id, ALICE, [True] * QUIZ_LENGTH)
    await store.quiz.finish(first.id, ALICE, 4, questions=QUIZ_LENGTH)
    clock.advance(days=1)
    second = await store.quiz.start(ALICE)  # after a finish: a new attempt
    assert second.id != first.id and second.answers == ()
    await store.quiz.answer(second.id, ALICE, 0, False)
    clock.advance(days=1)
    third = await store.quiz.start(ALICE, restart=True)
    assert third.id not in (first.id, second.id) and third.status == "open"
    with pytest.raises(Conflict, match="abandoned"):
        await store.quiz.answer(second.id, ALICE, 1, True)
    with pytest.raises(Conflict, match="abandoned"):
        await store.quiz.finish(second.id, ALICE, 1, questions=QUIZ_LENGTH)

    history = [await store.quiz.get(i) for i in await attempt_ids(store, ALICE)]
    assert [a.id for a in history] == [third.id, second.id, first.id]  # newest first
    assert [a.status for a in history] == ["open", "abandoned", "finished"]
    assert history[1].answers == (False,) and history[1].finished_at is not None
    assert history[2].answers == (True,) * QUIZ_LENGTH and history[2].score == QUIZ_LENGTH
    assert await attempt_ids(store, BOB) == []


async def test_concurrent_starts_open_one_attempt(store: Store) -> None:
    attempts = await asyncio.gather(*(store.quiz.start(ALICE) for _ in range(20)))
    assert len({a.id for a in attempts}) == 1
    assert len(await attempt_ids(store, ALICE)) == 1


async def test_start_opens_an_attempt_without_a_savepoint(store: Store, clock: FakeClock) -> None:
    """A new attempt is one upsert on the one-open-attempt index, not a savepoint around an
    insert (two more round trips on PostgreSQL); a restart abandons the open one first."""
    seen = statements(store)
    first = await store.quiz.start(ALICE)
    clock.advance(minutes=5)
    second = await store.quiz.start(ALICE, restart=True)
    assert not [sql for sql in seen if "SAVEPOINT" in sql.upper()]
    assert sum("INSERT INTO quiz_attempt" in sql for sql in seen) == 2
    history = [await store.quiz.get(i) for i in await attempt_ids(store, ALICE)]
    assert [(a.id, a.status) for a in history] == [(second.id, "open"), (first.id, "abandoned")]
    assert history[1].finished_at == second.started_at


async def test_the_new_attempt_statement_yields_to_an_open_one(store: Store) -> None:
    """The conflict path of ``start``: were an attempt opened by a writer that skipped the
    member's lock, the insert stores nothing (start then resumes that one); once the open
    attempt is finished, it inserts."""
    async def insert_open(s: Any) -> Any:
        return (await (await core(s)).execute(
            _NEW_OPEN, {"member_id": ALICE, "now": store.quiz.now()})).one_or_none()

    open_one = await store.quiz.start(ALICE)
    assert await store.db.run(insert_open) is None
    assert await attempt_ids(store, ALICE) == [open_one.id]
    await _answer_all(store, open_one.id, ALICE, [True] * QUIZ_LENGTH)
    await store.quiz.finish(open_one.id, ALICE, 4, questions=QUIZ_LENGTH)
    row = await store.db.run(insert_open)
    assert row is not None and row.status == "open" and row.member_id == ALICE
    assert row.id != open_one.id and row.finished_at is None and row.started_at is not None
    assert await attempt_ids(store, ALICE, "open") == [row.id]


async def test_concurrent_double_clicks_store_one_answer(store: Store) -> None:
    att = await store.quiz.start(ALICE)
    results = await asyncio.gather(*(store.quiz.answer(att.id, ALICE, 0, True) for _ in range(10)))
    assert all(r.answers == (True,) for r in results)
    assert (await store.quiz.get(att.id)).answers == (True,)


async def test_random_walk_matches_a_list_model(store: Store) -> None:
    """Answer / double click / back / skip in random order; storage equals a plain list."""
    rng = random.Random(7)
    att = await store.quiz.start(ALICE)
    model: list[bool] = []
    for _ in range(120):
        op = rng.choice(["answer", "answer", "double", "back", "skip"])
        if op == "answer" and len(model) < QUIZ_LENGTH:
            yes = rng.random() < 0.5
            rec = await store.quiz.answer(att.id, ALICE, len(model), yes)
            model.append(yes)
        elif op == "double" and model:
            rec = await store.quiz.answer(att.id, ALICE, len(model) - 1, not model[-1])
        elif op == "back":
            rec = await store.quiz.back(att.id, ALICE)
            model = model[:-1]
        elif op == "skip" and len(model) + 1 < QUIZ_LENGTH:
            with pytest.raises(Conflict):
                await store.quiz.answer(att.id, ALICE, len(model) + 1, True)
            continue
        else:
            continue
        assert rec.answers == tuple(model)
    assert (await store.quiz.get(att.id)).answers == tuple(model)


async def test_open_attempt_is_the_one_to_resume(store):
    assert await store.quiz.open_attempt(4711) is None
    attempt = await store.quiz.start(4711)
    await store.quiz.answer(attempt.id, 4711, 0, True)
    found = await store.quiz.open_attempt(4711)
    assert found is not None and found.id == attempt.id and found.answers == (True,)
    await store.quiz.start(4711, restart=True)  # the old one is abandoned, a new one is open
    assert (await store.quiz.open_attempt(4711)).answers == ()


async def test_a_click_reads_the_attempt_and_its_answers_in_one_statement(store: Store) -> None:
    """Issue 11, CPU per interaction: a quiz click reads the locked attempt with its answers in
    one statement, and going back drops the last answer without reading them again (the
    member's lock first on PostgreSQL)."""
    att = await store.quiz.start(user_id=8801)
    await store.quiz.answer(att.id, 8801, 0, True)
    sent = statements(store)

    def kinds() -> list[str]:
        return [sql.split()[0] for sql in sent]

    lock = ["SELECT"] if store.db.is_postgres else []

    clicked = await store.quiz.answer(att.id, 8801, 1, False)
    assert clicked.answers == (True, False)
    assert kinds() == [*lock, "SELECT", "INSERT"]

    sent.clear()
    back = await store.quiz.back(att.id, 8801)
    assert back.answers == (True,)
    assert kinds() == [*lock, "SELECT", "DELETE"]
    assert (await store.quiz.get(att.id)).answers == (True,)

    sent.clear()
    assert (await store.quiz.back(att.id, 8801)).answers == ()
    assert (await store.quiz.back(att.id, 8801)).answers == ()  # nothing left to drop
    assert kinds() == [*lock, "SELECT", "DELETE", *lock, "SELECT"]
