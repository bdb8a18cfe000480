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

Which numbers are phases, and how many questions the quiz has, come from the knowledge base
(:class:`SlotGrammar`): a five-phase roadmap reads "phase five" and "the last phase" as 5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen twenty").split()
_ORDINALS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
             "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
             "nineteenth twentieth").split()
_ROMAN = "- i ii iii iv v vi vii viii ix x xi xii xiii xiv xv xvi xvii xviii xix xx".split()

# Words before a mention that say the member is heading there (in the phase before it) …
_TOWARDS = r"before|to|into|reach|reaching|towards|toward|ready\s+for|prepare\s+for|next\s+is"
# … or has left it behind (in the phase after it).
_PAST = r"after|finished|finishing|completed|completing|past|done\s+with|beyond|through"
_HERE = r"in|at|on|inside|within|during"
_PRE = rf"(?:\b(?P<pre>{_TOWARDS}|{_PAST}|{_HERE})\s+(?:the\s+|my\s+|this\s+)?)?"
_TOWARDS_RE = re.compile(rf"^(?:{_TOWARDS})$")
_PAST_RE = re.compile(rf"^(?:{_PAST})$")
_HERE_RE = re.compile(rf"^(?:{_HERE})$")


def _alternatives(names: Iterable[str]) -> str:
    """A regex alternation, longest first ("10" before "1")."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=lambda n: (-len(n), n)))


def _suffixed(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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
    yes: int | None = None  # how many quiz questions the member says they answered yes to

    def to_json(self) -> dict[str, object]:
        return {"phase": self.phase, "level": self.level, "tools": list(self.tools)}


class SlotGrammar:
    """What phase and quiz mentions look like for one knowledge base: its phase numbers (digits,
    number words, ordinals, roman numerals, "last/final" for the highest) and its quiz length
    ("4/6", "yes to all six"). Build with :meth:`of`, which caches one per shape."""

    def __init__(self, phases: Sequence[int], questions: int):
        self.phases = tuple(sorted(set(phases)))
        self.questions = max(0, questions)
        names: dict[str, int] = {}
        ordinals: dict[str, int] = {}
        for n in self.phases:
            names[str(n)] = n
            if n < len(_WORDS):
                names[_WORDS[n]] = n
                ordinals[_ORDINALS[n]] = n
            if 2 <= n < len(_ROMAN):  # not "i": "in this phase i need …"
                names[_ROMAN[n]] = n
            ordinals[_suffixed(n)] = n
        if self.phases:
            ordinals["last"] = ordinals["final"] = self.phases[-1]
        self._names, self._ordinals = names, ordinals
        digits = [str(n) for n in self.phases]
        never = r"(?!x)x"  # a knowledge base without phases: nothing is a phase mention
        self._any = re.compile(rf"phase|stage|\bp(?:{_alternatives(digits)})\b"
                               if digits else never)
        self._numbered = re.compile(
            _PRE + r"(?:phase|stage)\s*(?:#|no\.?\s*|number\s+)?"
            rf"(?P<n>{_alternatives(names)})\b" if names else never)
        self._glued = re.compile(_PRE + rf"\bp(?P<n>{_alternatives(digits)})\b"
                                 if digits else never)
        self._ordinal = re.compile(
            _PRE + rf"(?P<o>{_alternatives(ordinals)})\s+(?:phase|stage)\b" if ordinals else never)
        # A quiz result ("scored 4/6", "5 yes on the quiz", "answered yes to all six") places
        # the member in a phase through the quiz's routing table, given to :meth:`read`.
        q = self.questions
        counts = {str(k): k for k in range(q + 1)}
        counts |= {_WORDS[k]: k for k in range(min(q + 1, len(_WORDS)))} | {"none": 0}
        total = [str(q)] + ([_WORDS[q]] if q < len(_WORDS) else [])
        self._counts = counts
        numbers = [*_WORDS, *map(str, range(len(_WORDS)))]  # "all six" of an eight-question quiz
        count = rf"({_alternatives(counts)}|all(?:\s+(?:{_alternatives(numbers)})\b)?)"
        of_total = _alternatives(total)
        self._quiz = re.compile(
            rf"\b{count}\s*(?:/\s*{q}\b|out\s+of\s+(?:{of_total})\b|of\s+(?:the\s+)?"
            rf"(?:{of_total})\b|yes(?:es)?\b)|\byes\s+(?:to|on|for)\s+{count}\b")

    @classmethod
    def of(cls, phases: Sequence[int], questions: int) -> SlotGrammar:
        return _grammar(tuple(sorted(set(phases))), questions)

    def mentions(self, text: str) -> list[tuple[int, int, int, str]]:
        """(start, end, number, kind) for every phase mention; kind is towards/past/here/plain."""
        found: list[tuple[int, int, int, str]] = []
        if not self._any.search(text):
            return found
        for rx in (self._numbered, self._glued, self._ordinal):
            for m in rx.finditer(text):
                groups = m.groupdict()
                n = self._names[groups["n"]] if groups.get("n") else self._ordinals[groups["o"]]
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

    def phase_of(self, mentions: Sequence[tuple[int, int, int, str]]) -> int | None:
        """The phase the member is in, from the mentions in one question: the one before a
        phase they are heading to, the one after a phase they have finished."""
        if not mentions:
            return None
        here = [n for *_, n, k in mentions if k == "here"]
        if here:
            return here[0]
        plain = [n for *_, n, k in mentions if k == "plain"]
        if plain:
            return min(plain)
        *_, n, kind = mentions[0]
        i = self.phases.index(n)
        step = -1 if kind == "towards" else 1
        return self.phases[min(max(i + step, 0), len(self.phases) - 1)]

    def quiz_score(self, text: str) -> int | None:
        """How many quiz questions the member says they answered yes to, if they say so
        ("all of them" is the quiz's length)."""
        m = self._quiz.search(text)
        if not m or ("quiz" not in text and "yes" not in text and "question" not in text):
            return None
        k = " ".join((m.group(1) or m.group(2) or "").split())
        if k == "all":
            return self.questions
        if k.startswith("all "):  # "all six": six, if the quiz has that many questions
            said = k[4:]
            n = int(said) if said.isdigit() else _WORDS.index(said)
            return n if n <= self.questions else None
        return self._counts.get(k)

    def rewrite_phase(self, text: str) -> str:
        """Casefolded text with every phase mention replaced by ``phase`` and one slot token."""
        mentions = self.mentions(text)
        phase = self.phase_of(mentions)
        if phase is None:
            return text
        parts, last = [], 0
        for start, end, *_ in mentions:
            parts.append(text[last:start])
            parts.append(f" {PHASE_WORD} ")
            last = end
        parts.append(text[last:])
        return "".join(parts) + f" {SLOT_PREFIX}{phase}"

    def read(self, text: str, tokens: Sequence[str],
             tools: Iterable[tuple[str, tuple[str, ...]]], routing: Sequence[int] = ()) -> Slots:
        """Slots of a question: ``text`` casefolded, ``tokens`` its raw tokens (after folding),
        ``tools`` (display name, its folded tokens) pairs, ``routing`` the quiz's phase for
        0, 1, … yes answers."""
        phase = self.phase_of(self.mentions(text))
        yes = self.quiz_score(text)
        if phase is None and yes is not None and 0 <= yes < len(routing):
            phase = routing[yes]
        levels = tuple(dict.fromkeys(LEVELS[m] for m in _LEVEL_RE.findall(text.replace("-", ""))))
        named: list[str] = []
        joined = f" {' '.join(tokens)} "
        for name, toks in tools:
            if toks and f" {' '.join(toks)} " in joined and name not in named:
                named.append(name)
        return Slots(phase, levels[0] if levels else None, levels, tuple(named), yes)


@lru_cache(maxsize=16)
def _grammar(phases: tuple[int, ...], questions: int) -> SlotGrammar:
    return SlotGrammar(phases, questions)
