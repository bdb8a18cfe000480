"""Intent matching: which knowledge-base intent does a free-text question ask for?

Design (see ``shared/MATCHING.md`` for the measurements behind it):

* every intent is pooled into one document (title, summary, keywords, example phrasings) and
  weighted with TF-IDF over stemmed words, word bigrams and character 3-4 grams — pooled
  documents with term weighting beat whole-string fuzzy ratios and sentence embeddings here;
* the best single example phrasing is a second signal, for questions that echo one phrasing;
* tokens the knowledge base has never seen are corrected against its vocabulary with
  rapidfuzz ("kubernets" → "kubernetes"), and the ones that stay unknown still count in the
  question's length, so a question mostly about something else scores low;
* out-of-scope "negative" documents (cooking, weather, cars that drift …) compete with the
  intents: when one of them wins, nothing is answered;
* a threshold on the score *and* a margin to the runner-up decide between answered,
  ambiguous ("did you mean") and unanswered. A weak match is never served silently. The
  threshold is lower for questions that name a field term (mlops, mlflow, k8s …) than for
  ones that don't, and a field term keeps the off-topic negatives from winning.

Scores are 0-100. All the work is numpy over posting lists, so a question costs well under a
millisecond on the real knowledge base and stays low on thousands of intents.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process

from bot.matching.normalize import content_tokens, raw_tokens, stem

NEGATIVE_PREFIX = "oos."
MAX_QUESTION_CHARS = 2000  # longer text is cut before matching (the start carries the intent)

Status = Literal["answered", "ambiguous", "unanswered", "empty"]


@dataclass(frozen=True)
class MatchDoc:
    """What the matcher knows of one intent (or one out-of-scope negative document)."""

    id: str
    title: str
    texts: tuple[str, ...]  # example phrasings
    keywords: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class MatcherConfig:
    threshold: float = 10.0  # below: unanswered (questions naming a field term)
    threshold_unanchored: float = 12.0  # below: unanswered (no field term in the question)
    gap: float = 0.15  # runner-up within this fraction of the top score: ambiguous
    w_doc_word: float = 0.45
    w_doc_char: float = 0.25
    w_example: float = 0.30
    correction_cutoff: float = 82.0
    alternatives: int = 3


@dataclass(frozen=True)
class Candidate:
    intent: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    question: str
    intent: str | None
    score: float
    alternatives: tuple[Candidate, ...]
    status: Status
    corrections: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """The ``mentorbot ask --json`` contract of ``shared/intents.md``."""
        return {
            "question": self.question,
            "intent": self.intent,
            "score": round(self.score, 1),
            "alternatives": [
                {"intent": c.intent, "score": round(c.score, 1)} for c in self.alternatives
            ],
        }


@dataclass
class _Index:
    """TF-IDF vectors of one feature family as posting lists: feature → (rows, weights)."""

    idf: dict[str, float]
    rows: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    n_rows: int
    default_idf: float = field(default=1.0)

    @classmethod
    def build(cls, docs: Sequence[Counter[str]], idf_docs: Sequence[Counter[str]] | None = None):
        idf_source = idf_docs if idf_docs is not None else docs
        n = len(idf_source)
        df: Counter[str] = Counter()
        for d in idf_source:
            df.update(d.keys())
        idf = {f: math.log((n + 1) / (c + 1)) + 1.0 for f, c in df.items()}
        default_idf = math.log(n + 1) + 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for row, d in enumerate(docs):
            vec = {f: (1.0 + math.log(c)) * idf.get(f, default_idf) for f, c in d.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            for f, v in vec.items():
                r, w = postings.setdefault(f, ([], []))
                r.append(row)
                w.append(v / norm)
        rows = {f: np.asarray(r, dtype=np.int32) for f, (r, _) in postings.items()}
        weights = {f: np.asarray(w, dtype=np.float32) for f, (_, w) in postings.items()}
        return cls(idf, rows, weights, len(docs), default_idf)

    def scores(self, query: Counter[str]) -> np.ndarray:
        """Cosine similarity of the query with every row (unknown features count in its norm)."""
        vec = {f: (1.0 + math.log(c)) * self.idf.get(f, self.default_idf) for f, c in query.items()}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        if norm == 0:
            return np.zeros(self.n_rows, dtype=np.float32)
        idx_parts, w_parts = [], []
        for f, v in vec.items():
            rows = self.rows.get(f)
            if rows is not None:
                idx_parts.append(rows)
                w_parts.append(self.weights[f] * (v / norm))
        if not idx_parts:
            return np.zeros(self.n_rows, dtype=np.float32)
        return np.bincount(
            np.concatenate(idx_parts), np.concatenate(w_parts), minlength=self.n_rows
        ).astype(np.float32)


def _word_features(tokens: Sequence[str]) -> Counter[str]:
    stems = [stem(t) for t in tokens]
    feats = Counter(stems)
    feats.update(f"{a} {b}" for a, b in pairwise(stems))
    return feats


def _char_features(tokens: Sequence[str]) -> Counter[str]:
    feats: Counter[str] = Counter()
    for tok in tokens:
        padded = f" {tok} "
        for n in (3, 4):
            if len(padded) < n:
                continue
            feats.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return feats


class Matcher:
    def __init__(
        self,
        docs: Iterable[MatchDoc],
        config: MatcherConfig | None = None,
        anchors: Iterable[str] = (),
    ):
        self.config = config or MatcherConfig()
        # Field terms (mlops, mlflow, kubernetes …): a question naming one is about the field,
        # so an off-topic negative document cannot win it and the lower threshold applies.
        self.anchors = frozenset(anchors)
        self.docs = list(docs)
        if not self.docs:
            raise ValueError("the matcher needs at least one document")
        self.ids = [d.id for d in self.docs]
        self.is_negative = np.array([d.id.startswith(NEGATIVE_PREFIX) for d in self.docs])

        doc_tokens: list[list[str]] = []
        example_tokens: list[list[str]] = []
        example_owner: list[int] = []
        vocab: set[str] = set()
        for i, d in enumerate(self.docs):
            pooled: list[str] = []
            # The title and keywords name the topic: they count twice in the pooled document.
            for text, times in ((d.title, 2), (d.summary, 1), *((k, 2) for k in d.keywords)):
                toks = content_tokens(raw_tokens(text))
                pooled += toks * times
            for text in d.texts:
                toks = content_tokens(raw_tokens(text))
                pooled += toks
                example_tokens.append(toks)
                example_owner.append(i)
            vocab.update(pooled)
            doc_tokens.append(pooled)
        self._vocab_set = set(vocab)
        # Correction candidates bucketed by length: a typo is compared only with words within
        # two characters of its own length.
        self._by_len: dict[int, list[str]] = {}
        for t in sorted(vocab):
            if len(t) >= 3 and not t.isdigit():
                self._by_len.setdefault(len(t), []).append(t)

        doc_words = [_word_features(t) for t in doc_tokens]
        self._doc_word = _Index.build(doc_words)
        self._doc_char = _Index.build([_char_features(t) for t in doc_tokens])
        # Example phrasings share the documents' IDF so both signals weigh words alike.
        self._examples = _Index.build([_word_features(t) for t in example_tokens], doc_words)
        self._example_owner = np.asarray(example_owner, dtype=np.int32)
        self._correct = lru_cache(maxsize=16384)(self._correct_uncached)

    # --- text ---------------------------------------------------------------------------------

    def _correct_uncached(self, token: str) -> str:
        if token in self._vocab_set or len(token) < 4 or token.isdigit():
            return token
        best: tuple[str, float] | None = None
        for n in range(len(token) - 2, len(token) + 3):
            hit = process.extractOne(token, self._by_len.get(n, ()), scorer=fuzz.ratio,
                                     score_cutoff=self.config.correction_cutoff)
            if hit and (best is None or hit[1] > best[1]):
                best = (hit[0], hit[1])
        return best[0] if best else token

    def tokens(self, question: str) -> tuple[list[str], list[tuple[str, str]]]:
        toks = content_tokens(raw_tokens(question[:MAX_QUESTION_CHARS]))
        fixed, corrections = [], []
        for t in toks:
            c = self._correct(t)
            if c != t:
                corrections.append((t, c))
            fixed.append(c)
        return fixed, corrections

    # --- scoring ------------------------------------------------------------------------------

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        cfg = self.config
        word = _word_features(tokens)
        doc_word = self._doc_word.scores(word)
        doc_char = self._doc_char.scores(_char_features(tokens))
        ex = self._examples.scores(word)
        best_example = np.zeros(len(self.docs), dtype=np.float32)
        np.maximum.at(best_example, self._example_owner, ex)
        return 100.0 * (
            cfg.w_doc_word * doc_word + cfg.w_doc_char * doc_char + cfg.w_example * best_example
        )

    def match(self, question: str) -> MatchResult:
        cfg = self.config
        tokens, corrections = self.tokens(question)
        if not tokens or all(t.isdigit() for t in tokens):  # nothing but numbers: no question
            return MatchResult(question, None, 0.0, (), "empty", tuple(corrections))
        scores = self.scores(tokens)
        k = min(len(scores), cfg.alternatives + 8)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        order = sorted(top.tolist(), key=lambda i: -float(scores[i]))
        best = order[0]
        positives = [i for i in order if not self.is_negative[i]]
        cands = [Candidate(self.ids[i], float(scores[i])) for i in positives]
        fixes = tuple(corrections)
        if not cands:
            return MatchResult(question, None, float(scores[best]), (), "unanswered", fixes)
        anchored = any(t in self.anchors for t in tokens)
        threshold = cfg.threshold if anchored else cfg.threshold_unanchored
        if (self.is_negative[best] and not anchored) or cands[0].score < threshold:
            alts = tuple(cands[: cfg.alternatives])
            return MatchResult(question, None, cands[0].score, alts, "unanswered", fixes)
        top_c, rest = cands[0], tuple(cands[1 : 1 + cfg.alternatives])
        runner_up = rest[0].score if rest else 0.0
        close = top_c.score - runner_up < cfg.gap * top_c.score
        status: Status = "ambiguous" if close else "answered"
        return MatchResult(question, top_c.intent, top_c.score, rest, status, fixes)
