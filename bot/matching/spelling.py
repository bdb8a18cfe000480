"""Guarded spelling correction against the knowledge base's vocabulary.

* A word the knowledge base uses is never changed, nor one shorter than four letters, nor a
  number, nor a **common English word** (``data/common_words.txt``, frozen from ``wordfreq``
  at development time): "around" must not become "ground", nor "lakers" "lakefs".
* Candidates come from a deletion index (SymSpell's idea): every vocabulary word is filed under
  itself and each string one deletion away; a question word looks up itself and its own one-
  and two-deletion variants. That finds every word within one edit (insertion, deletion,
  substitution, transposition) and most within two, in a handful of dictionary look-ups
  whatever the size of the vocabulary. rapidfuzz then picks the closest candidate.
* A corrected word never makes a question count as naming a field term (the matcher reads the
  anchor from the words as typed), so a correction cannot veto the off-topic negatives.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from rapidfuzz import fuzz

from bot.matching.normalize import TokenCache

MIN_LEN = 4


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    text = resources.files("bot.matching").joinpath("data/common_words.txt").read_text("utf-8")
    return frozenset(w for w in text.split("\n") if w and not w.startswith("#"))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Corrector:
    def __init__(self, vocabulary: Iterable[str], cutoff: float = 82.0):
        self.cutoff = cutoff
        self.vocab = frozenset(vocabulary)
        self._index: dict[str, list[str]] | None = None  # built on the first unknown word
        # a word more than two letters longer than every vocabulary word has no candidate
        # (candidates differ by at most two in length): it is left as it is, before its
        # deletion variants are made (two deletions of a 2,000-letter word are 2 million
        # strings, gigabytes)
        self._longest = max(map(len, self.vocab), default=0)
        self.correct = TokenCache(self._correct, maxsize=16384)

    def _build(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for w in sorted(self.vocab):
            if len(w) < MIN_LEN or w.isdigit():
                continue
            for key in {w, *_deletes(w)}:
                index.setdefault(key, []).append(w)
        return index

    def _correct(self, token: str) -> str:
        if (token in self.vocab or len(token) < MIN_LEN or len(token) > self._longest + 2
                or not token.isalpha() or token in common_words()):
            return token
        if self._index is None:
            self._index = self._build()
        keys = {token, *_deletes(token)}
        if len(token) >= 6:  # two deletions only for longer words: short ones match too much
            keys |= {d2 for d in _deletes(token) for d2 in _deletes(d)}
        candidates = {w for k in keys for w in self._index.get(k, ())}
        best, best_score = token, self.cutoff
        for w in sorted(candidates):
            if abs(len(w) - len(token)) > 2:
                continue
            score = fuzz.ratio(token, w)
            if score >= best_score and (best == token or score > best_score):
                best, best_score = w, score
        return best
