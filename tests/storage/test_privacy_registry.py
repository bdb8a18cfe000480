"""Privacy as a contract: every table keyed by member is exported and deleted.

A table is *keyed by member* when it has a ``member_id``/``user_id`` column, a foreign key to
``member``, or a foreign key to another table keyed by member (its rows go with the member's
through ``ON DELETE CASCADE`` — they still need their export). Every such table must be listed
in :data:`PERSONAL_DATA`, and for each listed table a member's rows must show up in their export
and be gone after their deletion, while another member's rows stay.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, MetaData, Table, func, select

from bot.storage import Store
from bot.storage.models import Base
from bot.storage.repo.privacy import PERSONAL_DATA
from tests.storage.test_privacy_and_stats import G1, _populate

ALICE = 5001
BOB = 5002
_MEMBER_COLUMNS = {"member_id", "user_id"}


def member_keyed_tables(metadata: MetaData, root: str = "member") -> set[str]:
    """Tables holding a member's rows: ``root``, tables with a member/user id column, and
    (transitively) tables with a foreign key to one of those."""
    keyed = {root}
    for table in metadata.tables.values():
        if any(c.name in _MEMBER_COLUMNS for c in table.columns):
            keyed.add(table.name)
    changed = True
    while changed:
        changed = False
        for table in metadata.tables.values():
            if table.name in keyed:
                continue
            if any(fk.column.table.name in keyed for fk in table.foreign_keys):
                keyed.add(table.name)
                changed = True
    return keyed


def test_discovery_finds_direct_and_cascade_only_tables() -> None:
    """The check itself can fail: a grandchild reached only through cascades is found."""
    md = MetaData()
    Table("member", md, Column("id", BigInteger, primary_key=True))
    Table("unrelated", md, Column("id", Integer, primary_key=True))
    Table("note", md, Column("id", Integer, primary_key=True), Column("user_id", BigInteger))
    Table(
        "parent",
        md,
        Column("id", Integer, primary_key=True),
        Column("owner", BigInteger, ForeignKey("member.id", ondelete="CASCADE")),
    )
    Table(
        "child",
        md,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey("parent.id", ondelete="CASCADE")),
    )
    assert member_keyed_tables(md) == {"member", "note", "parent", "child"}


def test_every_table_keyed_by_member_is_registered() -> None:
    registered = [entry.table.name for entry in PERSONAL_DATA]
    assert len(registered) == len(set(registered)), "a table is registered twice"
    missing = member_keyed_tables(Base.metadata) - set(registered)
    assert not missing, f"tables keyed by member missing from PERSONAL_DATA: {sorted(missing)}"
    assert registered[-1] == "member", "the member row is deleted last"
    for entry in PERSONAL_DATA:
        assert entry.table is Base.metadata.tables[entry.table.name]


def _at(data: Any, path: str) -> list[Any]:
    """The values at a dotted export path, walking lists element by element."""
    values = [data]
    for key in path.split("."):
        nxt: list[Any] = []
        for v in values:
            for item in v if isinstance(v, list) else [v]:
                nxt.append(item[key])
        values = nxt
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        elif v is not None:
            out.append(v)
    return out


async def _counts(store: Store, user_id: int) -> dict[str, int]:
    out = {}
    async with store.db.session() as s:
        for entry in PERSONAL_DATA:
            n = await s.scalar(
                select(func.count()).select_from(entry.table).where(entry.rows(user_id))
            )
            out[entry.table.name] = int(n or 0)
    return out


async def test_every_registered_table_is_exported_and_deleted(store: Store) -> None:
    for user in (ALICE, BOB):
        await _populate(store, user, G1)
        await store.questions.log(f"how do I deploy, asks {user}", "unanswered", None, 0.1,
                                  G1, user_id=user)
    await store.questions.log("anonymous question", "unanswered", None, 0.0, G1)
    alice, bob = await _counts(store, ALICE), await _counts(store, BOB)
    empty = [name for name, n in alice.items() if n == 0]
    assert not empty, f"extend _populate so the member has rows in {empty}"

    data = await store.privacy.export(ALICE)
    for entry in PERSONAL_DATA:
        exported = _at(data, entry.export_path)
        assert exported, f"{entry.table.name}: nothing at {entry.export_path!r} in the export"
        if entry.table.name != "member":
            assert len(exported) == alice[entry.table.name], entry.table.name
    assert [q["text"] for q in data["questions"]] == [f"how do I deploy, asks {ALICE}"]

    deleted = await store.privacy.delete(ALICE)
    assert deleted == sum(alice.values())
    assert set((await _counts(store, ALICE)).values()) == {0}
    assert await _counts(store, BOB) == bob
    async with store.db.session() as s:  # the anonymous question stays (it is nobody's)
        texts = list(await s.scalars(select(Base.metadata.tables["question_log"].c.text)))
    assert sorted(texts) == ["anonymous question", f"how do I deploy, asks {BOB}"]


async def test_questions_logged_after_the_member_was_seen_create_no_orphans(
    store: Store,
) -> None:
    """Logging with a user id creates the member row if needed (the foreign key holds)."""
    await store.questions.log("first contact", "unanswered", None, 0.0, user_id=ALICE)
    assert (await store.members.get(ALICE)) is not None
    assert [q["text"] for q in (await store.privacy.export(ALICE))["questions"]] == [
        "first contact"
    ]
    assert await store.privacy.delete(ALICE) == 2  # the question and the member row
