"""Slots read from a question before it becomes a bag of words: phase, level, named tools.

* **phase**: the roadmap phase the member is *in*, not the one they are moving to. "What do I
  need before phase 2" is a phase-1 question, "just finished phase 1" a phase-2 one, "I'm in
  phase 3, what's different from phase two" a phase-3 one. Digits, number words, ordinals
  ("the third phase") and "last/final phase" are read; a bare "one" elsewhere ("the staff one")
  is left alone.
* **level**: the career level named (junior, mid, senior, staff, principal), first one first.
* **tools**: the tools of ``knowledge/tools.yaml`` that the question names.

The matcher sees a phase mention as the word ``phase`` plus one token ``phaseslotN``, both in
the knowledge base's own text and in questions, so "phase 2" is evidence for phase.2 and
against phase.1 instead of one shared number feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_NUM = {"1": 1, "2": 2, "3": 3, "4": 4, "one": 1, "two": 2, "three": 3, "four": 4,
        "ii": 2, "iii": 3, "iv": 4}
_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
        "last": 4, "final": 4}

# Words before a mention that say the member is heading there (in the phase before it) …
_TOWARDS = r"before|to|into|reach|reaching|towards|toward|ready\s+for|prepare\s+for|next\s+is"
# … or has left it behind (in the phase after it).
_PAST = r"after|finished|finishing|completed|completing|past|done\s+with|beyond|through"
_HERE = r"in|at|on|inside|within|during"
_PRE = rf"(?:\b(?P<pre>{_TOWARDS}|{_PAST}|{_HERE})\s+(?:the\s+|my\s+|this\s+)?)?"
_NUMBERED = re.compile(
    _PRE + r"(?:phase|stage)\s*(?:#|no\.?\s*|number\s+)?"
    r"(?P<n>[1-4]|one|two|three|four|iv|iii|ii)\b"  # not "i": "in this phase i need …"
)
_GLUED = re.compile(_PRE + r"\bp(?P<n>[1-4])\b")
_ORDINAL = re.compile(
    _PRE + r"(?P<o>first|1st|second|2nd|third|3rd|fourth|4th|last|final)\s+(?:phase|stage)\b"
)
_TOWARDS_RE = re.compile(rf"^(?:{_TOWARDS})$")
_PAST_RE = re.compile(rf"^(?:{_PAST})$")
_HERE_RE = re.compile(rf"^(?:{_HERE})$")

# A quiz result ("scored 4/6", "5 yes on the quiz", "answered yes to all six") places the
# member in a phase through the quiz's routing table (knowledge/quiz.yaml), given by the caller.
_COUNT = r"([0-6]|zero|none|one|two|three|four|five|six|all(?:\s+six)?)"
_QUIZ = re.compile(
    rf"\b{_COUNT}\s*(?:/\s*6|out\s+of\s+(?:6|six)|of\s+(?:the\s+)?(?:6|six)\b|yes(?:es)?\b)"
    rf"|\byes\s+(?:to|on|for)\s+{_COUNT}\b"
)
_COUNTS = {"zero": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}

ALL_YES = -1  # quiz_score's "yes to all of them", whatever the quiz's length
PHASE_WORD = "phase"
SLOT_PREFIX = "phaseslot"

LEVELS: dict[str, str] = {
    "junior": "junior", "jr": "junior", "jnr": "junior", "entry": "junior", "graduate": "junior",
    "mid": "mid", "midlevel": "mid", "intermediate": "mid",
    "senior": "senior", "sr": "senior", "snr": "senior",
    "staff": "staff",
    "principal": "principal", "principle": "principal",
}
_LEVEL_RE = re.compile(r"\b(" + "|".join(sorted(LEVELS, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Slots:
    """What a question names besides its topic; ``None`` / empty when it names nothing."""

    phase: int | None = None
    level: str | None = None
    levels: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"phase": self.phase, "level": self.level, "tools": list(self.tools)}


_ANY = re.compile(r"phase|stage|\bp[1-4]\b")


def _mentions(text: str) -> list[tuple[int, int, int, str]]:
    """(start, end, number, kind) for every phase mention; kind is towards/past/here/plain."""
    found: list[tuple[int, int, int, str]] = []
    if not _ANY.search(text):
        return found
    for rx in (_NUMBERED, _GLUED, _ORDINAL):
        for m in rx.finditer(text):
            groups = m.groupdict()
            n = _NUM[groups["n"]] if groups.get("n") else _ORD[groups["o"]]
            pre = re.sub(r"\s+", " ", groups.get("pre") or "")
            if pre and _TOWARDS_RE.match(pre):
                kind = "towards"
            elif pre and _PAST_RE.match(pre):
                kind = "past"
            elif pre and _HERE_RE.match(pre):
                kind = "here"
            else:
                kind = "plain"
            found.append((m.start(), m.end(), n, kind))
    found.sort()
    out: list[tuple[int, int, int, str]] = []
    for f in found:  # overlapping matches of the three patterns: keep the first
        if not out or f[0] >= out[-1][1]:
            out.append(f)
    return out


def phase_of(mentions: Sequence[tuple[int, int, int, str]]) -> int | None:
    """The phase the member is in, from the mentions in one question."""
    if not mentions:
        return None
    here = [n for *_, n, k in mentions if k == "here"]
    if here:
        return here[0]
    plain = [n for *_, n, k in mentions if k == "plain"]
    if plain:
        return min(plain)
    derived = [max(1, n - 1) if k == "towards" else min(4, n + 1) for *_, n, k in mentions]
    return derived[0]


def quiz_score(text: str) -> int | None:
    """How many quiz questions the member says they answered yes to, if they say so
    (:data:`ALL_YES` for "all of them")."""
    m = _QUIZ.search(text)
    if not m or ("quiz" not in text and "yes" not in text and "question" not in text):
        return None
    k = (m.group(1) or m.group(2) or "").strip()
    if k.startswith("all"):
        return ALL_YES
    return int(k) if k.isdigit() else _COUNTS.get(k)


def rewrite_phase(text: str) -> str:
    """Casefolded text with every phase mention replaced by ``phase`` and one slot token."""
    mentions = _mentions(text)
    phase = phase_of(mentions)
    if phase is None:
        return text
    parts, last = [], 0
    for start, end, *_ in mentions:
        parts.append(text[last:start])
        parts.append(f" {PHASE_WORD} ")
        last = end
    parts.append(text[last:])
    return "".join(parts) + f" {SLOT_PREFIX}{phase}"


def read_slots(text: str, tokens: Sequence[str], tools: Iterable[tuple[str, tuple[str, ...]]],
               routing: Sequence[int] = ()) -> Slots:
    """Slots of a question: ``text`` casefolded, ``tokens`` its raw tokens (after folding),
    ``tools`` (display name, its folded tokens) pairs, ``routing`` the quiz's phase for
    0, 1, … yes answers."""
    mentions = _mentions(text)
    phase = phase_of(mentions)
    if phase is None and routing:
        score = quiz_score(text)
        if score == ALL_YES:  # "yes to all": as many as the quiz has questions
            score = len(routing) - 1
        if score is not None and 0 <= score < len(routing):
            phase = routing[score]
    levels = tuple(dict.fromkeys(LEVELS[m] for m in _LEVEL_RE.findall(text.replace("-", ""))))
    named: list[str] = []
    joined = f" {' '.join(tokens)} "
    for name, toks in tools:
        if toks and f" {' '.join(toks)} " in joined and name not in named:
            named.append(name)
    return Slots(phase, levels[0] if levels else None, levels, tuple(named))
