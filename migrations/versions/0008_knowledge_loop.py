"""the knowledge loop: the mentors' inbox, the live overlay, answer quality per intent

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox_entry",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("scope", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("guess_intent", sa.String(length=100), nullable=True),
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("mentor_name", sa.String(length=100), nullable=True),
        sa.Column("first_at", _TS, nullable=False),
        sa.Column("last_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("resolution", sa.String(length=12), nullable=True),
        sa.Column("resolved_intent", sa.String(length=100), nullable=True),
        sa.CheckConstraint("status IN ('unanswered', 'ambiguous', 'not_what_i_asked', "
                           "'not_helpful', 'proposed_answer')",
                           name=op.f("ck_inbox_entry_status")),
        sa.CheckConstraint("resolution IS NULL OR resolution IN ('taught', 'off_topic', "
                           "'dismissed', 'new_intent', 'withdrawn')",
                           name=op.f("ck_inbox_entry_resolution")),
        sa.CheckConstraint("count >= 0", name=op.f("ck_inbox_entry_count_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_entry")),
    )
    op.create_index("uq_inbox_entry_open", "inbox_entry", ["scope", "key", "status"],
                    unique=True, sqlite_where=sa.text("resolved_at IS NULL"),
                    postgresql_where=sa.text("resolved_at IS NULL"))
    op.create_index(op.f("ix_inbox_entry_resolved_at_last_at"), "inbox_entry",
                    ["resolved_at", "last_at"], unique=False)
    op.create_table(
        "inbox_ask",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("entry_id", _KEY, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["inbox_entry.id"],
                                name=op.f("fk_inbox_ask_entry_id_inbox_entry"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_inbox_ask_member_id_member"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_ask")),
    )
    op.create_index(op.f("ix_inbox_ask_member_id"), "inbox_ask", ["member_id"], unique=False)
    op.create_index(op.f("ix_inbox_ask_entry_id"), "inbox_ask", ["entry_id"], unique=False)
    op.create_table(
        "overlay_phrase",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("phrasing", sa.String(length=2000), nullable=False),
        sa.Column("intent_id", sa.String(length=100), nullable=True),
        sa.Column("taught_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("retired_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overlay_phrase")),
    )
    op.create_index("uq_overlay_phrase_live", "overlay_phrase", ["key"], unique=True,
                    sqlite_where=sa.text("retired_at IS NULL"),
                    postgresql_where=sa.text("retired_at IS NULL"))
    op.create_table(
        "overlay_intent",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("short", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("retired_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overlay_intent")),
    )
    op.create_table(
        "intent_quality",
        sa.Column("intent_id", sa.String(length=100), nullable=False),
        sa.Column("asks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("helpful", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("not_helpful", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("not_what_i_asked", sa.Integer(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("intent_id", name=op.f("pk_intent_quality")),
    )


def downgrade() -> None:
    op.drop_table("intent_quality")
    op.drop_table("overlay_intent")
    op.drop_index("uq_overlay_phrase_live", table_name="overlay_phrase")
    op.drop_table("overlay_phrase")
    op.drop_index(op.f("ix_inbox_ask_entry_id"), table_name="inbox_ask")
    op.drop_index(op.f("ix_inbox_ask_member_id"), table_name="inbox_ask")
    op.drop_table("inbox_ask")
    op.drop_index(op.f("ix_inbox_entry_resolved_at_last_at"), table_name="inbox_entry")
    op.drop_index("uq_inbox_entry_open", table_name="inbox_entry")
    op.drop_table("inbox_entry")
