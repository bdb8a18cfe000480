"""Pydantic models of the YAML files in ``knowledge/``.

One model per file shape. Every model forbids unknown keys so a typo in a YAML key is an error
with a location, not a silently ignored field. Cross-file rules (ids unique, related ids exist,
quiz routing covers 0..6 once, every catalogue id present) live in ``loader.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SourceFile = Annotated[str, StringConstraints(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")]
"""A source article, named by its file name in ``shared/sources/``."""

IntentId = Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z0-9][a-z0-9-]*$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^p[1-4]\.[a-z0-9][a-z0-9-]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
IntentKind = Literal["roadblock", "faq", "phase", "topic"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sources.yaml -------------------------------------------------------------------------------


class Source(Model):
    file: SourceFile
    title: Text
    kind: Text = Field(description="e.g. 'mentor article', 'career profile', 'guide'")


class SourcesFile(Model):
    sources: list[Source] = Field(min_length=1)


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
    number: int = Field(ge=1, le=4)
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
    phases: list[Phase] = Field(min_length=4, max_length=4)


# --- quiz.yaml ----------------------------------------------------------------------------------


class QuizQuestion(Model):
    id: Annotated[str, StringConstraints(pattern=r"^q[1-6]$")]
    text: Text
    why: Text  # what a "yes" shows, shown with the result


class Route(Model):
    min_yes: int = Field(ge=0, le=6)
    max_yes: int = Field(ge=0, le=6)
    phase: int = Field(ge=1, le=4)
    verdict: Text


class QuizFile(Model):
    intro: Text
    questions: list[QuizQuestion] = Field(min_length=6, max_length=6)
    routing: list[Route] = Field(min_length=1)
    sources: list[SourceFile] = Field(min_length=1)


# --- tools.yaml ---------------------------------------------------------------------------------


class Tool(Model):
    name: Text
    choose_when: Text  # when to choose it over the alternatives
    phase: int = Field(ge=1, le=4)
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


class Intent(Model):
    id: IntentId
    kind: IntentKind
    title: Text
    summary: Text  # one line, shown in "did you mean" lists and autocomplete
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
