"""Phase numbers and quiz length belong to the knowledge base: the CHECK constraints keep only
what every knowledge base shares (phases count from 1, answers are indexed from 0).

Revision ID: 0006
Revises: 0005

On SQLite a CHECK constraint changes through a table copy (Alembic's batch mode); ``env.py``
turns foreign keys off for the copy, as SQLite's own procedure asks, so re-creating ``member``
does not cascade into the tables that refer to it, and checks the keys before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context, op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint name as in the models, new condition, old condition). Written out on
# purpose: a revision must not change when the models do.
_CHANGES = (
    ("member", "phase_range", "current_phase >= 1", "current_phase BETWEEN 1 AND 4"),
    ("quiz_attempt", "phase_range", "phase >= 1", "phase BETWEEN 1 AND 4"),
    ("quiz_answer", "index_range", "question_index >= 0", "question_index BETWEEN 0 AND 5"),
)


def _swap(new: bool) -> None:
    for table, name, now, before in _CHANGES:
        condition = now if new else before
        with op.batch_alter_table(table, recreate="auto") as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)


def upgrade() -> None:
    _swap(new=True)


def downgrade() -> None:
    # Rows outside the old ranges (a knowledge base with more phases or questions) would break
    # the old constraints: say so rather than guess which data to drop.
    if context.is_offline_mode():  # printing the SQL (``--sql``): nothing to count
        _swap(new=False)
        return
    outside = op.get_bind().exec_driver_sql(
        "SELECT (SELECT count(*) FROM member WHERE current_phase > 4)"
        " + (SELECT count(*) FROM quiz_attempt WHERE phase > 4)"
        " + (SELECT count(*) FROM quiz_answer WHERE question_index > 5)"
    ).scalar()
    if outside:
        raise RuntimeError(
            f"{outside} rows hold phases above 4 or quiz answers past the sixth; revision 0005 "
            "cannot store them (clear them first, or stay at 0006)"
        )
    _swap(new=False)
