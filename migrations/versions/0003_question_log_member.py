"""question_log.member_id: who asked, so a member's questions are exported and deleted

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_question_log_member_id_member"),
            "member",
            ["member_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_question_log_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_log_member_id"))
        batch_op.drop_constraint(batch_op.f("fk_question_log_member_id_member"), type_="foreignkey")
        batch_op.drop_column("member_id")
