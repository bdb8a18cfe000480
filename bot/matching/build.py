"""Build the matcher from a knowledge base: one document per intent, plus the negatives."""

from __future__ import annotations

from bot.knowledge.loader import KnowledgeBase
from bot.matching.matcher import MatchDoc, Matcher
from bot.matching.normalize import FIELD_TERMS


def build_matcher(kb: KnowledgeBase) -> Matcher:
    docs = [
        MatchDoc(
            id=i.id,
            title=i.title,
            texts=tuple(i.examples),
            keywords=tuple(i.keywords),
            summary=i.summary,
        )
        for i in kb.intents
    ]
    # Each negative example is a document of its own: an off-topic question then meets one
    # short, sharp document instead of a diluted pool of unrelated off-topic phrasings.
    docs += [
        MatchDoc(id=f"{n.id}#{k}", title=example, texts=(example,))
        for n in kb.negatives
        for k, example in enumerate(n.examples)
    ]
    return Matcher(docs, anchors=FIELD_TERMS)
