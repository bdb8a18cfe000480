"""The mentors' inbox and answer quality (issue 14: the knowledge loop).

What needs a human — questions the bot could not answer outright (``unanswered``,
``ambiguous``), *Not what I asked* and *Not helpful* presses (with the question they were
about) and answers proposed by mentors (``proposed_answer``) — is one :class:`InboxEntry` per
(server, :func:`normalize_question` key, status) while it is open, with a count. Each member's
part is an :class:`InboxAsk` row (their wording, or the answer they proposed), so it is
exported and deleted with the rest of their data; an entry left with no part after a deletion
goes too (:func:`prune_orphans`). Resolving an entry (taught, off-topic, dismissed, a new
intent, withdrawn) closes it; the same question asked again opens a new entry.

Per-intent counters (:class:`IntentQuality`) count answered asks, helpful / not helpful votes
(one per member: a changed vote moves) and *Not what I asked* presses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    TextClause,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)

from bot.limits import MAX_QUESTION_CHARS
from bot.storage.db import UTCDateTime
from bot.storage.direct import hot
from bot.storage.errors import InvalidInput, StorageError
from bot.storage.models import (
    INBOX_RESOLUTIONS,
    INBOX_STATUSES,
    MAX_INTENT_ID,
    MAX_NAME,
    AdoptRequest,
    InboxAsk,
    InboxEntry,
    IntentQuality,
)
from bot.storage.overlay_data import question_key
from bot.storage.repo._base import (
    LOCKED_MEMBER,
    MEMBER_TYPES,
    Repo,
    check_id,
    check_optional_id,
    check_text_id,
    core,
    row_source,
    shared_sql,
)
from bot.storage.tx import Tx

OPEN = text("resolved_at IS NULL")


class UnknownEntry(StorageError):
    """No inbox entry has that id (or it is already resolved, when an open one is needed)."""


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    guild_id: int | None
    question: str
    status: str
    guess: str | None
    count: int
    answer: str | None
    mentor_name: str | None
    first_at: datetime
    last_at: datetime
    resolution: str | None
    resolved_intent: str | None
    adopt_requested_by: int | None = None  # the first of two mentors (confirmations on)
    adopt_requested_name: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolution is not None

    def to_json(self) -> dict[str, Any]:
        """One line of ``mentorbot kb inbox --json``."""
        return {"id": self.id, "question": self.question, "status": self.status,
                "guess": self.guess, "count": self.count}


def _item(row: InboxEntry, request: tuple[int, str] | None = None) -> InboxItem:
    return InboxItem(row.id, row.scope or None, row.question, row.status, row.guess_intent,
                     row.count, row.answer, row.mentor_name, row.first_at, row.last_at,
                     row.resolution, row.resolved_intent, *(request or (None, None)))


async def _items(s: Tx, rows: Iterable[InboxEntry]) -> list[InboxItem]:
    """Entries with the first mentor's *Make it an intent* where a second must confirm."""
    rows = list(rows)
    asked = {e: (m, n) for e, m, n in await s.execute(
        select(AdoptRequest.entry_id, AdoptRequest.mentor_id, AdoptRequest.mentor_name)
        .where(AdoptRequest.entry_id.in_([r.id for r in rows])))} if rows else {}
    return [_item(r, asked.get(r.id)) for r in rows]


@dataclass(frozen=True, slots=True)
class Quality:
    intent_id: str
    asks: int
    helpful: int
    not_helpful: int
    not_what_i_asked: int

    @property
    def votes(self) -> int:
        return self.helpful + self.not_helpful

    @property
    def helpful_rate(self) -> float | None:
        return self.helpful / self.votes if self.votes else None


def _clean(question: object, what: str = "question") -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(f"{what} text is empty")
    return question.strip()[:MAX_QUESTION_CHARS]


async def bump_quality(s: Tx, repo: Repo, intent_id: str, now: datetime,
                       **deltas: int) -> None:
    """Add ``deltas`` (asks=1, helpful=-1 …) to an intent's counters, creating its row."""
    check_text_id(intent_id, "intent id", MAX_INTENT_ID)
    names = tuple(sorted(deltas))
    params: dict[str, Any] = {"intent_id": intent_id, "now": now}
    for name in names:
        params[f"i_{name}"] = max(deltas[name], 0)
        params[f"d_{name}"] = deltas[name]
    await (await core(s)).execute(_bump_sql(names), params)


_QUALITY_COUNTERS = frozenset({"asks", "helpful", "not_helpful", "not_what_i_asked"})


def quality_upsert(names: tuple[str, ...], after: str | None = None) -> str:
    """SQL adding ``:d_<name>`` to each of an intent's counters ``names``, creating its row
    (``:i_<name>``; ``after``: :func:`row_source`)."""
    unknown = set(names) - _QUALITY_COUNTERS
    if unknown or not names:
        raise InvalidInput(f"unknown quality counters: {sorted(unknown) or 'none'}")
    table = IntentQuality.__tablename__
    row = f":intent_id, :now, {', '.join(f':i_{n}' for n in names)}"
    return (
        f"INSERT INTO {table} (intent_id, updated_at, {', '.join(names)}) "
        f"{row_source(row, after)} "
        "ON CONFLICT (intent_id) DO UPDATE SET updated_at = excluded.updated_at, "
        + ", ".join(f"{n} = {table}.{n} + :d_{n}" for n in names))


@lru_cache(maxsize=16)
def _bump_sql(names: tuple[str, ...]) -> TextClause:
    """The counters' upsert for one set of counters (:func:`shared_sql`: it runs on every
    answered question)."""
    return shared_sql(quality_upsert(names), now=UTCDateTime())


def _entry_upsert(with_answer: bool, after: str | None = None) -> str:
    """SQL adding one ask to the open entry of its group, returning the entry's id (``after``:
    :func:`row_source`)."""
    table = InboxEntry.__tablename__
    answer = (", answer = excluded.answer, mentor_name = excluded.mentor_name"
              if with_answer else "")
    row = ":scope, :key, :question, :status, :guess, 1, :answer, :mentor_name, :now, :now"
    return (
        f"INSERT INTO {table} (scope, \"key\", question, status, guess_intent, count, answer, "
        f"mentor_name, first_at, last_at) {row_source(row, after)} "
        f"ON CONFLICT (scope, \"key\", status) WHERE {OPEN.text} DO UPDATE SET "
        f"count = {table}.count + 1, last_at = excluded.last_at, "
        f"guess_intent = coalesce(excluded.guess_intent, {table}.guess_intent){answer} "
        "RETURNING id")


def _record_sql(with_answer: bool) -> TextClause:
    """The open entry's upsert (:func:`shared_sql`: a dialect ``on_conflict_do_update`` is
    compiled anew on every ask that lands in the inbox)."""
    return shared_sql(_entry_upsert(with_answer), scope=BigInteger(), now=UTCDateTime())


_RECORD = {False: _record_sql(False), True: _record_sql(True)}
#: PostgreSQL: a member's ask put in the inbox as one statement (one round trip instead of six):
#: the member's lock, the member's row if missing, the entry, then the member's part of it;
#: every row is written after the lock is taken (see :func:`quality_upsert`)
_RECORD_IN_ONE = shared_sql(
    f"{LOCKED_MEMBER}, entry AS ({_entry_upsert(False, after='lk')}) "
    f"INSERT INTO {InboxAsk.__tablename__} (entry_id, member_id, text, created_at) "
    "SELECT id, :id, :part, :now FROM entry RETURNING entry_id",
    **MEMBER_TYPES, scope=BigInteger(), part=String())
_ASKED = hot(insert(InboxAsk))


async def record_entry(s: Tx, repo: Repo, *, question: str, status: str,
                       guess: str | None, guild_id: int | None, user_id: int | None,
                       now: datetime, part: str | None = None, answer: str | None = None,
                       mentor_name: str | None = None) -> int:
    """Add one ask (or press, or proposal) to the open entry of its group; returns its id."""
    if user_id is not None:
        await repo.lock_member(s, user_id, now)
    conn = await core(s)
    entry_id = await conn.scalar(_RECORD[answer is not None], {
        "scope": guild_id or 0, "key": question_key(question), "question": question,
        "status": status, "guess": guess, "answer": answer, "mentor_name": mentor_name,
        "now": now})
    assert entry_id is not None
    if user_id is not None:
        await conn.execute(_ASKED, {"entry_id": entry_id, "member_id": user_id,
                                    "text": part or question, "created_at": now})
    return int(entry_id)


async def parts_of(s: Tx, user_id: int,
                   entry_id: int | None = None) -> list[tuple[int, str]]:
    """``(entry id, text)`` of a member's parts (in one entry, or in all)."""
    query = select(InboxAsk.entry_id, InboxAsk.text).where(InboxAsk.member_id == user_id)
    if entry_id is not None:
        query = query.where(InboxAsk.entry_id == entry_id)
    return [(int(e), str(t)) for e, t in await s.execute(query)]


async def prune_orphans(s: Tx, parts: Iterable[tuple[int, str]]) -> int:
    """After a member's ``parts`` went (a deletion or a withdrawal): delete the entries no
    member has a part in any more, and give an entry that showed the member's own wording
    the wording of the earliest part left — their words leave with them."""
    parts = list(parts)
    ids = {entry for entry, _ in parts}
    if not ids:
        return 0
    has_part = exists().where(InboxAsk.entry_id == InboxEntry.id)
    result = await s.execute(delete(InboxEntry).where(InboxEntry.id.in_(ids), ~has_part)
                             .execution_options(synchronize_session=False))
    for entry, text_ in parts:
        earliest = (select(InboxAsk.text).where(InboxAsk.entry_id == entry)
                    .order_by(InboxAsk.created_at, InboxAsk.id).limit(1).scalar_subquery())
        await s.execute(update(InboxEntry)
                        .where(InboxEntry.id == entry, InboxEntry.question == text_)
                        .values(question=earliest)
                        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def entries_of(s: Tx, user_id: int) -> list[dict[str, Any]]:
    """A member's parts in the inbox, for their export (``inbox``)."""
    rows = await s.execute(
        select(InboxAsk.id, InboxAsk.text, InboxAsk.created_at, InboxEntry.id,
               InboxEntry.status, InboxEntry.scope, InboxEntry.resolution)
        .join(InboxEntry, InboxEntry.id == InboxAsk.entry_id)
        .where(InboxAsk.member_id == user_id)
        .order_by(InboxAsk.created_at, InboxAsk.id))
    return [{"text": t, "at": at, "entry": entry, "status": status, "guild_id": scope or None,
             "resolution": resolution}
            for _, t, at, entry, status, scope, resolution in rows]


class InboxRepo(Repo):
    async def record(self, question: str, status: str, guess: str | None = None,
                     guild_id: int | None = None, *, user_id: int | None = None,
                     part: str | None = None) -> int:
        """Put a question in the inbox (grouped with similar open ones); returns the entry id.

        ``status``: unanswered, ambiguous, not_what_i_asked, not_helpful. ``user_id``: who
        asked or pressed (``None``: nobody's). ``part``: that member's own words, when they
        differ from ``question`` (a press on an answer to someone else's question)."""
        clean = _clean(question)
        if status not in INBOX_STATUSES or status == "proposed_answer":
            raise InvalidInput(f"status must be one of {INBOX_STATUSES[:4]}, got {status!r}")
        if guess is not None:
            check_text_id(guess, "intent id", MAX_INTENT_ID)
        check_optional_id(guild_id)
        check_optional_id(user_id, "user id")
        now = self.now()

        part = part[:MAX_QUESTION_CHARS] if part else None

        async def tx(s: Tx) -> int:
            return await record_entry(s, self, question=clean, status=status, guess=guess,
                                      guild_id=guild_id, user_id=user_id, now=now, part=part)

        if user_id is None:
            return await self._db.run(tx)

        async def in_one(s: Tx) -> int:
            return int(await (await core(s)).scalar(_RECORD_IN_ONE, {
                "id": user_id, "sharing": False, "now": now,
                "scope": guild_id or 0, "key": question_key(clean), "question": clean,
                "status": status, "guess": guess, "answer": None, "mentor_name": None,
                "part": part or clean}))

        return await self.run_for_member(user_id, tx, single=in_one)

    async def propose_answer(self, question: str, answer: str, *, mentor_id: int,
                             mentor_name: str, guild_id: int | None = None,
                             guess: str | None = None) -> int:
        """A mentor's answer to a question, for the inbox (``proposed_answer``): a mentor can
        turn it into a new intent (:meth:`bot.storage.repo.overlay.OverlayRepo.adopt`)."""
        clean = _clean(question)
        text_ = _clean(answer, "answer")
        check_id(mentor_id, "mentor id")
        if not isinstance(mentor_name, str) or not mentor_name.strip():
            raise InvalidInput("mentor name is empty")
        check_optional_id(guild_id)
        now = self.now()

        async def tx(s: Tx) -> int:
            return await record_entry(
                s, self, question=clean, status="proposed_answer", guess=guess,
                guild_id=guild_id, user_id=mentor_id, now=now, part=text_, answer=text_,
                mentor_name=mentor_name.strip()[:MAX_NAME])

        return await self._db.run(tx)

    async def entries(self, guild_id: int | None = None, *, include_resolved: bool = False,
                   limit: int = 200, all_guilds: bool = False) -> list[InboxItem]:
        """Entries, most asked first then most recent. ``guild_id``: that server's (and with
        ``all_guilds``, every server's and the console's)."""
        check_optional_id(guild_id)

        async def tx(s: Tx) -> list[InboxItem]:
            stmt = select(InboxEntry)
            if not all_guilds:
                stmt = stmt.where(InboxEntry.scope == (guild_id or 0))
            if not include_resolved:
                stmt = stmt.where(InboxEntry.resolved_at.is_(None))
            stmt = stmt.order_by(InboxEntry.resolved_at.is_not(None), InboxEntry.count.desc(),
                                 InboxEntry.last_at.desc(), InboxEntry.id).limit(limit)
            return await _items(s, await s.scalars(stmt))

        return await self._db.run(tx, readonly=True)

    async def get(self, entry_id: int) -> InboxItem | None:
        check_id(entry_id, "inbox id")

        async def tx(s: Tx) -> InboxItem | None:
            row = await s.get(InboxEntry, entry_id)
            return None if row is None else (await _items(s, [row]))[0]

        return await self._db.run(tx, readonly=True)

    async def find(self, question: str) -> list[InboxItem]:
        """The open entries of this question's group (any server, any status)."""
        key = question_key(_clean(question))

        async def tx(s: Tx) -> list[InboxItem]:
            rows = await s.scalars(select(InboxEntry).where(InboxEntry.key == key, OPEN)
                                   .order_by(InboxEntry.id))
            return [_item(r) for r in rows]

        return await self._db.run(tx, readonly=True)

    async def dismiss(self, entry_id: int) -> InboxItem:
        """Close an open entry without teaching anything."""
        return await self._db.run(lambda s: resolve_entry(s, entry_id, "dismissed",
                                                          None, self.now()))

    async def withdraw(self, entry_id: int, user_id: int) -> bool:
        """A member takes back their question: their parts go, the count drops; an entry
        nobody else has a part in goes too. False when they had no part in it."""
        check_id(entry_id, "inbox id")
        check_id(user_id)

        async def tx(s: Tx) -> bool:
            await self.lock_member(s, user_id, create=False)
            parts = await parts_of(s, user_id, entry_id)
            result = await s.execute(delete(InboxAsk).where(
                InboxAsk.entry_id == entry_id, InboxAsk.member_id == user_id))
            removed = int(result.rowcount)  # type: ignore[attr-defined]
            if not removed:
                return False
            await s.execute(update(InboxEntry).where(InboxEntry.id == entry_id).values(
                count=case((InboxEntry.count > removed, InboxEntry.count - removed), else_=0)))
            await prune_orphans(s, parts)
            return True

        return await self._db.run(tx)

    async def request_adopt(self, entry_id: int, mentor_id: int, mentor_name: str) -> bool:
        """The first mentor's *Make it an intent* where a second must confirm: recorded unless
        another mentor pressed first (compare-and-set); True when this press is the first."""
        check_id(entry_id, "inbox id")
        check_id(mentor_id, "mentor id")

        now = self.now()

        async def tx(s: Tx) -> bool:
            row = await s.get(InboxEntry, entry_id)
            if row is None or row.resolved_at is not None:
                raise UnknownEntry(f"no open inbox entry {entry_id}")
            won = await s.scalar(
                self.insert(AdoptRequest)
                .values(entry_id=entry_id, mentor_id=mentor_id,
                        mentor_name=(mentor_name or "a mentor")[:MAX_NAME], requested_at=now)
                .on_conflict_do_nothing(index_elements=[AdoptRequest.entry_id])
                .returning(AdoptRequest.entry_id))
            return won is not None

        return await self._db.run(tx)

    async def open_counts(self) -> dict[str, int]:
        """Open entries by status (every server)."""

        async def tx(s: Tx) -> dict[str, int]:
            rows = await s.execute(select(InboxEntry.status, func.count())
                                   .where(OPEN).group_by(InboxEntry.status))
            return {status: int(n) for status, n in rows}

        return await self._db.run(tx, readonly=True)

    # --- answer quality ---------------------------------------------------------------------

    async def not_what_i_asked(self, intent_id: str, question: str | None, *,
                               user_id: int | None, guild_id: int | None = None,
                               alternatives: Iterable[str] = ()) -> int | None:
        """A *Not what I asked* press on the answer ``intent_id``: counted, and with the
        question it answered, put in the inbox. Returns the entry id (None: no question)."""
        check_text_id(intent_id, "intent id", MAX_INTENT_ID)
        check_optional_id(user_id, "user id")
        check_optional_id(guild_id)
        now = self.now()

        async def tx(s: Tx) -> int | None:
            await bump_quality(s, self, intent_id, now, not_what_i_asked=1)
            if not question or not question.strip():
                return None
            return await record_entry(s, self, question=_clean(question),
                                      status="not_what_i_asked", guess=intent_id,
                                      guild_id=guild_id, user_id=user_id, now=now)

        return await self._db.run(tx)

    async def quality(self) -> list[Quality]:
        async def tx(s: Tx) -> list[Quality]:
            rows = await s.scalars(select(IntentQuality).order_by(IntentQuality.intent_id))
            return [Quality(r.intent_id, r.asks, r.helpful, r.not_helpful, r.not_what_i_asked)
                    for r in rows]

        return await self._db.run(tx, readonly=True)

    async def weakest(self, limit: int = 5, min_count: int = 3) -> list[Quality]:
        """The intents answering worst: lowest helpful rate, then most *Not what I asked*,
        among those with at least ``min_count`` votes or presses."""
        rows = [q for q in await self.quality()
                if q.votes + q.not_what_i_asked >= min_count]
        rows.sort(key=lambda q: (q.helpful_rate if q.helpful_rate is not None else 1.0,
                                 -q.not_what_i_asked, -q.not_helpful, q.intent_id))
        return rows[:limit]


async def resolve_entry(s: Tx, entry_id: int, resolution: str,
                        intent_id: str | None, now: datetime) -> InboxItem:
    """Close an open entry; :class:`UnknownEntry` when there is none with that id."""
    check_id(entry_id, "inbox id")
    if resolution not in INBOX_RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {INBOX_RESOLUTIONS}")
    row = await s.get(InboxEntry, entry_id, with_for_update=True)
    if row is None:
        raise UnknownEntry(f"no inbox entry {entry_id}")
    if row.resolved_at is not None:
        raise UnknownEntry(f"inbox entry {entry_id} is already resolved ({row.resolution})")
    row.resolved_at, row.resolution, row.resolved_intent = now, resolution, intent_id
    await s.flush()
    return _item(row)
