"""The overlay, live: what mentors taught, in front of the knowledge base's matcher.

Every process holds a :class:`LiveOverlay`. Before a command or a button is carried out the
engine calls :meth:`LiveOverlay.refresh`: at most every :data:`POLL_SECONDS` it reads the
overlay's version row (one small read) and, only when it changed, the overlay itself. So a
phrasing taught in one process (or by ``mentorbot kb teach``) is served by every process and
shard within about :data:`POLL_SECONDS` plus one read.

Matching: the exact (normalised) wording of a taught phrasing wins over the matcher; an
off-topic one gets the honest "I don't know". New intents made from mentor answers are
:class:`~bot.knowledge.schema.Intent` objects built here (kind ``faq``, the mentor's text as
both the short and the full answer, escaped), answerable by their taught phrasings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.knowledge.schema import Intent
from bot.limits import MAX_QUESTION_CHARS
from bot.render import user_text
from bot.storage.errors import StorageError
from bot.storage.overlay_data import CommunityIntent, Overlay, TaughtPhrase

if TYPE_CHECKING:
    from bot.matching.matcher import Matcher, MatchResult
    from bot.storage.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often a process reads the version row (at most, and only when used)
TAUGHT_SCORE = 100.0


def community_intent(c: CommunityIntent) -> Intent:
    """A new intent from a mentor's answer, as the engine shows intents (not validated as
    knowledge-base YAML is: its text is the mentor's, escaped)."""
    short = user_text(c.short, 1500)
    return Intent.model_construct(
        id=c.id, kind="faq", title=user_text(c.title, 200), summary=user_text(c.summary, 300),
        short=short, answer=short, parts=[], facts=[], related=[], sources=[], examples=[],
        keywords=[], why=None, unlock=None)


class LiveOverlay:
    def __init__(self, overlay: Overlay | None = None, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        self._checked = -1e18
        self.set(overlay or Overlay())

    def set(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self.intents: dict[str, Intent] = {c.id: community_intent(c) for c in overlay.intents}
        self.sources: dict[str, str] = {c.id: c.source for c in overlay.intents}

    @property
    def version(self) -> str | None:
        return self.overlay.version

    async def refresh(self, store: Store | None, *, force: bool = False) -> bool:
        """Reload when the version row changed (read at most every ``poll_seconds``);
        True when it did. A database that does not answer keeps the overlay as it was."""
        if store is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < self.poll_seconds:
            return False
        self._checked = now
        try:
            version = await store.overlay.version()
            if version == self.overlay.version:
                return False
            self.set(await store.overlay.snapshot())
        except StorageError:
            log.warning("could not read the overlay; serving the one loaded before",
                        exc_info=True)
            return False
        log.info("overlay %s loaded: %d phrasings, %d new intents", self.overlay.version,
                 len(self.overlay.phrases), len(self.intents))
        return True

    def taught(self, question: str) -> TaughtPhrase | None:
        return self.overlay.lookup(question[:MAX_QUESTION_CHARS])

    def match(self, matcher: Matcher, question: str) -> MatchResult:
        """The matcher's verdict, with a taught phrasing in front."""
        result = matcher.match(question)
        taught = self.taught(question) if result.status != "empty" else None
        if taught is None:
            return result
        if taught.intent_id is None:
            return replace(result, intent=None, status="unanswered",
                           score=min(result.score, 0.0))
        return replace(result, intent=taught.intent_id, status="answered",
                       score=TAUGHT_SCORE,
                       alternatives=tuple(c for c in result.alternatives
                                          if c.intent != taught.intent_id))
