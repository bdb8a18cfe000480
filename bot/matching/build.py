"""Build the matcher from a knowledge base, or load it from the cache.

``build_matcher(kb)`` is the one entry point (the bot's start, ``mentorbot ask`` and the
knowledge reload, which calls it in a worker thread). Training the learned scorer needs
scikit-learn and a few seconds; its result is plain numpy arrays, saved as one ``.npz`` file
named by a hash of everything the matcher learns from (the documents, the tools, the training
settings and :data:`MODEL_VERSION`). The next start with the same knowledge base loads that
file instead of importing scikit-learn. Where the cache is, how entries are named and written:
:mod:`bot.cache` (``MENTORBOT_CACHE_DIR=off``, or a directory that cannot be written, means
train every time). Long-running processes (the bot, the console, a knowledge reload, a
retrain for the overlay) train in a child process (:mod:`bot.matching.train`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np

from bot import cache
from bot.knowledge.loader import KnowledgeBase
from bot.matching.matcher import MODEL_VERSION, MatchDoc, Matcher, MatcherConfig
from bot.matching.normalize import FIELD_TERMS, content_tokens, raw_tokens

log = logging.getLogger(__name__)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def documents(kb: KnowledgeBase) -> list[MatchDoc]:
    """One document per intent with everything the knowledge base says about it, then one per
    out-of-scope negative example (an off-topic question then meets one short, sharp document
    instead of a diluted pool of unrelated phrasings)."""
    context: dict[str, list[str]] = {}
    for phase in kb.phases.phases:
        context.setdefault(f"phase.{phase.number}", []).extend(
            [phase.title, phase.summary, phase.failure_mode,
             *(f"{item.title}. {item.hint}" for item in phase.checklist)])
    context.setdefault("faq.which-phase", []).extend(q.text for q in kb.quiz.questions)
    for intent in kb.intents:
        if intent.kind == "roadblock":
            context.setdefault(intent.id, []).extend(t for t in (intent.why, intent.unlock) if t)
        # The answer's sentences too: they name the situations the answer is for (measured on
        # the dev questions: fewer confident wrong answers, better out-of-scope precision).
        context.setdefault(intent.id, []).extend(
            s for s in _SENTENCE.split(intent.answer) if len(s) > 20)
    docs = [
        MatchDoc(id=i.id, title=i.title, texts=tuple(i.examples), keywords=tuple(i.keywords),
                 summary=i.summary, context=tuple(context.get(i.id, ())))
        for i in kb.intents
    ]
    # In-domain topics the sources don't cover: matched like intents, answered honestly
    # ("my sources don't cover that"), never with a neighbouring card.
    docs += [
        MatchDoc(id=t.id, title=t.title, texts=tuple(t.examples), summary=t.note)
        for t in kb.uncovered
    ]
    docs += [
        MatchDoc(id=f"{n.id}#{k}", title=example, texts=(example,))
        for n in kb.negatives
        for k, example in enumerate(n.examples)
    ]
    return docs


def tool_names(kb: KnowledgeBase) -> list[tuple[str, tuple[str, ...]]]:
    names = dict.fromkeys(t.name for cat in kb.tools.categories for t in cat.tools)
    return [(n, tuple(content_tokens(raw_tokens(n)))) for n in names]


def kb_shape(kb: KnowledgeBase) -> dict[str, Any]:
    """What the matcher takes from the knowledge base besides its documents: tool names, the
    quiz's routing (its length with it) and the phase numbers."""
    return {"tools": tool_names(kb), "routing": quiz_routing(kb),
            "phases": sorted(kb.phase_by_number)}


def quiz_routing(kb: KnowledgeBase) -> list[int]:
    """The phase the quiz sends a member to, for 0, 1, … yes answers."""
    return [kb.phase_for_score(n) for n in range(len(kb.quiz.questions) + 1)]


_HERE = Path(__file__).resolve().parent
#: what the matcher is built by: its features, normalisation, slots and spelling data
_CODE = ("matcher.py", "normalize.py", "slots.py", "spelling.py", "data/common_words.txt")


@lru_cache(maxsize=4)
def code_key(root: Path = _HERE) -> str:
    """A hash of the matching code and data (:data:`_CODE`, under ``root``), part of every
    entry's key: an edit there (a new folded phrase, say) trains anew instead of loading what
    the old code built. :data:`MODEL_VERSION` stays for changes outside these files."""
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def content_key(docs: list[MatchDoc], shape: dict[str, Any], config: MatcherConfig) -> str:
    # The documents as plain tuples (``dataclasses.asdict`` deep-copies: 4× slower, and this
    # runs on every cold start).
    rows = [(d.id, d.title, d.texts, d.keywords, d.summary, d.context) for d in docs]
    return cache.content_key([MODEL_VERSION, code_key(), rows, shape, config.training_key()])


def trained_matcher(docs: Sequence[MatchDoc], config: MatcherConfig, shape: dict[str, Any]
                    ) -> Matcher:
    """The matcher of ``docs``, trained here (blocking: seconds; see :func:`build_matcher`)."""
    return Matcher(docs, config, anchors=FIELD_TERMS, **shape)


def read_arrays(source: Path | IO[bytes]) -> dict[str, np.ndarray]:
    """A matcher's arrays from an ``.npz``: a cache entry, or what a training child wrote."""
    with np.load(source, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_arrays(fh: IO[bytes], arrays: dict[str, Any]) -> None:
    np.savez(fh, **arrays)


def _load(path: Path, config: MatcherConfig) -> Matcher | None:
    try:
        return Matcher.from_arrays(read_arrays(path), config)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("matcher cache %s unreadable (%s): rebuilding", path, exc)
        return None


def _save(path: Path, matcher: Matcher) -> None:
    arrays = matcher.to_arrays()
    cache.write_atomic(path, lambda fh: write_arrays(fh, arrays))


def merge_documents(docs: list[MatchDoc], extra: Iterable[MatchDoc]) -> list[MatchDoc]:
    """``docs`` and ``extra`` (what mentors taught: :mod:`bot.engine.overlay`): an extra
    document whose id is already there adds its example phrasings to that document, any other
    is a new document (a negative when its id starts with ``oos.``)."""
    out = list(docs)
    at = {d.id: i for i, d in enumerate(out)}
    for d in extra:
        if d.id in at:
            old = out[at[d.id]]
            out[at[d.id]] = replace(old, texts=old.texts + d.texts)
        else:
            at[d.id] = len(out)
            out.append(d)
    return out


def build_matcher(kb: KnowledgeBase, config: MatcherConfig | None = None,
                  use_cache: bool = True, extra: Sequence[MatchDoc] = (), *,
                  isolated: bool = False) -> Matcher:
    """The matcher of ``kb``, with ``extra`` documents merged in (:func:`merge_documents`;
    they are part of the cache key, so processes with the same overlay share one build).

    ``isolated``: train (when the cache has no entry) in a child process
    (:mod:`bot.matching.train`), as a long-running process should; a one-shot command trains
    in its own."""
    config = config or MatcherConfig()
    docs = merge_documents(documents(kb), extra) if extra else documents(kb)
    shape = kb_shape(kb)
    directory = cache.cache_dir() if use_cache else None
    key = content_key(docs, shape, config)
    path = directory / f"matcher-{key}.npz" if directory else None
    if path is not None and path.is_file():
        cached = _load(path, config)
        if cached is not None:
            cache.used(path)
            return cached
    arrays = None
    if isolated:
        from bot.matching.train import train_isolated

        arrays = train_isolated(docs, config, shape)
    if arrays is not None:
        matcher = Matcher.from_arrays(arrays, config)
    else:
        matcher = trained_matcher(docs, config, shape)
    if path is not None:
        _save(path, matcher)
    return matcher
