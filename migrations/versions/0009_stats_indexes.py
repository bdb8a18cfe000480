"""/stats driven by the server's members: every aggregate starts from the server's rows of
guild_membership and reaches each member's rows through an index holding what is counted, so
a server's stats read its own members' rows only, whatever else the database holds.

* member.quizzes_finished: the quiz attempts each member finished (filled here from
  quiz_attempt, then kept by the quiz);
* guild_membership.current_phase / quizzes_finished: copies of the member's (filled here, then
  kept by every write of them), so the phase distribution and quiz completions are the
  server's own rows;
* guild_membership (guild_id, member_id, current_phase, quizzes_finished) replaces
  (guild_id): all of that, and the server's member ids, from the index alone;
* checklist_progress (member_id, done, item_id, done_at): the funnel and the items done per
  week from the index alone.

Nothing is deleted; the downgrade drops the new columns, which the other tables fill again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FINISHED = (
    "SELECT count(*) FROM quiz_attempt WHERE quiz_attempt.member_id = {table}.{key} "
    "AND quiz_attempt.status = 'finished'"
)


def upgrade() -> None:
    for table in ("member", "guild_membership"):
        op.add_column(table, sa.Column("quizzes_finished", sa.Integer(),
                                       server_default=sa.text("0"), nullable=False))
    op.add_column("guild_membership", sa.Column("current_phase", sa.SmallInteger(),
                                                nullable=True))
    op.execute(
        f"UPDATE member SET quizzes_finished = ({_FINISHED.format(table='member', key='id')}) "
        "WHERE EXISTS (SELECT 1 FROM quiz_attempt WHERE quiz_attempt.member_id = member.id "
        "AND quiz_attempt.status = 'finished')"
    )
    op.execute(
        "UPDATE guild_membership SET "
        "current_phase = (SELECT current_phase FROM member "
        "WHERE member.id = guild_membership.member_id), "
        "quizzes_finished = (SELECT quizzes_finished FROM member "
        "WHERE member.id = guild_membership.member_id)"
    )
    op.create_index("ix_guild_membership_stats",
                    "guild_membership",
                    ["guild_id", "member_id", "current_phase", "quizzes_finished"], unique=False)
    op.drop_index(op.f("ix_guild_membership_guild_id"), table_name="guild_membership")
    op.create_index(op.f("ix_checklist_progress_member_id_done_item_id_done_at"),
                    "checklist_progress", ["member_id", "done", "item_id", "done_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_checklist_progress_member_id_done_item_id_done_at"),
                  table_name="checklist_progress")
    op.create_index(op.f("ix_guild_membership_guild_id"), "guild_membership", ["guild_id"],
                    unique=False)
    op.drop_index("ix_guild_membership_stats",
                  table_name="guild_membership")
    with op.batch_alter_table("guild_membership", schema=None) as batch_op:
        batch_op.drop_column("quizzes_finished")
        batch_op.drop_column("current_phase")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("quizzes_finished")
