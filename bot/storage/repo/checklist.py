"""Checklist progress: mark / unmark items (with evidence), activity, progress summaries.

Items are addressed by the knowledge base's item ids. Stored progress for an id that left the
knowledge base is kept (history) but no longer counts: :meth:`ChecklistRepo.summary` only
counts the ids it is given, and :meth:`ChecklistRepo.orphaned_item_ids` lets ``kb check`` warn
before a rename orphans stored progress.

Concurrency: a mark/unmark first takes the member's lock (:meth:`Repo.lock_member`: an advisory
lock on PostgreSQL, the ``BEGIN IMMEDIATE`` write lock on SQLite), then reads the ``(member,
item)`` row, creates it if new, and writes the change and its ``checklist_event`` under that
lock. Concurrent calls therefore serialise per member: no duplicate rows, no lost update, and
events record exactly the real transitions.

The per-server copy of the done items (``guild_checklist``, read by /stats; see
:class:`bot.storage.models.GuildChecklist` and migration 0011) is kept here, in the transaction
of the change and under the same lock: an item marked done is copied into every server the
member was seen in, an item undone leaves them (:data:`DONE_IN_GUILDS`,
:data:`UNDONE_IN_GUILDS`: one statement each, only on a real transition); a member first seen
in a server brings their done items into it (:data:`COPY_INTO_GUILD`, run by
``MembersRepo.touch``); a membership's rows go with it (foreign key, ``ON DELETE CASCADE``).
:func:`guild_checklist_derived` is what the copy must equal (tests and the benchmark's seed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import BigInteger, Select, String, bindparam, func, insert, select, true, update

from bot.storage.db import UTCDateTime
from bot.storage.direct import hot
from bot.storage.errors import InvalidInput
from bot.storage.models import (
    MAX_ITEM_ID,
    MAX_URL,
    ChecklistProgress,
    GuildChecklist,
    GuildMembership,
)
from bot.storage.models import ChecklistEvent as EventRow
from bot.storage.records import ChecklistEvent, ItemState, Progress, ProgressSummary
from bot.storage.repo._base import (
    Repo,
    check_aware,
    check_id,
    check_text_id,
    core,
    load_member,
    member_must_exist,
    shared_sql,
)
from bot.storage.tx import Tx

_COPY = f"INSERT INTO {GuildChecklist.__tablename__} (member_id, item_id, guild_id, done_at) "
_KEY = " ON CONFLICT (member_id, item_id, guild_id) DO "
#: an item marked done (``:now``) lands in every server the member was seen in
DONE_IN_GUILDS = shared_sql(
    _COPY + "SELECT member_id, :item_id, guild_id, :now "
    f"FROM {GuildMembership.__tablename__} WHERE member_id = :id"
    + _KEY + "UPDATE SET done_at = excluded.done_at",
    id=BigInteger(), item_id=String(), now=UTCDateTime())
#: an item undone leaves every server
UNDONE_IN_GUILDS = shared_sql(
    f"DELETE FROM {GuildChecklist.__tablename__} WHERE member_id = :id AND item_id = :item_id",
    id=BigInteger(), item_id=String())
#: a member first seen in ``:guild_id`` brings the items they have done (in DMs, elsewhere)
COPY_INTO_GUILD = shared_sql(
    _COPY + "SELECT member_id, item_id, :guild_id, done_at "
    f"FROM {ChecklistProgress.__tablename__} WHERE member_id = :id AND done"
    + _KEY + "NOTHING",
    id=BigInteger(), guild_id=BigInteger())


class _Prev(NamedTuple):
    """An item's stored state: its columns, in this order, in every statement below."""

    done: bool
    done_at: datetime | None
    undone_at: datetime | None
    updated_at: datetime
    evidence_url: str | None


# The statements of /checklist and /progress, built once (see repo._base.core)
_cp = ChecklistProgress
_STATE = tuple(getattr(_cp, name) for name in _Prev._fields)
_ITEM = hot(select(*_STATE).where(
    _cp.member_id == bindparam("id"), _cp.item_id == bindparam("item_id")))
_STATES = hot(select(_cp.item_id, *_STATE)
              .where(_cp.member_id == bindparam("id")).order_by(_cp.item_id))
_NEW_ITEM = hot(insert(_cp))
#: an existing item's new state: every column from the final state (one statement, compiled
#: once, whatever changed)
_SET_ITEM = hot(update(_cp).where(
    _cp.member_id == bindparam("id"), _cp.item_id == bindparam("item")).values(
    {name: bindparam(f"new_{name}") for name in _Prev._fields}))
_NEW_EVENT = hot(insert(EventRow))
_DONE_IDS = hot(select(_cp.item_id).where(_cp.member_id == bindparam("id"),
                                          _cp.done.is_(True)))
_EVENTS = (select(EventRow.item_id, EventRow.action, EventRow.at)
           .where(EventRow.member_id == bindparam("id"))
           .order_by(EventRow.at.desc(), EventRow.id.desc()))
#: the summary's recent activity (events_for with items and a limit)
_RECENT = (_EVENTS.where(EventRow.item_id.in_(bindparam("item_ids", expanding=True)))
           .limit(bindparam("limit")))


def guild_checklist_derived() -> Select[tuple[int, str, int, datetime | None]]:
    """The rows ``guild_checklist`` must hold: each done item of each member, once per server
    the member was seen in (columns in its order: member, item, server, done_at)."""
    cp, gm = ChecklistProgress, GuildMembership
    return (select(cp.member_id, cp.item_id, gm.guild_id, cp.done_at)
            .join_from(cp, gm, gm.member_id == cp.member_id)
            .where(cp.done == true()))


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


def validate_evidence_url(url: object) -> str:
    """Return the cleaned URL or raise :class:`InvalidInput`.

    Accepted: absolute ``http``/``https`` URLs of at most 500 characters with a real host name
    (or IP address), no embedded credentials and no whitespace/control characters.
    """
    if not isinstance(url, str):
        raise InvalidInput("evidence must be a link (http:// or https://)")
    url = url.strip()
    if not url:
        raise InvalidInput("evidence link is empty")
    if len(url) > MAX_URL:
        raise InvalidInput(f"evidence link is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("evidence link must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInput(f"evidence link is not a valid URL: {exc}") from None
    del port
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("evidence link must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("evidence link must not contain a user name or password")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("evidence link has no host name")
    if ":" in host:  # IPv6 literal (urlsplit already checked the brackets)
        return url
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidInput(f"evidence link has an invalid host name {host!r}")
    return url


def _state(row: Any) -> ItemState:
    """A stored item (a row of :data:`_STATES` or a ``ChecklistProgress``) as a record."""
    return ItemState(
        item_id=row.item_id,
        done=row.done,
        done_at=row.done_at,
        undone_at=row.undone_at,
        updated_at=row.updated_at,
        evidence_url=row.evidence_url,
    )


async def states_for(s: Tx, user_id: int) -> dict[str, ItemState]:
    rows = await (await core(s)).execute(_STATES, {"id": user_id})
    return {r.item_id: _state(r) for r in rows}


async def events_for(
    s: Tx,
    user_id: int,
    limit: int | None = None,
    item_ids: Iterable[str] | None = None,
) -> list[ChecklistEvent]:
    params: dict[str, Any] = {"id": user_id}
    if item_ids is not None and limit is not None:  # the summary's, on every /progress
        stmt = _RECENT
        params.update(item_ids=list(item_ids), limit=limit)
    else:
        stmt = _EVENTS
        if item_ids is not None:
            stmt = stmt.where(EventRow.item_id.in_(list(item_ids)))
        if limit is not None:
            stmt = stmt.limit(limit)
    rows = await (await core(s)).execute(stmt, params)
    return [ChecklistEvent(item_id=i, action=a, at=at) for i, a, at in rows]


class ChecklistRepo(Repo):
    async def mark(self, user_id: int, item_id: str, evidence_url: str | None = None) -> ItemState:
        """Mark ``item_id`` done (optionally with an evidence link; a new link replaces the old)."""
        check_id(user_id)
        check_text_id(item_id, "item id", MAX_ITEM_ID)
        url = None if evidence_url is None else validate_evidence_url(evidence_url)
        return await self._set(user_id, item_id, True, url)

    async def unmark(self, user_id: int, item_id: str) -> ItemState:
        """Mark ``item_id`` not done (its evidence link is cleared)."""
        check_id(user_id)
        check_text_id(item_id, "item id", MAX_ITEM_ID)
        return await self._set(user_id, item_id, False, None)

    async def _set(self, user_id: int, item_id: str, done: bool, url: str | None) -> ItemState:
        async def tx(s: Tx) -> ItemState:
            await self.lock_member(s, user_id, create=False)  # a missing member: the FK below
            # Dialect upserts are never in SQLAlchemy's statement cache (compiled every call);
            # under the member's lock a plain read, then an insert if new, is just as safe.
            conn = await core(s)
            row = (await conn.execute(_ITEM, {"id": user_id, "item_id": item_id})).one_or_none()
            new = row is None
            now = self.now()  # taken under the lock: event times follow the serial order
            prev = _Prev(False, None, None, now, None) if row is None else _Prev(*row)
            state: dict[str, Any] = prev._asdict()
            changes: dict[str, object] = {}
            changed = prev.done != done
            if done:
                if changed:
                    changes.update(done=True, done_at=now)
                if url is not None and url != prev.evidence_url:
                    changes["evidence_url"] = url
            elif changed:
                changes.update(done=False, undone_at=now, evidence_url=None)
            if changes or new:
                changes["updated_at"] = now
                state.update(changes)
            if new:  # one INSERT with the final values (no insert-then-update)
                with member_must_exist(user_id):
                    await conn.execute(_NEW_ITEM,
                                       {"member_id": user_id, "item_id": item_id, **state})
            elif changes:
                await conn.execute(_SET_ITEM, {"id": user_id, "item": item_id,
                                               **{f"new_{k}": v for k, v in state.items()}})
            if changed:
                await conn.execute(_NEW_EVENT, {
                    "member_id": user_id, "item_id": item_id,
                    "action": "done" if done else "undone", "at": now})
                # the servers' copies (models.GuildChecklist)
                await conn.execute(DONE_IN_GUILDS if done else UNDONE_IN_GUILDS,
                                   {"id": user_id, "item_id": item_id, "now": now})
            return ItemState(item_id=item_id, **state)

        return await self.run_for_member(user_id, tx)

    async def states(self, user_id: int) -> dict[str, ItemState]:
        """Every stored item state of the member (including items no longer in the KB)."""
        check_id(user_id)
        return await self._db.run(lambda s: states_for(s, user_id), readonly=True)

    async def done_since(self, user_id: int, since: datetime) -> list[str]:
        """Items currently done that were (last) marked done at or after ``since``."""
        check_id(user_id)
        check_aware(since, "since")

        async def tx(s: Tx) -> list[str]:
            rows = await s.scalars(
                select(ChecklistProgress.item_id)
                .where(
                    ChecklistProgress.member_id == user_id,
                    ChecklistProgress.done.is_(True),
                    ChecklistProgress.done_at >= since,
                )
                .order_by(ChecklistProgress.done_at, ChecklistProgress.item_id)
            )
            return list(rows)

        return await self._db.run(tx, readonly=True)

    async def summary(
        self,
        user_id: int,
        items_by_phase: Mapping[int, Sequence[str]],
        recent_limit: int = 5,
    ) -> ProgressSummary:
        """Per phase and overall ``(done, total)`` over the given item ids, plus recent activity,
        the member's record and the ids of every item they have done (one transaction).

        Only ids present in ``items_by_phase`` count (an id listed in two phases counts in
        each phase but once overall); events of unknown ids are left out of ``recent``.
        """
        check_id(user_id)
        valid = {i for ids in items_by_phase.values() for i in ids}

        async def tx(s: Tx) -> ProgressSummary:
            conn = await core(s)
            member = await load_member(s, user_id)
            done_ids = set(await conn.scalars(_DONE_IDS, {"id": user_id}))
            recent = await events_for(s, user_id, recent_limit, sorted(valid)) if valid else []
            per_phase = {
                p: Progress(done=len(set(ids) & done_ids), total=len(set(ids)))
                for p, ids in sorted(items_by_phase.items())
            }
            overall = Progress(done=len(valid & done_ids), total=len(valid))
            return ProgressSummary(
                user_id=user_id,
                member=member,
                done_ids=frozenset(done_ids),
                per_phase=per_phase,
                overall=overall,
                recent=tuple(recent),
            )

        return await self._db.run(tx, readonly=True)

    async def orphaned_item_ids(self, valid_ids: Iterable[str]) -> dict[str, int]:
        """Stored item ids missing from ``valid_ids`` -> how many members have them done.

        For ``mentorbot kb check``: renaming an item id would orphan that progress.
        """
        valid = set(valid_ids)

        async def tx(s: Tx) -> dict[str, int]:
            rows = await s.execute(
                select(ChecklistProgress.item_id, func.count())
                .where(ChecklistProgress.done.is_(True))
                .group_by(ChecklistProgress.item_id)
                .order_by(ChecklistProgress.item_id)
            )
            return {item: n for item, n in rows if item not in valid}

        return await self._db.run(tx, readonly=True)
