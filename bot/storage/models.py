"""The schema: SQLAlchemy 2.0 typed ORM models (the Alembic migrations mirror these exactly).

Design notes
------------
* A member is the Discord user (``member.id`` = user id, BIGINT); progress belongs to the
  person and follows them across servers. ``guild_membership`` only records where they were
  seen, for per-server statistics, with copies of what those count (the member's phase and
  quiz count on the membership, the member's done checklist items in ``guild_checklist``), kept
  by the writes, so a server's statistics read the server's rows only.
* Enumerations are short strings guarded by CHECK constraints (portable, no PostgreSQL enum
  types to migrate).
* Every timestamp is :class:`~bot.storage.db.UTCDateTime` (aware UTC on both backends).
* Constraint names follow :data:`NAMING_CONVENTION` so migrations can address them.
* Every table holding a member's data is registered for export and delete in
  :data:`bot.storage.repo.privacy.PERSONAL_DATA` (a test enforces it). ``question_log`` rows
  carry the asking member (``member_id``, NULL for anonymous/console questions) so a member's
  questions are exported and deleted with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.limits import MAX_QUESTION_CHARS
from bot.storage.db import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# How many phases there are and how long the quiz is are the knowledge base's to say: the
# constraints below hold only what is true of every knowledge base (phases count from 1,
# answers are indexed from 0), so a knowledge base with a fifth phase needs no migration.
MAX_ITEM_ID = 100
MAX_INTENT_ID = 100
MAX_URL = 500
MAX_REASON = 200
MAX_ERROR = 500
MAX_CHECKIN_TEXT = 500

# Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, autoincrementing) on SQLite.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


def _fk_member() -> ForeignKey:
    return ForeignKey("member.id", ondelete="CASCADE")


class Member(Base):
    __tablename__ = "member"
    __table_args__ = (
        CheckConstraint("current_phase >= 1", name="phase_range"),
        CheckConstraint("phase_source IN ('quiz', 'chosen')", name="phase_source"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    current_phase: Mapped[int | None] = mapped_column(SmallInteger)
    phase_source: Mapped[str | None] = mapped_column(String(10))
    sharing: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: quiz attempts this member finished (kept by ``QuizRepo.finish``); only aggregates read
    #: it, so loading a member leaves it out (deferred)
    quizzes_finished: Mapped[int] = mapped_column(Integer, server_default=text("0"),
                                                  deferred=True)


class GuildMembership(Base):
    """Where a member was seen. ``current_phase`` and ``quizzes_finished`` copy the member's
    (kept by every write of them, and refreshed whenever the member is seen in the server), so
    a server's phase distribution and quiz completions come from its own memberships."""

    __tablename__ = "guild_membership"
    # /stats: a server's member ids, phases and quizzes from the index alone
    __table_args__ = (Index("ix_guild_membership_stats", "guild_id", "member_id", "current_phase",
                            "quizzes_finished"),)

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    current_phase: Mapped[int | None] = mapped_column(SmallInteger, deferred=True)
    quizzes_finished: Mapped[int] = mapped_column(Integer, server_default=text("0"),
                                                  deferred=True)


#: the predicate of ``uq_quiz_attempt_one_open`` (a partial unique index), which an upsert that
#: targets the index must repeat
ONE_OPEN_ATTEMPT = "status = 'open'"


class QuizAttempt(Base):
    __tablename__ = "quiz_attempt"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'finished', 'abandoned')", name="status"),
        CheckConstraint("phase >= 1", name="phase_range"),
        Index(None, "member_id", "started_at"),
        # At most one open attempt per member: concurrent "start" cannot open two.
        Index(
            "uq_quiz_attempt_one_open",
            "member_id",
            unique=True,
            sqlite_where=text(ONE_OPEN_ATTEMPT),
            postgresql_where=text(ONE_OPEN_ATTEMPT),
        ),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member())
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(10))
    score: Mapped[int | None] = mapped_column(SmallInteger)
    phase: Mapped[int | None] = mapped_column(SmallInteger)


class QuizAnswer(Base):
    __tablename__ = "quiz_answer"
    __table_args__ = (
        CheckConstraint("question_index >= 0", name="index_range"),
    )

    attempt_id: Mapped[int] = mapped_column(
        SurrogateKey,
        ForeignKey("quiz_attempt.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    question_index: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    yes: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime]


class ChecklistProgress(Base):
    __tablename__ = "checklist_progress"
    __table_args__ = (
        Index(None, "item_id", "done"),
        # a member's done items and when, from the index alone (the reminders' snapshots;
        # /stats read it member by member until guild_checklist, migration 0011)
        Index(None, "member_id", "done", "item_id", "done_at"),
    )

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(MAX_ITEM_ID), primary_key=True)
    done: Mapped[bool] = mapped_column(Boolean)
    done_at: Mapped[datetime | None]
    undone_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    evidence_url: Mapped[str | None] = mapped_column(String(MAX_URL))


class GuildChecklist(Base):
    """A server's copy of its members' done checklist items: one row per (member, item done,
    server the member was seen in), i.e. exactly ``checklist_progress`` (done rows) joined with
    ``guild_membership``, kept by the writes (``ChecklistRepo`` when an item is marked done or
    undone, ``MembersRepo.touch`` when a member is first seen in a server; removed with the
    membership). So /stats reads a server's funnel and items done per week as one index range
    of the server, not one index descent per member."""

    __tablename__ = "guild_checklist"
    __table_args__ = (
        ForeignKeyConstraint(["member_id", "guild_id"],
                             ["guild_membership.member_id", "guild_membership.guild_id"],
                             ondelete="CASCADE"),
        # /stats: the funnel (per item) and the items done per week from one range of the index
        Index(None, "guild_id", "item_id", "done_at"),
    )

    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[str] = mapped_column(String(MAX_ITEM_ID), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    done_at: Mapped[datetime | None]


class ChecklistEvent(Base):
    __tablename__ = "checklist_event"
    __table_args__ = (
        CheckConstraint("action IN ('done', 'undone')", name="action"),
        Index(None, "member_id", "at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member())
    item_id: Mapped[str] = mapped_column(String(MAX_ITEM_ID))
    action: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime]


class ReminderPref(Base):
    __tablename__ = "reminder_pref"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour_range"),
        Index(None, "enabled", "next_due_utc"),
    )

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    hour: Mapped[int] = mapped_column(SmallInteger)
    timezone: Mapped[str] = mapped_column(String(64))
    next_due_utc: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(String(MAX_REASON))
    last_sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ReminderDelivery(Base):
    __tablename__ = "reminder_delivery"
    __table_args__ = (
        UniqueConstraint("member_id", "period_key"),
        CheckConstraint("status IN ('claimed', 'sent', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member())
    period_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10))
    claimed_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR))


class QuestionLog(Base):
    __tablename__ = "question_log"
    __table_args__ = (
        CheckConstraint("outcome IN ('answered', 'ambiguous', 'unanswered')", name="outcome"),
        Index(None, "created_at"),
        Index(None, "guild_id", "outcome", "created_at"),
        Index(None, "member_id"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(BigInteger, _fk_member())
    text: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    normalized: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    outcome: Mapped[str] = mapped_column(String(12))
    intent_id: Mapped[str | None] = mapped_column(String(MAX_INTENT_ID))
    score: Mapped[float] = mapped_column(Float)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AnswerFeedback(Base):
    __tablename__ = "answer_feedback"

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    intent_id: Mapped[str] = mapped_column(String(MAX_INTENT_ID), primary_key=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BotState(Base):
    """Small operational values shared by every bot process (e.g. the synced command hash)."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GuildConfig(Base):
    """A server's own setup (``/setup``): validated and read by the engine, stored as JSON so a
    new setting needs no migration. Keyed by the server, never by a member."""

    __tablename__ = "guild_config"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberOptIn(Base):
    """What a member opted in to beyond the defaults: a phase role in the servers that map
    them, and milestone announcements (``/roles``, ``/milestones``)."""

    __tablename__ = "member_opt_in"

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    phase_roles: Mapped[bool] = mapped_column(Boolean, server_default=false())
    milestones: Mapped[bool] = mapped_column(Boolean, server_default=false())
    updated_at: Mapped[datetime]


class Milestone(Base):
    """A phase a member completed, announced (or considered) once: never again for that phase."""

    __tablename__ = "milestone"
    __table_args__ = (CheckConstraint("phase >= 1", name="phase_range"),)

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    phase: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    reached_at: Mapped[datetime]


class GuildNotice(Base):
    """Something a server's admins should fix (e.g. the bot may not give phase roles), shown
    in ``/setup show`` until it works again. Keyed by the server and a topic, never a member."""

    __tablename__ = "guild_notice"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    message: Mapped[str] = mapped_column(String(MAX_ERROR))
    noted_at: Mapped[datetime]


class CheckIn(Base):
    """A member's weekly check-in (what they did, what's next, what blocks them), or a week
    they snoozed: one row per member and ISO week (``2026-W49``, in their time zone). The
    private streak is read from these rows."""

    __tablename__ = "checkin"
    __table_args__ = (CheckConstraint("kind IN ('checkin', 'snoozed')", name="kind"),)

    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member(), primary_key=True)
    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    done: Mapped[str | None] = mapped_column(String(MAX_CHECKIN_TEXT))
    next_step: Mapped[str | None] = mapped_column(String(MAX_CHECKIN_TEXT))
    blocker: Mapped[str | None] = mapped_column(String(MAX_CHECKIN_TEXT))
    blocker_intent: Mapped[str | None] = mapped_column(String(MAX_INTENT_ID))
    at: Mapped[datetime]


# --- the knowledge loop (issue 14): the mentors' inbox, the live overlay, answer quality -------

INBOX_STATUSES = ("unanswered", "ambiguous", "not_what_i_asked", "not_helpful",
                  "proposed_answer")
INBOX_RESOLUTIONS = ("taught", "off_topic", "dismissed", "new_intent", "withdrawn")
MAX_TITLE = 200
MAX_NAME = 100


class InboxEntry(Base):
    """What needs a mentor: similar questions (same :func:`normalize_question` key, status and
    server) grouped into one open entry with a count. Who asked is in :class:`InboxAsk` (so a
    member's part goes with their export and deletion); a proposed mentor answer carries its
    text and the mentor's name for the attribution."""

    __tablename__ = "inbox_entry"
    __table_args__ = (
        CheckConstraint("status IN ('unanswered', 'ambiguous', 'not_what_i_asked', "
                        "'not_helpful', 'proposed_answer')", name="status"),
        CheckConstraint("resolution IS NULL OR resolution IN ('taught', 'off_topic', "
                        "'dismissed', 'new_intent', 'withdrawn')", name="resolution"),
        CheckConstraint("count >= 0", name="count_range"),
        # One open entry per (server, question, status): a concurrent second ask increments it.
        Index("uq_inbox_entry_open", "scope", "key", "status", unique=True,
              sqlite_where=text("resolved_at IS NULL"),
              postgresql_where=text("resolved_at IS NULL")),
        Index(None, "resolved_at", "last_at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    #: the server (0: no server — the console, a DM, the command line)
    scope: Mapped[int] = mapped_column(BigInteger)
    #: sha256 of the normalised question: the grouping key (indexable at any length)
    key: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    status: Mapped[str] = mapped_column(String(20))
    guess_intent: Mapped[str | None] = mapped_column(String(MAX_INTENT_ID))
    count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    answer: Mapped[str | None] = mapped_column(Text)  # a proposed mentor answer
    mentor_name: Mapped[str | None] = mapped_column(String(MAX_NAME))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(12))
    resolved_intent: Mapped[str | None] = mapped_column(String(MAX_INTENT_ID))


class AdoptRequest(Base):
    """The first mentor's *Make it an intent* on an inbox entry, where the server asks a
    second, different mentor to confirm (``/setup confirmations``)."""

    __tablename__ = "adopt_request"

    entry_id: Mapped[int] = mapped_column(
        SurrogateKey, ForeignKey("inbox_entry.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False)
    mentor_id: Mapped[int] = mapped_column(BigInteger)
    mentor_name: Mapped[str] = mapped_column(String(MAX_NAME))
    requested_at: Mapped[datetime]


class InboxAsk(Base):
    """One member's part in an inbox entry: their question (as they wrote it), or their
    feedback on an answer, or the answer they proposed as a mentor."""

    __tablename__ = "inbox_ask"
    __table_args__ = (Index(None, "member_id"), Index(None, "entry_id"))

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        SurrogateKey, ForeignKey("inbox_entry.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member())
    text: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    created_at: Mapped[datetime]


class OverlayPhrase(Base):
    """A phrasing taught by a mentor: served at once, before the matcher. ``intent_id`` NULL
    means off-topic (the honest "I don't know")."""

    __tablename__ = "overlay_phrase"
    __table_args__ = (
        Index("uq_overlay_phrase_live", "key", unique=True,
              sqlite_where=text("retired_at IS NULL"),
              postgresql_where=text("retired_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    phrasing: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    intent_id: Mapped[str | None] = mapped_column(String(MAX_INTENT_ID))
    taught_by: Mapped[str | None] = mapped_column(String(MAX_NAME))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class OverlayIntent(Base):
    """A new intent made from a mentor's answer (``community.<slug>``), answerable at once."""

    __tablename__ = "overlay_intent"

    id: Mapped[str] = mapped_column(String(MAX_INTENT_ID), primary_key=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    summary: Mapped[str] = mapped_column(String(500))
    short: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(MAX_TITLE))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


MAX_GUESSES = 500


class Escalation(Base):
    """A question a member passed to the mentors with *Ask a mentor*: one per member, server and
    question (:func:`question_key`). It is posted as a thread in the mentors' channel
    (``thread_id``, its first bot message ``message_id``); a mentor claims it (compare-and-set
    on ``claimed_by``); unclaimed at ``remind_at`` it gets one reminder in its thread, sent by
    whichever dispatcher holds ``reminder_lease_until``; ``answered_at`` is the first *Mark as
    answer*. The member's data: exported, deleted with them, gone when they withdraw it."""

    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("member_id", "scope", "key"),
        Index(None, "remind_at"),
        Index(None, "thread_id"),
        Index(None, "scope", "answered_at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, _fk_member())
    scope: Mapped[int] = mapped_column(BigInteger)  # the server
    key: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS))
    guesses: Mapped[str] = mapped_column(String(MAX_GUESSES))  # intent ids, comma-separated
    context: Mapped[str | None] = mapped_column(Text)  # phase and checklist, when shared
    channel_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]
    reminder_lease_until: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    claimed_name: Mapped[str | None] = mapped_column(String(MAX_NAME))
    claimed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]


class IntentQuality(Base):
    """Answer quality per intent: answered asks, helpful / not helpful votes (one per member,
    a changed vote moves), *Not what I asked* presses."""

    __tablename__ = "intent_quality"

    intent_id: Mapped[str] = mapped_column(String(MAX_INTENT_ID), primary_key=True)
    asks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    helpful: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    not_helpful: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    not_what_i_asked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime]


__all__ = [
    "AdoptRequest",
    "AnswerFeedback",
    "Base",
    "BotState",
    "CheckIn",
    "ChecklistEvent",
    "ChecklistProgress",
    "Escalation",
    "GuildChecklist",
    "GuildConfig",
    "GuildMembership",
    "GuildNotice",
    "InboxAsk",
    "InboxEntry",
    "IntentQuality",
    "Member",
    "MemberOptIn",
    "Milestone",
    "OverlayIntent",
    "OverlayPhrase",
    "QuestionLog",
    "QuizAnswer",
    "QuizAttempt",
    "ReminderDelivery",
    "ReminderPref",
]
