"""Immutable values returned by the repositories (never ORM objects).

All datetimes are timezone-aware UTC. User and guild ids are ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Literal, NamedTuple, TypeVar

PhaseSource = Literal["quiz", "chosen"]
QuizStatus = Literal["open", "finished", "abandoned"]
ChecklistAction = Literal["done", "undone"]
Outcome = Literal["answered", "ambiguous", "unanswered"]
DeliveryStatus = Literal["claimed", "sent", "failed"]


K = TypeVar("K")
V = TypeVar("V")


def _frozen_map(data: Mapping[K, V]) -> Mapping[K, V]:
    return MappingProxyType(dict(data))


@dataclass(frozen=True, slots=True)
class MemberRecord:
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    current_phase: int | None
    phase_source: PhaseSource | None
    sharing: bool
    guild_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class QuizAttemptRecord:
    id: int
    user_id: int
    status: QuizStatus
    answers: tuple[bool, ...]
    started_at: datetime
    finished_at: datetime | None
    score: int | None
    phase: int | None

    @property
    def next_index(self) -> int:
        """Index of the next question to ask (== number of answers so far)."""
        return len(self.answers)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class ItemState:
    item_id: str
    done: bool
    done_at: datetime | None
    undone_at: datetime | None
    updated_at: datetime
    evidence_url: str | None


@dataclass(frozen=True, slots=True)
class ChecklistEvent:
    item_id: str
    action: ChecklistAction
    at: datetime


class Progress(NamedTuple):
    """``(done, total)``: unpacks like a tuple, with ratio/percent helpers."""

    done: int
    total: int

    @property
    def ratio(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.ratio)


@dataclass(frozen=True, slots=True)
class ProgressSummary:
    user_id: int
    #: phase number -> (done, total) over the item ids given for that phase
    per_phase: Mapping[int, Progress]
    #: (done, total) over all given item ids
    overall: Progress
    #: newest first, only items that still exist in the knowledge base
    recent: tuple[ChecklistEvent, ...]
    #: the member (None: never stored), read in the same transaction
    member: MemberRecord | None = None
    #: every item id the member has done (stored, whether or not the knowledge base has it)
    done_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_phase", _frozen_map(self.per_phase))

    @property
    def current_phase(self) -> int | None:
        return self.member.current_phase if self.member else None


@dataclass(frozen=True, slots=True)
class ReminderPrefRecord:
    user_id: int
    enabled: bool
    weekday: int  # Monday = 0
    hour: int  # 0-23, local to ``timezone``
    timezone: str  # IANA name
    next_due_utc: datetime | None
    paused_reason: str | None
    last_sent_at: datetime | None
    updated_at: datetime

    @property
    def active(self) -> bool:
        """Enabled and not paused: the dispatcher will consider it."""
        return self.enabled and self.paused_reason is None


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A claimed reminder delivery: send it, then ``mark_sent`` or ``mark_failed``."""

    delivery_id: int
    user_id: int
    period_key: str
    attempts: int
    claimed_at: datetime
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    user_id: int
    period_key: str
    status: DeliveryStatus
    claimed_at: datetime
    lease_until: datetime | None
    sent_at: datetime | None
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class GuildStats:
    guild_id: int
    #: members seen in this server
    members: int
    #: of those, members without a phase yet (no quiz taken, none chosen)
    unplaced: int
    #: phase (every phase 1-4, zeros included) -> members of this server in that phase
    phase_distribution: Mapping[int, int]
    #: item id -> members of this server who have it done, in knowledge-base order
    funnel: Mapping[str, int]
    #: finished quiz attempts by members of this server, and how many distinct members
    quiz_completions: int
    quiz_completers: int
    #: (normalised question, count), most frequent first
    top_unanswered: tuple[tuple[str, int], ...] = field(default=())
    #: ISO weeks, oldest first (each week's Monday 00:00 UTC, the current week last), with the
    #: checklist items this server's members marked done that week...
    weekly_done: tuple[tuple[date, int], ...] = field(default=())
    #: ... and the questions asked in this server that got no confident answer
    weekly_unanswered: tuple[tuple[date, int], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase_distribution", _frozen_map(self.phase_distribution))
        object.__setattr__(self, "funnel", _frozen_map(self.funnel))


__all__ = [
    "ChecklistEvent",
    "DeliveryClaim",
    "DeliveryRecord",
    "GuildStats",
    "ItemState",
    "MemberRecord",
    "Progress",
    "ProgressSummary",
    "QuizAttemptRecord",
    "ReminderPrefRecord",
]
