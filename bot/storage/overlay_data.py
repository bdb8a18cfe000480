"""The overlay as plain data (no SQLAlchemy: the engine and ``mentorbot ask --json`` import it
without the database layer) and the grouping key of questions."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from bot.limits import MAX_QUESTION_CHARS

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.…,;:]+$")


def normalize_question(text: str) -> str:
    """Grouping key: NFKC, case-folded, whitespace collapsed, trailing punctuation dropped."""
    t = unicodedata.normalize("NFKC", text).casefold()
    t = _SPACES.sub(" ", t).strip()
    return (_TRAILING.sub("", t) or t)[:MAX_QUESTION_CHARS]


def question_key(question: str) -> str:
    """The grouping key of a question: sha256 of :func:`normalize_question` (fits an index)."""
    return hashlib.sha256(normalize_question(question).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TaughtPhrase:
    phrasing: str
    intent_id: str | None  # None: off-topic
    taught_by: str | None = None


@dataclass(frozen=True, slots=True)
class CommunityIntent:
    id: str
    title: str
    summary: str
    short: str
    source: str


@dataclass(frozen=True)
class Overlay:
    """One consistent reading of the overlay."""

    version: str | None = None
    phrases: dict[str, TaughtPhrase] = field(default_factory=dict)  # question key → phrase
    intents: tuple[CommunityIntent, ...] = ()

    def lookup(self, question: str) -> TaughtPhrase | None:
        return self.phrases.get(question_key(question)) if question.strip() else None
