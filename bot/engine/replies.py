"""The structured reply every flow returns; front ends turn it into an embed or terminal text.

Everything a front end or the metrics read from a reply is a typed field: which flow made it
(:class:`Kind`), why it failed (:class:`ErrorCause`), the quiz step it shows, the checklist items
it lists, the match behind an answer. Nobody reads a reply by dictionary key or parses its ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.matching.matcher import MatchResult

Tone = Literal["info", "success", "warning", "error"]
Style = Literal["primary", "secondary", "success", "danger"]


class Kind(StrEnum):
    """Which flow made a reply (metrics count by it; front ends branch on it)."""

    ASK = "ask"  # an answer to a free-text question, "did you mean", or "I don't know"
    ANSWER = "answer"  # a topic shown by id (a button, /faq, /roadblock)
    FEEDBACK = "feedback"
    BROWSE = "browse"  # /phase, /levels, /tools, /roadmap
    HELP = "help"
    QUIZ = "quiz"  # a quiz question, or a quiz that has ended
    QUIZ_RESULT = "quiz_result"
    CHECKLIST = "checklist"
    PROGRESS = "progress"
    REMINDERS = "reminders"
    REMINDER = "reminder"  # the weekly DM itself
    CHECKIN = "checkin"  # a weekly check-in's answer
    PRIVACY = "privacy"
    STATS = "stats"
    ADMIN = "admin"  # /kb reload
    DIGEST = "digest"  # the mentors' weekly digest of open blockers (a channel post)
    ERROR = "error"


class ErrorCause(StrEnum):
    """Why a reply is an error: ``member`` (they can fix it) or one of ours."""

    MEMBER = "member"
    DATABASE = "database"  # unreachable: nothing was changed
    STORAGE = "storage"  # the data changed meanwhile
    BUSY = "busy"  # turned away before starting: too much at once
    DISCORD = "discord"  # Discord refused or timed out on our side of the conversation
    INTERNAL = "internal"


@dataclass(frozen=True)
class Action:
    """A button / choice. ``id`` is stable and carries its state ("quiz:ans:12:3:y"): a front end
    hands it back to :meth:`bot.engine.core.Engine.act` unchanged, even after a restart. The
    route table (:mod:`bot.engine.commands`) says what an id does; nobody else parses it."""

    id: str
    label: str
    style: Style = "secondary"


@dataclass(frozen=True)
class ReplyField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    description: str = ""


@dataclass(frozen=True)
class QuizStep:
    """The quiz question a reply asks (0-based ``index``), so a typed "yes" can answer it."""

    attempt: int
    index: int


@dataclass(frozen=True)
class QuizOutcome:
    phase: int
    score: int


@dataclass(frozen=True)
class ChecklistState:
    """What a checklist reply shows: the phase, its item ids in order, and what changed."""

    phase: int
    items: tuple[str, ...]
    done: int
    changed_item: str | None = None
    changed_to_done: bool | None = None
    phase_complete: bool = False


@dataclass(frozen=True)
class ReminderDigest:
    """What a weekly reminder reports, besides its text."""

    user_id: int
    phase: int
    done: int
    total: int
    done_since: tuple[str, ...]
    next_item: str | None
    stalled: bool
    roadblock: str | None


@dataclass(frozen=True)
class CheckInOutcome:
    """A stored check-in: its ISO week, the member's streak, and the intent the blocker fits
    (None: no blocker, or none that fits)."""

    week: str
    streak: int
    blocker_intent: str | None


@dataclass(frozen=True)
class RoleEffect:
    """The phase roles a member should have in a server, applied by a front end that can
    (Discord) after the reply is sent: give ``add`` (if any), take away ``remove``."""

    guild_id: int
    user_id: int
    phase: int | None  # the phase whose role it is (None: no phase role at all)
    add: int | None
    remove: tuple[int, ...]


@dataclass(frozen=True)
class Announcement:
    """A message for a server's channel — a milestone, or a check-in shared in the progress
    channel — posted after the reply, mentions off."""

    guild_id: int
    channel_id: int
    user_id: int
    phase: int | None  # the phase a milestone is for
    title: str
    body: str  # markdown
    what: Literal["milestone", "checkin"] = "milestone"


@dataclass(frozen=True)
class ThreadPost:
    """A question passed to the mentors: a front end that can (Discord) opens a thread in the
    mentors' channel — a forum post, or a thread on a text channel — whose first message is
    ``message`` (mentions off), then records it with ``EscalationsRepo.posted``."""

    guild_id: int
    channel_id: int
    escalation_id: int
    name: str  # the thread's name
    message: Reply


@dataclass(frozen=True)
class MessageEdit:
    """A message the bot posted earlier, to be replaced by ``message`` (a withdrawn question's
    thread post)."""

    channel_id: int
    message_id: int
    message: Reply


@dataclass(frozen=True)
class DirectMessage:
    """A DM to someone other than the member acting (a mentor's answer, to the asker)."""

    user_id: int
    message: Reply


@dataclass(frozen=True)
class Reply:
    title: str
    body: str  # markdown
    kind: Kind = Kind.ASK
    fields: tuple[ReplyField, ...] = ()
    actions: tuple[Action, ...] = ()
    private: bool = False  # only the member should see it (ephemeral / DM)
    tone: Tone = "info"
    footer: str | None = None
    attachment: Attachment | None = None
    error: ErrorCause | None = None  # set on every Kind.ERROR reply
    match: MatchResult | None = None  # the matcher's verdict behind an /ask reply
    intent: str | None = None  # the topic shown
    quiz: QuizStep | None = None
    outcome: QuizOutcome | None = None
    checklist: ChecklistState | None = None
    overall: tuple[int, int] | None = None  # progress: items done / all items
    reminder: ReminderDigest | None = None
    checkin: CheckInOutcome | None = None
    roles: tuple[RoleEffect, ...] = ()  # phase roles to set after the reply, per server
    announce: tuple[Announcement, ...] = ()  # channel posts to make after the reply
    pending: bool = False  # it asks something (a quiz question, "delete?"): keep it open
    escalate: ThreadPost | None = None  # a thread to open for the mentors after the reply
    edits: tuple[MessageEdit, ...] = ()  # earlier bot messages to change after the reply
    dm: DirectMessage | None = None  # a DM to send to someone else, before the reply

    @property
    def unanswered(self) -> bool:
        return self.match is not None and self.match.status == "unanswered"
