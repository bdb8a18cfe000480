"""Ask a mentor (issue 14): questions members pass to the mentors, as threads with a claim,
one reminder when unclaimed, and the time to the first mentor answer; the first mentor's press
on an inbox entry that a second mentor must confirm before it becomes an intent.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "escalation",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=2000), nullable=False),
        sa.Column("guesses", sa.String(length=500), nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("remind_at", _TS, nullable=True),
        sa.Column("reminder_lease_until", _TS, nullable=True),
        sa.Column("reminded_at", _TS, nullable=True),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("claimed_name", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("answered_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_escalation_member_id_member"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
        sa.UniqueConstraint("member_id", "scope", "key",
                            name=op.f("uq_escalation_member_id_scope_key")),
    )
    op.create_index(op.f("ix_escalation_remind_at"), "escalation", ["remind_at"], unique=False)
    op.create_index(op.f("ix_escalation_thread_id"), "escalation", ["thread_id"], unique=False)
    op.create_index(op.f("ix_escalation_scope_answered_at"), "escalation",
                    ["scope", "answered_at"], unique=False)
    op.create_table(
        "adopt_request",
        sa.Column("entry_id", _KEY, autoincrement=False, nullable=False),
        sa.Column("mentor_id", sa.BigInteger(), nullable=False),
        sa.Column("mentor_name", sa.String(length=100), nullable=False),
        sa.Column("requested_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["inbox_entry.id"],
                                name=op.f("fk_adopt_request_entry_id_inbox_entry"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_adopt_request")),
    )


def downgrade() -> None:
    op.drop_table("adopt_request")
    op.drop_index(op.f("ix_escalation_scope_answered_at"), table_name="escalation")
    op.drop_index(op.f("ix_escalation_thread_id"), table_name="escalation")
    op.drop_index(op.f("ix_escalation_remind_at"), table_name="escalation")
    op.drop_table("escalation")
