"""member_opt_in, milestone, guild_notice, checkin: phase roles, milestone announcements and
the weekly check-in

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_opt_in",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("phase_roles", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("milestones", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_member_opt_in_member_id_member"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_opt_in")),
    )
    op.create_table(
        "milestone",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("phase >= 1", name=op.f("ck_milestone_phase_range")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_milestone_member_id_member"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", "phase", name=op.f("pk_milestone")),
    )
    op.create_table(
        "guild_notice",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "topic", name=op.f("pk_guild_notice")),
    )
    op.create_table(
        "checkin",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("done", sa.String(length=500), nullable=True),
        sa.Column("next_step", sa.String(length=500), nullable=True),
        sa.Column("blocker", sa.String(length=500), nullable=True),
        sa.Column("blocker_intent", sa.String(length=100), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('checkin', 'snoozed')", name=op.f("ck_checkin_kind")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_checkin_member_id_member"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", "week", name=op.f("pk_checkin")),
    )


def downgrade() -> None:
    op.drop_table("checkin")
    op.drop_table("guild_notice")
    op.drop_table("milestone")
    op.drop_table("member_opt_in")
