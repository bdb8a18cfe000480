"""Indexes for /stats driven by the server's members: every aggregate starts from the server's
rows of guild_membership and reaches each member's rows by an index that holds what is counted,
so a server's stats read its own members' rows only, whatever else the database holds.

* guild_membership (guild_id, member_id) replaces (guild_id): the server's member ids from the
  index alone;
* member (id, current_phase): the phase distribution from the index alone;
* checklist_progress (member_id, done, item_id): the funnel (items done per member);
* checklist_event (member_id, at, action) replaces (member_id, at): weekly activity (and a
  member's recent events, as before);
* quiz_attempt (member_id, status): quiz completions.

Only indexes change: no data is touched.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_guild_membership_guild_id_member_id"), "guild_membership",
                    ["guild_id", "member_id"], unique=False)
    op.drop_index(op.f("ix_guild_membership_guild_id"), table_name="guild_membership")
    op.create_index(op.f("ix_member_id_current_phase"), "member", ["id", "current_phase"],
                    unique=False)
    op.create_index(op.f("ix_checklist_progress_member_id_done_item_id"), "checklist_progress",
                    ["member_id", "done", "item_id"], unique=False)
    op.create_index(op.f("ix_checklist_event_member_id_at_action"), "checklist_event",
                    ["member_id", "at", "action"], unique=False)
    op.drop_index(op.f("ix_checklist_event_member_id_at"), table_name="checklist_event")
    op.create_index(op.f("ix_quiz_attempt_member_id_status"), "quiz_attempt",
                    ["member_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quiz_attempt_member_id_status"), table_name="quiz_attempt")
    op.create_index(op.f("ix_checklist_event_member_id_at"), "checklist_event",
                    ["member_id", "at"], unique=False)
    op.drop_index(op.f("ix_checklist_event_member_id_at_action"), table_name="checklist_event")
    op.drop_index(op.f("ix_checklist_progress_member_id_done_item_id"),
                  table_name="checklist_progress")
    op.drop_index(op.f("ix_member_id_current_phase"), table_name="member")
    op.create_index(op.f("ix_guild_membership_guild_id"), "guild_membership", ["guild_id"],
                    unique=False)
    op.drop_index(op.f("ix_guild_membership_guild_id_member_id"), table_name="guild_membership")
