from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, make_url

from bot.limits import MAX_QUESTION_CHARS
from bot.storage import InvalidInput, Store
from bot.storage.repo import _base as base_module
from bot.storage.repo.questions import normalize_question
from tests.storage.observe import server_commands, statements, transactions

if TYPE_CHECKING:
    from tests.conftest import FakeClock

G1 = 31
G2 = 32


async def test_log_returns_ids_and_truncates(store: Store) -> None:
    a = await store.questions.log("How do I deploy a model?", "unanswered", None, 0.1, G1)
    b = await store.questions.log("x" * 2500, "answered", "deploy-basics", 0.93)
    c = await store.questions.log("y" * MAX_QUESTION_CHARS, "answered", "deploy-basics", 0.93)
    assert isinstance(a, int) and isinstance(b, int) and b > a
    top = await store.questions.top_unanswered(outcomes=("answered",))
    # the one question-length limit: a question the matcher read in full is stored in full
    assert sorted(top) == [("x" * MAX_QUESTION_CHARS, 1), ("y" * MAX_QUESTION_CHARS, 1)]
    assert c > b


async def test_question_log_records_who_asked_for_export_and_delete(store: Store) -> None:
    """Issue 11 point 7: the asking member is stored (NULL when anonymous), keyed to the member
    with ON DELETE CASCADE, so their questions leave with them."""
    async with store.db.engine.connect() as conn:
        cols, fks = await conn.run_sync(
            lambda c: (
                {col["name"] for col in inspect(c).get_columns("question_log")},
                inspect(c).get_foreign_keys("question_log"),
            )
        )
    assert cols == {
        "id",
        "member_id",
        "text",
        "normalized",
        "outcome",
        "intent_id",
        "score",
        "guild_id",
        "created_at",
    }
    assert [(fk["constrained_columns"], fk["referred_table"]) for fk in fks] == [
        (["member_id"], "member")
    ]


async def test_a_question_from_a_member_not_yet_stored_creates_the_member(store: Store) -> None:
    """A first question from someone unknown stores them, once, with the question theirs, in
    one transaction; later ones do not insert the member first (one statement fewer on every
    /ask)."""
    assert await store.members.get(7001) is None
    first = await store.questions.log("how long until senior?", "answered", "faq.levels", 30.0,
                                      G1, user_id=7001, count_ask=True)
    again = await store.questions.log("and staff?", "answered", "faq.levels", 30.0, G1,
                                      user_id=7001, count_ask=True)
    member = await store.members.get(7001)
    assert member is not None and member.user_id == 7001
    assert (await store.questions.logged(first)).member_id == 7001
    assert (await store.questions.logged(again)).member_id == 7001


async def test_member_rows_stay_right_when_the_stored_hint_is_stale(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Database.stored_members`` is only a hint: a member deleted behind this process's back
    (another process's /privacy delete) is created again by their next question, and the
    hint stays bounded."""
    begun = transactions(store)
    sent = statements(store)
    await store.questions.log("first?", "answered", "faq.levels", 30.0, G1, user_id=7101)
    assert begun[0] == 1  # not a failed insert, a creation and a retry
    # the member's lock (PostgreSQL) once, though both the creation and the write ask for it
    assert sum("pg_advisory_xact_lock" in sql for sql in sent) == (
        1 if store.db.is_postgres else 0)
    assert 7101 in store.db.stored_members

    other = Store.open(db_url)  # another process's store on the same database
    try:
        assert await other.privacy.delete(7101) > 0
    finally:
        await other.close()
    assert await store.members.get(7101) is None and 7101 in store.db.stored_members

    log_id = await store.questions.log("back again?", "answered", "faq.levels", 30.0, G1,
                                       user_id=7101)
    assert (await store.questions.logged(log_id)).member_id == 7101
    assert await store.members.get(7101) is not None

    monkeypatch.setattr(base_module, "STORED_MEMBERS_HINT", 3)
    for user_id in range(7200, 7206):
        await store.questions.log("hi?", "unanswered", None, 0.0, G1, user_id=user_id)
    assert list(store.db.stored_members) == [7203, 7204, 7205]
    await store.privacy.delete(7205)
    assert 7205 not in store.db.stored_members


async def test_a_members_question_is_one_round_trip_on_postgresql(store: Store) -> None:
    """Issue 11, CPU per interaction: a member's question, with its intent's asks counted, is
    one statement on PostgreSQL (the member's lock, the member's row if new, the log row and
    the counter; no BEGIN or COMMIT): one round trip instead of five or six. On SQLite, one
    transaction."""
    await store.questions.log("warm-up", "answered", "faq.levels", 30.0, G1, user_id=7300,
                              count_ask=True)
    before = {q.intent_id: q.asks for q in await store.inbox.quality()}["faq.levels"]
    begun = transactions(store)
    sent = statements(store)
    commands = server_commands(store) if store.db.is_postgres else []

    assert await store.members.get(7301) is None
    sent.clear()
    await store.questions.log("first?", "answered", "faq.levels", 30.0, G1, user_id=7301,
                              count_ask=True)  # a new member
    answered = await store.questions.log("how long to senior?", "answered", "faq.levels",
                                         31.0, G1, user_id=7301, count_ask=True)
    unanswered = await store.questions.log("feast or tecton?", "unanswered", None, 0.2, G2,
                                           user_id=7301)

    if store.db.is_postgres:
        assert len(sent) == 3 and all(
            sql.startswith("WITH lk AS (SELECT pg_advisory_xact_lock(") for sql in sent)
        assert ["intent_quality" in sql for sql in sent] == [True, True, False]
        assert commands == []  # no BEGIN, no COMMIT
    else:
        assert begun[0] == 1 + 3  # the read of the member above, then one per question
    assert (await store.members.get(7301)) is not None
    assert await store.questions.logged(answered) == ("how long to senior?", "faq.levels", 7301)
    assert await store.questions.logged(unanswered) == ("feast or tecton?", None, 7301)
    assert {q.intent_id: q.asks for q in await store.inbox.quality()}["faq.levels"] == before + 2
    exported = await store.privacy.export(7301)
    assert sorted(q["text"] for q in exported["questions"]) == [
        "feast or tecton?", "first?", "how long to senior?"]


@pytest.mark.backends("postgres")
async def test_a_logged_question_waits_for_the_members_lock(store: Store, db_url: str) -> None:
    """The one statements keep the one lock order: while another transaction holds the
    member's lock (a /privacy delete takes it first), the question and its inbox entry wait,
    then are stored."""
    import asyncpg  # the member's lock is PostgreSQL's (SQLite serialises every write)

    await store.questions.log("first?", "answered", "faq.levels", 30.0, G1, user_id=7401)
    dsn = make_url(db_url).set(drivername="postgresql").difference_update_query(
        ["search_path"]).render_as_string(hide_password=False)
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", 7401)
            logging = asyncio.create_task(store.questions.log(
                "and staff?", "answered", "faq.levels", 30.0, G1, user_id=7401,
                count_ask=True))
            inbox = asyncio.create_task(store.inbox.record(  # its one statement too
                "feast or tecton?", "unanswered", None, G1, user_id=7401))
            await asyncio.sleep(0.3)
            assert not logging.done() and not inbox.done()
        log_id = await asyncio.wait_for(logging, 5)
        entry_id = await asyncio.wait_for(inbox, 5)
    finally:
        await holder.close()
    assert (await store.questions.logged(log_id)).member_id == 7401
    assert (await store.inbox.get(entry_id)) is not None


async def test_log_validation(store: Store) -> None:
    bad: list[tuple[str, str, object]] = [
        ("", "unanswered", 0.0),
        ("   ", "unanswered", 0.0),
        ("ok?", "maybe", 0.0),
        ("ok?", "answered", math.nan),
        ("ok?", "answered", "high"),
    ]
    for text, outcome, score in bad:
        with pytest.raises(InvalidInput):
            await store.questions.log(text, outcome, None, score)  # type: ignore[arg-type]
    assert await store.questions.top_unanswered(outcomes=("answered", "unanswered")) == []


async def test_top_unanswered_groups_filters_and_limits(store: Store, clock: FakeClock) -> None:
    for text in ["How do I deploy?", "how do i   deploy", "HOW DO I DEPLOY!!"]:
        await store.questions.log(text, "unanswered", None, 0.05, G1)
    await store.questions.log("what is drift", "ambiguous", "drift", 0.4, G1)
    await store.questions.log("What is drift?", "ambiguous", "drift", 0.4, G1)
    await store.questions.log("kubeflow vs airflow", "unanswered", None, 0.1, G2)
    await store.questions.log("How do I deploy", "answered", "deploy", 0.9, G1)  # answered

    assert await store.questions.top_unanswered(G1) == [
        ("how do i deploy", 3),
        ("what is drift", 2),
    ]
    assert await store.questions.top_unanswered(G1, outcomes=("unanswered",)) == [
        ("how do i deploy", 3)
    ]
    assert await store.questions.top_unanswered(G2) == [("kubeflow vs airflow", 1)]
    assert await store.questions.top_unanswered() == [
        ("how do i deploy", 3),
        ("what is drift", 2),
        ("kubeflow vs airflow", 1),
    ]
    assert await store.questions.top_unanswered(limit=1) == [("how do i deploy", 3)]

    clock.advance(days=10)
    await store.questions.log("what is drift", "ambiguous", None, 0.3, G1)
    assert await store.questions.top_unanswered(G1, since_days=5) == [("what is drift", 1)]
    with pytest.raises(InvalidInput):
        await store.questions.top_unanswered(outcomes=("bogus",))


async def test_purge_removes_only_old_questions(store: Store, clock: FakeClock) -> None:
    await store.questions.log("old one", "unanswered", None, 0.0)
    await store.questions.log("old two", "ambiguous", None, 0.0)
    clock.advance(days=91)
    await store.questions.log("fresh", "unanswered", None, 0.0)
    assert await store.questions.purge(90) == 2
    assert await store.questions.top_unanswered() == [("fresh", 1)]
    assert await store.questions.purge(90) == 0
    clock.advance(seconds=1)
    assert await store.questions.purge(0) == 1
    with pytest.raises(InvalidInput):
        await store.questions.purge(-1)


async def test_feedback_revote_updates(store: Store) -> None:
    await store.questions.feedback(11, "deploy", True, G1)
    await store.questions.feedback(12, "deploy", True)
    await store.questions.feedback(11, "deploy", False, G1)  # changes their vote
    await store.questions.feedback(11, "drift", True)
    assert await store.questions.feedback_counts() == {"deploy": (1, 1), "drift": (1, 0)}
    assert await store.questions.feedback_counts("deploy") == {"deploy": (1, 1)}
    exported = await store.privacy.export(11)
    assert [(f["intent_id"], f["helpful"], f["guild_id"]) for f in exported["feedback"]] == [
        ("deploy", False, G1),
        ("drift", True, None),
    ]
    with pytest.raises(InvalidInput):
        await store.questions.feedback(11, "", True)


def test_normalize_question_examples() -> None:
    assert normalize_question("  How   do I\tdeploy?! ") == "how do i deploy"
    assert normalize_question("ＭＬＯｐｓ？") == "mlops"  # full-width folded (NFKC)
    assert normalize_question("???") == "???"  # never empty


@given(
    st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
    st.sampled_from(["", "?", "!", " ?", "...", "  "]),
)
def test_normalize_ignores_case_spacing_and_trailing_punctuation(word: str, tail: str) -> None:
    base = normalize_question(f"why {word}")
    assert normalize_question(f"  WHY   {word.upper()}{tail}") == base
