"""The overlay: what mentors taught, served at once by every process (issue 14).

* :class:`OverlayPhrase` — a phrasing (grouped by :func:`~bot.storage.repo.inbox.question_key`)
  taught as a way of asking an intent, or as off-topic (``intent_id`` NULL);
* :class:`OverlayIntent` — a new intent made from a mentor's answer (``community.<slug>``).

Every change writes a new random token to the ``overlay_version`` row of ``bot_state`` in the
same transaction, so a process notices a change by reading one small row
(:meth:`OverlayRepo.version`) and reloads the overlay (:meth:`OverlayRepo.snapshot`) only then.
Rows are never deleted by a change: :meth:`OverlayRepo.retire` marks them retired once they
are merged into ``knowledge/`` (``mentorbot kb apply-overlay``).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update

from bot.limits import MAX_QUESTION_CHARS
from bot.storage.errors import InvalidInput
from bot.storage.models import (
    MAX_INTENT_ID,
    MAX_NAME,
    MAX_TITLE,
    BotState,
    InboxEntry,
    OverlayIntent,
    OverlayPhrase,
)
from bot.storage.overlay_data import CommunityIntent, Overlay, TaughtPhrase, question_key
from bot.storage.repo._base import Repo, check_id, check_text_id
from bot.storage.repo.inbox import InboxItem, UnknownEntry, resolve_entry
from bot.storage.tx import Tx

VERSION_KEY = "overlay_version"
COMMUNITY = "community"  # the kind of intents made from mentor answers
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 60) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _SLUG.sub("-", ascii_).strip("-")[:limit].strip("-") or "answer"


async def bump_version(s: Tx, repo: Repo, now: datetime) -> str:
    token = secrets.token_hex(8)
    ins = repo.insert(BotState).values(key=VERSION_KEY, value=token, updated_at=now)
    await s.execute(ins.on_conflict_do_update(
        index_elements=[BotState.key],
        set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at}))
    return token


async def teach_phrase(s: Tx, repo: Repo, phrasing: str, intent_id: str | None,
                       taught_by: str | None, now: datetime) -> None:
    """Teach (or re-teach) one phrasing: the newest teaching of a question wins."""
    key = question_key(phrasing)
    await s.execute(update(OverlayPhrase)
                    .where(OverlayPhrase.key == key, OverlayPhrase.retired_at.is_(None))
                    .values(retired_at=now))
    s.add(OverlayPhrase(key=key, phrasing=phrasing, intent_id=intent_id,
                        taught_by=taught_by[:MAX_NAME] if taught_by else None, created_at=now))
    await s.flush()
    await bump_version(s, repo, now)


def _phrase(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("the phrasing is empty")
    return text.strip()[:MAX_QUESTION_CHARS]


class OverlayRepo(Repo):
    async def version(self) -> str | None:
        """The overlay's version token (None: nothing was ever taught). One small read."""

        async def tx(s: Tx) -> str | None:
            return await s.scalar(select(BotState.value).where(BotState.key == VERSION_KEY))

        return await self._db.run(tx, readonly=True)

    async def snapshot(self) -> Overlay:
        """The live overlay, read in one transaction with its version."""

        async def tx(s: Tx) -> Overlay:
            version = await s.scalar(select(BotState.value).where(BotState.key == VERSION_KEY))
            phrases = await s.scalars(select(OverlayPhrase)
                                      .where(OverlayPhrase.retired_at.is_(None))
                                      .order_by(OverlayPhrase.id))
            intents = await s.scalars(select(OverlayIntent)
                                      .where(OverlayIntent.retired_at.is_(None))
                                      .order_by(OverlayIntent.id))
            return Overlay(
                version,
                {p.key: TaughtPhrase(p.phrasing, p.intent_id, p.taught_by) for p in phrases},
                tuple(CommunityIntent(i.id, i.title, i.summary, i.short, i.source)
                      for i in intents))

        return await self._db.run(tx, readonly=True)

    async def teach(self, phrasing: str, intent_id: str | None, *,
                    taught_by: str | None = None) -> None:
        """Teach ``phrasing`` as a way of asking ``intent_id`` (None: off-topic). Which
        intents exist is the caller's to check (the knowledge base plus the overlay's)."""
        text = _phrase(phrasing)
        if intent_id is not None:
            check_text_id(intent_id, "intent id", MAX_INTENT_ID)
        now = self.now()
        await self._db.run(lambda s: teach_phrase(s, self, text, intent_id, taught_by, now))

    async def teach_entry(self, entry_id: int, intent_id: str | None, *,
                          taught_by: str | None = None) -> InboxItem:
        """Teach an open inbox entry's question (as ``intent_id``, or off-topic) and close
        the entry, in one transaction."""
        check_id(entry_id, "inbox id")
        if intent_id is not None:
            check_text_id(intent_id, "intent id", MAX_INTENT_ID)
        now = self.now()

        async def tx(s: Tx) -> InboxItem:
            item = await resolve_entry(s, entry_id, "taught" if intent_id else "off_topic",
                                       intent_id, now)
            await teach_phrase(s, self, item.question, intent_id, taught_by, now)
            return item

        return await self._db.run(tx)

    async def adopt(self, entry_id: int, *, title: str, summary: str | None = None,
                    short: str | None = None, source: str | None = None,
                    intent_id: str | None = None, taught_by: str | None = None,
                    taken: Iterable[str] = ()) -> CommunityIntent:
        """Turn an open ``proposed_answer`` entry into a new intent (``community.<slug>``
        unless ``intent_id`` is given; ``taken``: ids the knowledge base already has), teach
        the entry's question as its phrasing and close the entry — one transaction."""
        check_id(entry_id, "inbox id")
        if not isinstance(title, str) or not title.strip():
            raise InvalidInput("a new intent needs a title")
        now = self.now()
        taken_ids = set(taken)

        async def tx(s: Tx) -> CommunityIntent:
            row = await s.get(InboxEntry, entry_id)
            if row is None or row.resolved_at is not None:
                raise UnknownEntry(f"no open inbox entry {entry_id}")
            if row.status != "proposed_answer" or not row.answer:
                raise InvalidInput(f"inbox entry {entry_id} is not a proposed mentor answer")
            new_id = intent_id or f"{COMMUNITY}.{slug(title)}"
            check_text_id(new_id, "intent id", MAX_INTENT_ID)
            base, n = new_id, 2
            while new_id in taken_ids or await s.get(OverlayIntent, new_id) is not None:
                new_id, n = f"{base[:MAX_INTENT_ID - 4]}-{n}", n + 1
            mentor = row.mentor_name or "a mentor"
            intent = CommunityIntent(
                new_id, title.strip()[:MAX_TITLE],
                (summary or title).strip()[:500], (short or row.answer).strip(),
                (source or f"community answer by @{mentor}").strip()[:MAX_TITLE])
            s.add(OverlayIntent(id=intent.id, title=intent.title, summary=intent.summary,
                                short=intent.short, source=intent.source, created_at=now))
            await s.flush()
            await resolve_entry(s, entry_id, "new_intent", new_id, now)
            await teach_phrase(s, self, row.question, new_id, taught_by, now)
            return intent

        return await self._db.run(tx)

    async def retire(self, phrasings: Iterable[str] | None = None,
                     intent_ids: Iterable[str] | None = None) -> int:
        """Retire overlay rows now held by ``knowledge/``: the phrases given (None: every
        live phrase) and the new intents given (None: every live one). Returns how many."""
        now = self.now()
        keys = None if phrasings is None else [question_key(p) for p in phrasings]
        ids = None if intent_ids is None else list(intent_ids)

        async def tx(s: Tx) -> int:
            q1 = update(OverlayPhrase).where(OverlayPhrase.retired_at.is_(None))
            if keys is not None:
                q1 = q1.where(OverlayPhrase.key.in_(keys))
            q2 = update(OverlayIntent).where(OverlayIntent.retired_at.is_(None))
            if ids is not None:
                q2 = q2.where(OverlayIntent.id.in_(ids))
            n = 0
            for q in (q1, q2):
                result = await s.execute(q.values(retired_at=now)
                                         .execution_options(synchronize_session=False))
                n += int(result.rowcount)  # type: ignore[attr-defined]
            if n:
                await bump_version(s, self, now)
            return n

        return await self._db.run(tx)
