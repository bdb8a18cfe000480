"""Pydantic models of the YAML files in ``knowledge/``.

One model per file shape. Every model forbids unknown keys so a typo in a YAML key is an error
with a location, not a silently ignored field. Cross-file rules (ids unique, related ids exist,
quiz routing covers 0..len(questions) once, phases are 1..N and every phase named exists) live in
``loader.py``: the knowledge base, not this schema, says how many phases and questions there are.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

SourceFile = Annotated[str, StringConstraints(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")]
"""A source article, named by its file name in ``shared/sources/``."""

IntentId = Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z0-9][a-z0-9-]*$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^p[0-9]{1,2}\.[a-z0-9][a-z0-9-]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
IntentKind = Literal["roadblock", "faq", "phase", "topic"]


class Model(BaseModel):
    # defer_build: a model's validator is built when it first validates, not when the class is
    # defined. A start that loads the knowledge base from the cache (loader.py) validates
    # nothing and so never builds one (~15 ms of a cold `mentorbot ask`).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- sources.yaml -------------------------------------------------------------------------------


class Source(Model):
    file: SourceFile
    title: Text  # the article's own title
    publisher: Text  # as the article shows it; says so where the article names none
    name: Text  # the short name answers use in prose: "MentorCruise career roadmap"
    covers: Text  # one line: what members can learn from it (for /sources)
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None

    @property
    def display(self) -> str:
        """What a member sees instead of the file name: ``Title (Publisher)``."""
        return f"{self.title} ({self.publisher})"


class SourcesFile(Model):
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _register(self) -> SourcesFile:
        files = [s.file for s in self.sources]
        if len(files) != len(set(files)):
            raise ValueError("a source file is listed twice")
        self.register()
        return self

    def register(self) -> None:
        """Make these sources' names known to :func:`source_display` / :func:`source_name`
        (done by validation, and by the loader for a knowledge base it did not validate)."""
        _SOURCE_NAMES.update({s.file: s for s in self.sources})

    def get(self, file: str) -> Source | None:
        return next((s for s in self.sources if s.file == file), None)


_SOURCE_NAMES: dict[str, Source] = {}
"""Every source validated in this process, by file name. File names carry a content hash, so one
name means one article; this lets templates show a source's name without being handed the
knowledge base (see ``source_display``)."""

UNKNOWN_SOURCE = "one of the source articles"


def source_display(file: str) -> str:
    """``Title (Publisher)`` for a source file name; never the file name itself."""
    src = _SOURCE_NAMES.get(file)
    return src.display if src else UNKNOWN_SOURCE


def source_name(file: str) -> str:
    """The short prose name of a source (``MentorCruise career roadmap``)."""
    src = _SOURCE_NAMES.get(file)
    return src.name if src else UNKNOWN_SOURCE


# --- levels.yaml --------------------------------------------------------------------------------


class Level(Model):
    name: Text  # "Junior/Entry"
    title: Text | None = None  # job title where the source gives one
    experience: Text  # "0-2 years"
    focus: Text | None = None
    unlocks: Text | None = None  # what unlocks the next level
    plateau: Text | None = None  # the usual plateau at this level
    salary: Text | None = None  # as the source states it, never blended


class Ladder(Model):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")]
    title: Text
    source: SourceFile
    note: Text | None = None
    levels: list[Level] = Field(min_length=2)


class LevelsFile(Model):
    ladders: list[Ladder] = Field(min_length=1)


# --- phases.yaml --------------------------------------------------------------------------------


class Shift(Model):
    """One row of a phase's before/after table."""

    dimension: Text
    before: Text
    after: Text


class ChecklistItem(Model):
    id: ItemId  # stable forever: stored progress refers to it
    title: Text
    hint: Text  # concrete "how to get there"


class Phase(Model):
    number: int = Field(ge=1)  # 1..N, consecutive (loader.py); N is the knowledge base's
    title: Text
    level: Text  # the level this phase corresponds to, e.g. "Junior → Mid"
    summary: Text
    before_label: Text  # column heading of the "before" side, e.g. "DevOps baseline"
    shifts: list[Shift] = Field(min_length=2)
    failure_mode: Text
    tools: list[Text] = Field(min_length=1)
    checklist_heading: Text  # "Before you move on to phase 2" / "Operating at this level"
    checklist: list[ChecklistItem] = Field(min_length=3)
    sources: list[SourceFile] = Field(min_length=1)


class PhasesFile(Model):
    phases: list[Phase] = Field(min_length=1)


# --- quiz.yaml ----------------------------------------------------------------------------------


class QuizQuestion(Model):
    id: Annotated[str, StringConstraints(pattern=r"^q[0-9]{1,2}$")]
    text: Text
    why: Text  # what a "yes" shows, shown with the result


class Route(Model):
    min_yes: int = Field(ge=0)  # the routes cover 0..len(questions) once (loader.py)
    max_yes: int = Field(ge=0)
    phase: int = Field(ge=1)
    verdict: Text


class QuizFile(Model):
    intro: Text
    questions: list[QuizQuestion] = Field(min_length=1)
    routing: list[Route] = Field(min_length=1)
    sources: list[SourceFile] = Field(min_length=1)


# --- tools.yaml ---------------------------------------------------------------------------------


class Tool(Model):
    name: Text
    choose_when: Text  # when to choose it over the alternatives
    phase: int = Field(ge=1)
    sources: list[SourceFile] = Field(min_length=1)


class ToolCategory(Model):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")]
    name: Text
    intent: IntentId | None = None  # the topic intent that discusses this category
    tools: list[Tool] = Field(min_length=1)


class ToolsFile(Model):
    categories: list[ToolCategory] = Field(min_length=1)


# --- roadmap.yaml -------------------------------------------------------------------------------


class RoadmapStage(Model):
    months: Text  # "1-3"
    title: Text
    goals: list[Text] = Field(min_length=1)
    tools: list[Text] = Field(default_factory=list)
    milestone: Text


class RoadmapFile(Model):
    title: Text
    sources: list[SourceFile] = Field(min_length=1)
    stages: list[RoadmapStage] = Field(min_length=2)


# --- intents/*.yaml -----------------------------------------------------------------------------


class Fact(Model):
    """A labelled figure shown as an embed field, with the source it comes from."""

    label: Text
    value: Text
    source: SourceFile


SHORT_MAX_WORDS = 80
SHORT_SENTENCES = (2, 4)
PART_MAX_WORDS = 60

LevelName = Literal["junior", "mid", "senior", "staff", "principal"]
ToolSlug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]

_SENTENCE_END = re.compile(r"[.!?](?:[*_)\"'”’]*)(?=\s|$)")


def word_count(text: str) -> int:
    return len(text.split())


def sentence_count(text: str) -> int:
    """Sentences end in ``.``, ``!`` or ``?`` followed by a space or the end (so ``99.9%`` and
    ``$1.5M`` are not ends); a text without a final stop still counts its last sentence."""
    ends = len(_SENTENCE_END.findall(text))
    return ends + (0 if _SENTENCE_END.search(text.rstrip()[-3:] + " ") else 1)


def tool_slug(name: str) -> str:
    """``Weights & Biases`` → ``weights-biases``; how a tool is named in a part's slot."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Slot(Model):
    """What a part answers. A question's slots (from the matcher) pick the part whose slot keys
    all agree with them. ``level`` and ``tool`` take one value or a list: a level part answers any
    of its levels; a tool part discusses each of its tools (two tools: a trade-off)."""

    level: tuple[LevelName, ...] | None = None
    phase: int | None = Field(default=None, ge=1)
    tool: tuple[ToolSlug, ...] | None = None
    source: SourceFile | None = None
    yes_count: int | None = Field(default=None, ge=0)

    @field_validator("level", "tool", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @field_validator("level", "tool")
    @classmethod
    def _not_empty(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and not v:
            raise ValueError("give at least one value")
        if v is not None and len(set(v)) != len(v):
            raise ValueError("a value is repeated")
        return v

    @field_validator("tool")
    @classmethod
    def _pair_at_most(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and len(v) > 2:
            raise ValueError("a tool part is about one tool or a pair")
        return v

    @model_validator(mode="after")
    def _some_key(self) -> Slot:
        if not self.keys():
            raise ValueError(f"a slot needs at least one of {', '.join(SLOT_KEYS)}")
        return self

    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in SLOT_KEYS if getattr(self, k) is not None)


SLOT_KEYS: tuple[str, ...] = ("level", "phase", "tool", "source", "yes_count")


class Part(Model):
    """The part of an answer a member asked for: one level's pay, one phase, one tool pair."""

    slot: Slot
    text: Text

    @field_validator("text")
    @classmethod
    def _short(cls, v: str) -> str:
        if word_count(v) > PART_MAX_WORDS:
            raise ValueError(f"a part is at most {PART_MAX_WORDS} words ({word_count(v)})")
        return v

    @model_validator(mode="after")
    def _pair_in_two_lines(self) -> Part:
        lines = [line for line in self.text.splitlines() if line.strip()]
        if self.slot.tool and len(self.slot.tool) == 2 and len(lines) != 2:
            raise ValueError("a two-tool trade-off is two lines, one per tool")
        return self


def _as_set(value: object) -> set[object]:
    if value is None:
        return set()
    return set(value) if isinstance(value, (list, tuple, set, frozenset)) else {value}


def _agrees(key: str, have: object, want: object) -> bool:
    values, wanted = _as_set(have), _as_set(want)
    return wanted <= values if key == "tool" else bool(wanted & values)


class Intent(Model):
    id: IntentId
    kind: IntentKind
    title: Text
    summary: Text  # one line, shown in "did you mean" lists and autocomplete
    short: Text  # the first answer: 2-4 sentences, at most 80 words, with the figure/step/choice
    parts: list[Part] = Field(default_factory=list)  # the part asked for, picked by slots
    answer: Text  # markdown, the project's own words, with the concrete figures and tools
    why: Text | None = None  # roadblocks: why it happens
    unlock: Text | None = None  # roadblocks: what unlocks it
    facts: list[Fact] = Field(default_factory=list)
    related: list[IntentId] = Field(default_factory=list)
    sources: list[SourceFile] = Field(min_length=1)
    examples: list[Text] = Field(min_length=6)  # phrasings members use, for matching
    keywords: list[Text] = Field(default_factory=list)  # discriminating terms and tool names

    @field_validator("answer")
    @classmethod
    def _substantive(cls, v: str) -> str:
        if len(v) < 300:
            raise ValueError("answer is too short to be useful (under 300 characters)")
        return v

    @field_validator("short")
    @classmethod
    def _short_answer(cls, v: str) -> str:
        words, sentences = word_count(v), sentence_count(v)
        lo, hi = SHORT_SENTENCES
        if words > SHORT_MAX_WORDS:
            raise ValueError(f"short answer is at most {SHORT_MAX_WORDS} words ({words})")
        if not lo <= sentences <= hi:
            raise ValueError(f"short answer is {lo}-{hi} sentences ({sentences})")
        return v

    @model_validator(mode="after")
    def _distinct_parts(self) -> Intent:
        seen: set[Slot] = set()
        for part in self.parts:
            if part.slot in seen:
                raise ValueError(f"two parts have the same slot {part.slot.model_dump()}")
            seen.add(part.slot)
        return self

    def parts_for(self, **slots: object) -> list[Part]:
        """Parts whose every slot key agrees with the asked ``slots``, best first.

        A level part agrees when the asked level is one of its levels; a tool part when every
        asked tool is one it discusses (so "feast or tecton" picks the Feast/Tecton pair, and
        "feast" alone prefers a Feast-only part over the pair)."""
        scored: list[tuple[int, int, Part]] = []
        for part in self.parts:
            keys = part.slot.keys()
            if any(slots.get(k) is None for k in keys):
                continue
            if all(_agrees(k, getattr(part.slot, k), slots[k]) for k in keys):
                extra = len(part.slot.tool or ()) - len(_as_set(slots.get("tool")))
                scored.append((-len(keys), extra, part))
        return [p for *_, p in sorted(scored, key=lambda t: (t[0], t[1]))]

    @field_validator("id")
    @classmethod
    def _kind_prefix(cls, v: str) -> str:
        if not re.match(r"^(roadblock|faq|phase|topic)\.", v):
            raise ValueError("id must start with roadblock., faq., phase. or topic.")
        return v


class IntentsFile(Model):
    intents: list[Intent] = Field(min_length=1)


# --- out_of_scope.yaml --------------------------------------------------------------------------


class NegativeTopic(Model):
    """Things members ask that this bot does not answer; they compete with the intents so a
    question that shares a word with the field ("my car drifts") is not served a wrong answer."""

    id: Annotated[str, StringConstraints(pattern=r"^oos\.[a-z0-9-]+$")]
    title: Text
    examples: list[Text] = Field(min_length=3)


class OutOfScopeFile(Model):
    topics: list[NegativeTopic] = Field(default_factory=list)


# --- uncovered.yaml -----------------------------------------------------------------------------


class UncoveredTopic(Model):
    """An MLOps-career question none of the sources answers (a CS degree, resume review, pay
    outside the US). Matching one lets the bot say so honestly and offer the nearest topics
    instead of serving a neighbouring answer as if it were the answer."""

    id: Annotated[str, StringConstraints(pattern=r"^uncovered\.[a-z0-9-]+$")]
    title: Text  # "Whether you need a computer science degree"
    note: Text  # one or two sentences: what the sources do (and don't) say nearby
    nearest: list[IntentId] = Field(min_length=1, max_length=3)
    examples: list[Text] = Field(min_length=4)


class UncoveredFile(Model):
    topics: list[UncoveredTopic] = Field(default_factory=list)
