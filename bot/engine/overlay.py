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

Retraining in the background: when the version changes (and when the engine swaps in a
reloaded knowledge base: :meth:`LiveOverlay.attach`) each process rebuilds its matcher from the
knowledge base plus the overlay in a worker thread (:func:`retrained_matcher`): taught
phrasings become example phrasings of their intent, new intents become documents of their
own (title, summary, taught phrasings), off-topic phrasings negatives. So a paraphrase of a
taught question is answered too, not only its exact wording (which stays in front, at once).
Until the new matcher is ready the previous one serves; a failed build is logged and the
previous one kept; one build at a time, and a version that arrives during a build is built
after it (only the newest). The build goes through the matcher's content-hash cache, so
processes with the same overlay share one training.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.knowledge.schema import Intent
from bot.limits import MAX_QUESTION_CHARS
from bot.matching.matcher import NEGATIVE_PREFIX, MatchDoc
from bot.render import user_text
from bot.storage.errors import StorageError
from bot.storage.overlay_data import CommunityIntent, Overlay, TaughtPhrase, normalize_question

if TYPE_CHECKING:
    from bot.knowledge.loader import KnowledgeBase
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


def overlay_documents(overlay: Overlay, known: Collection[str]) -> list[MatchDoc]:
    """The matcher documents of the overlay (see :func:`bot.matching.build.merge_documents`),
    in a stable order (the same overlay gives the same cache key in every process): each new
    intent with its taught phrasings, the phrasings taught for an intent of ``known`` (the
    knowledge base's), and one negative per off-topic phrasing. Phrasings taught for an intent
    that is gone are left out."""
    by_intent: dict[str, list[str]] = {}
    negatives: list[str] = []
    for phrase in sorted(overlay.phrases.values(),
                         key=lambda p: (normalize_question(p.phrasing), p.phrasing)):
        if phrase.intent_id is None:
            negatives.append(phrase.phrasing)
        else:
            by_intent.setdefault(phrase.intent_id, []).append(phrase.phrasing)
    docs = [MatchDoc(id=c.id, title=c.title, summary=c.summary,
                     texts=tuple(by_intent.pop(c.id, ())))
            for c in sorted(overlay.intents, key=lambda c: c.id)]
    docs += [MatchDoc(id=intent_id, title="", texts=tuple(texts))
             for intent_id, texts in sorted(by_intent.items()) if intent_id in known]
    docs += [MatchDoc(id=f"{NEGATIVE_PREFIX}overlay#{k}", title=text, texts=(text,))
             for k, text in enumerate(negatives)]
    return docs


def retrained_matcher(kb: KnowledgeBase, overlay: Overlay) -> Matcher:
    """The matcher of the knowledge base plus the overlay (blocking: run it in a thread)."""
    from bot.matching.build import build_matcher

    known = {i.id for i in kb.intents} | {t.id for t in kb.uncovered}
    return build_matcher(kb, extra=overlay_documents(overlay, known), isolated=True)


Builder = Callable[["KnowledgeBase", Overlay], "Matcher"]


class LiveOverlay:
    def __init__(self, overlay: Overlay | None = None, *,
                 poll_seconds: float = POLL_SECONDS,
                 builder: Builder = retrained_matcher) -> None:
        self.poll_seconds = poll_seconds
        self.builder = builder
        self._checked = -1e18
        self._kb: KnowledgeBase | None = None
        self._base: Matcher | None = None
        # the retrained matcher: (the knowledge base's matcher it extends, overlay version, it)
        self._trained: tuple[Matcher, str | None, Matcher] | None = None
        self._failed: tuple[Matcher, str | None] | None = None
        self._task: asyncio.Task[None] | None = None
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
        self._schedule()
        return True

    # --- retraining ---------------------------------------------------------------------------

    def attach(self, kb: KnowledgeBase, base: Matcher) -> None:
        """Retrain on top of this knowledge base and its matcher (the engine's; again after a
        knowledge reload). Starts a background build when an event loop is running."""
        self._kb, self._base = kb, base
        self._schedule()

    def current(self, base: Matcher) -> Matcher:
        """The retrained matcher when it extends ``base``, else ``base`` itself."""
        trained = self._trained
        return trained[2] if trained is not None and trained[0] is base else base

    def _up_to_date(self) -> bool:
        base, version = self._base, self.overlay.version
        if base is None:
            return True
        trained, failed = self._trained, self._failed
        return ((trained is not None and trained[0] is base and trained[1] == version)
                or (failed is not None and failed[0] is base and failed[1] == version))

    def _schedule(self) -> None:
        if self._task is not None and not self._task.done():
            return  # the running build looks again when it is done: only the newest is built
        if self._up_to_date():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a command-line tool): see retrain_now
            return
        self._task = loop.create_task(self._retrain(), name="overlay-retrain")

    def _build(self, kb: KnowledgeBase, base: Matcher, overlay: Overlay) -> Matcher:
        if not overlay.phrases and not overlay.intents:
            return base
        return self.builder(kb, overlay)

    def _install(self, base: Matcher, overlay: Overlay, matcher: Matcher,
                 started: float) -> None:
        self._trained = (base, overlay.version, matcher)
        log.info("matcher retrained for overlay %s in %.1f s", overlay.version,
                 time.perf_counter() - started)

    def _failed_build(self, base: Matcher, overlay: Overlay) -> None:
        self._failed = (base, overlay.version)
        log.warning("could not retrain the matcher for overlay %s; the previous one still "
                    "serves", overlay.version, exc_info=True)

    async def _retrain(self) -> None:
        while not self._up_to_date():
            kb, base, overlay = self._kb, self._base, self.overlay
            assert kb is not None and base is not None
            started = time.perf_counter()
            try:
                matcher = await asyncio.to_thread(self._build, kb, base, overlay)
            except Exception:
                self._failed_build(base, overlay)
            else:
                self._install(base, overlay, matcher, started)

    def retrain_now(self) -> None:
        """Retrain in this thread (``mentorbot ask``: nothing else to serve meanwhile)."""
        if self._up_to_date():
            return
        kb, base, overlay = self._kb, self._base, self.overlay
        assert kb is not None and base is not None
        started = time.perf_counter()
        try:
            matcher = self._build(kb, base, overlay)
        except Exception:
            self._failed_build(base, overlay)
        else:
            self._install(base, overlay, matcher, started)

    async def settled(self) -> None:
        """Wait for the background build (if any) to finish: tests, and a clean shutdown."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def taught(self, question: str) -> TaughtPhrase | None:
        return self.overlay.lookup(question[:MAX_QUESTION_CHARS])

    def match(self, matcher: Matcher, question: str) -> MatchResult:
        """The (retrained) matcher's verdict, with a taught phrasing's exact wording in front."""
        result = self.current(matcher).match(question)
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
