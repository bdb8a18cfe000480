"""initial schema: members, guilds, quiz, checklist, reminders, question log, feedback

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:02:20.398622
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('member',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current_phase', sa.SmallInteger(), nullable=True),
    sa.Column('phase_source', sa.String(length=10), nullable=True),
    sa.Column('sharing', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.CheckConstraint("phase_source IN ('quiz', 'chosen')", name=op.f('ck_member_phase_source')),
    sa.CheckConstraint('current_phase BETWEEN 1 AND 4', name=op.f('ck_member_phase_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member'))
    )
    op.create_table('question_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('normalized', sa.String(length=500), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('intent_id', sa.String(length=100), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('answered', 'ambiguous', 'unanswered')", name=op.f('ck_question_log_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_question_log'))
    )
    op.create_index(op.f('ix_question_log_created_at'), 'question_log', ['created_at'], unique=False)
    op.create_index(op.f('ix_question_log_guild_id_outcome_created_at'), 'question_log', ['guild_id', 'outcome', 'created_at'], unique=False)

    op.create_table('answer_feedback',
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('intent_id', sa.String(length=100), nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_answer_feedback_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'intent_id', name=op.f('pk_answer_feedback'))
    )
    op.create_table('checklist_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('done', 'undone')", name=op.f('ck_checklist_event_action')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_checklist_event_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_event'))
    )
    op.create_index(op.f('ix_checklist_event_member_id_at'), 'checklist_event', ['member_id', 'at'], unique=False)

    op.create_table('checklist_progress',
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence_url', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_checklist_progress_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'item_id', name=op.f('pk_checklist_progress'))
    )
    op.create_index(op.f('ix_checklist_progress_item_id_done'), 'checklist_progress', ['item_id', 'done'], unique=False)

    op.create_table('guild_membership',
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('guild_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_guild_membership_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'guild_id', name=op.f('pk_guild_membership'))
    )
    op.create_index(op.f('ix_guild_membership_guild_id'), 'guild_membership', ['guild_id'], unique=False)

    op.create_table('quiz_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=True),
    sa.Column('phase', sa.SmallInteger(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'finished', 'abandoned')", name=op.f('ck_quiz_attempt_status')),
    sa.CheckConstraint('phase BETWEEN 1 AND 4', name=op.f('ck_quiz_attempt_phase_range')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_quiz_attempt_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_attempt'))
    )
    op.create_index(op.f('ix_quiz_attempt_member_id_started_at'), 'quiz_attempt', ['member_id', 'started_at'], unique=False)
    op.create_index('uq_quiz_attempt_one_open', 'quiz_attempt', ['member_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('reminder_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('period_key', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.CheckConstraint("status IN ('claimed', 'sent', 'failed')", name=op.f('ck_reminder_delivery_status')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_reminder_delivery_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_delivery')),
    sa.UniqueConstraint('member_id', 'period_key', name=op.f('uq_reminder_delivery_member_id_period_key'))
    )
    op.create_table('reminder_pref',
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('next_due_utc', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_reason', sa.String(length=200), nullable=True),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('hour BETWEEN 0 AND 23', name=op.f('ck_reminder_pref_hour_range')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_reminder_pref_weekday_range')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_reminder_pref_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_reminder_pref'))
    )
    op.create_index(op.f('ix_reminder_pref_enabled_next_due_utc'), 'reminder_pref', ['enabled', 'next_due_utc'], unique=False)

    op.create_table('quiz_answer',
    sa.Column('attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('question_index', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('yes', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('question_index BETWEEN 0 AND 5', name=op.f('ck_quiz_answer_index_range')),
    sa.ForeignKeyConstraint(['attempt_id'], ['quiz_attempt.id'], name=op.f('fk_quiz_answer_attempt_id_quiz_attempt'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('attempt_id', 'question_index', name=op.f('pk_quiz_answer'))
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in (
        "quiz_answer",
        "reminder_pref",
        "reminder_delivery",
        "quiz_attempt",
        "guild_membership",
        "checklist_progress",
        "checklist_event",
        "answer_feedback",
        "question_log",
        "member",
    ):
        op.drop_table(table)
