"""/stats driven by the server's members: every aggregate starts from the server's rows of
guild_membership and reaches each member's rows through an index holding what is counted, so
a server's stats read its own members' rows only, whatever else the database holds.

* guild_membership (guild_id, member_id) replaces (guild_id): the server's member ids from the
  index alone;
* member.quizzes_finished: the quiz attempts each member finished (filled here from
  quiz_attempt, then kept by the quiz), so completions need no read of the attempts;
* member (id, current_phase, quizzes_finished): phase distribution and quiz completions from
  the index alone;
* checklist_progress (member_id, done, item_id, done_at): the funnel and the items done per
  week from the index alone.

Nothing is deleted; the downgrade drops the new column, which the attempts can fill again.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_guild_membership_guild_id_member_id"), "guild_membership",
                    ["guild_id", "member_id"], unique=False)
    op.drop_index(op.f("ix_guild_membership_guild_id"), table_name="guild_membership")
    op.add_column("member", sa.Column("quizzes_finished", sa.Integer(),
                                      server_default=sa.text("0"), nullable=False))
    op.execute(
        "UPDATE member SET quizzes_finished = (SELECT count(*) FROM quiz_attempt "
        "WHERE quiz_attempt.member_id = member.id AND quiz_attempt.status = 'finished') "
        "WHERE EXISTS (SELECT 1 FROM quiz_attempt WHERE quiz_attempt.member_id = member.id "
        "AND quiz_attempt.status = 'finished')"
    )
    op.create_index(op.f("ix_member_id_current_phase_quizzes_finished"), "member",
                    ["id", "current_phase", "quizzes_finished"], unique=False)
    op.create_index(op.f("ix_checklist_progress_member_id_done_item_id_done_at"),
                    "checklist_progress", ["member_id", "done", "item_id", "done_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_checklist_progress_member_id_done_item_id_done_at"),
                  table_name="checklist_progress")
    op.drop_index(op.f("ix_member_id_current_phase_quizzes_finished"), table_name="member")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("quizzes_finished")
    op.create_index(op.f("ix_guild_membership_guild_id"), "guild_membership", ["guild_id"],
                    unique=False)
    op.drop_index(op.f("ix_guild_membership_guild_id_member_id"), table_name="guild_membership")
