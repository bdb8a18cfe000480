"""question_log text: one question-length limit (bot.limits.MAX_QUESTION_CHARS = 2000)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written as a number on purpose: a revision must not change when the constant does (a new
# limit needs a new revision; the drift test fails until there is one).
_NEW, _OLD = 2000, 500


def upgrade() -> None:
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        for column in ("text", "normalized"):
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=_OLD),
                type_=sa.String(length=_NEW),
                existing_nullable=False,
            )


def downgrade() -> None:
    # Longer questions are clipped to the old width first (PostgreSQL refuses to truncate).
    for column in ("text", "normalized"):
        op.execute(
            sa.text(f"UPDATE question_log SET {column} = substr({column}, 1, {_OLD}) "
                    f"WHERE length({column}) > {_OLD}")
        )
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        for column in ("text", "normalized"):
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=_NEW),
                type_=sa.String(length=_OLD),
                existing_nullable=False,
            )
