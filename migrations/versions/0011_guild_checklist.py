"""/stats reads a server's checklist as one index range: guild_checklist, a per-server copy of
the members' done checklist items (one row per member, item done and server the member was seen
in: checklist_progress's done rows joined with guild_membership), filled here from those rows.

The copy is kept by the repository layer, not by triggers: its writes are two, both already
under the member's lock (an item marked done or undone: one statement in the same transaction;
a member first seen in a server: one INSERT ... SELECT of their done items), and the removal of
a membership (a member's deletion) reaches it through its foreign key (ON DELETE CASCADE).
Triggers would be a second, dialect-specific body of SQL (PL/pgSQL and SQLite's) that neither
the models nor Alembic's comparison see, so a drift of the triggers themselves would be silent;
the repository's statements are the same SQL on both databases, compiled once, and a property
test checks the copy against what it derives from on both.

* guild_checklist (member_id, item_id, guild_id): its key, which also serves an undo (the rows
  of one member and item) and the foreign key to guild_membership (member_id, guild_id);
* guild_checklist (guild_id, item_id, done_at): the funnel (per item) and the items done per
  week of one server from one range of the index.

The copy is filled in batches of members (the migration runs through the storage layer's
per-statement timeout). The downgrade drops the copy (the rows it derives from stay).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the copy as the repository keeps it, written out (a revision must not change with the code)
_FILL = (
    "INSERT INTO guild_checklist (member_id, item_id, guild_id, done_at) "
    "SELECT checklist_progress.member_id, checklist_progress.item_id, "
    "guild_membership.guild_id, checklist_progress.done_at "
    "FROM checklist_progress JOIN guild_membership "
    "ON guild_membership.member_id = checklist_progress.member_id "
    "WHERE checklist_progress.done"
)
_BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "guild_checklist",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["member_id", "guild_id"],
                                ["guild_membership.member_id", "guild_membership.guild_id"],
                                name=op.f("fk_guild_checklist_member_id_guild_membership"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", "item_id", "guild_id",
                                name=op.f("pk_guild_checklist")),
    )
    op.create_index(op.f("ix_guild_checklist_guild_id_item_id_done_at"), "guild_checklist",
                    ["guild_id", "item_id", "done_at"], unique=False)
    if context.is_offline_mode():  # printing the SQL (``--sql``): one statement
        op.execute(_FILL)
        return
    # In batches of members: each statement stays far below the storage layer's statement
    # timeout (this runs through it) whatever the database holds.
    bind = op.get_bind()
    ids = [row[0] for row in bind.exec_driver_sql(
        "SELECT DISTINCT member_id FROM checklist_progress ORDER BY member_id")]
    for start in range(0, len(ids), _BATCH):
        batch = ids[start:start + _BATCH]
        bind.execute(sa.text(_FILL + " AND checklist_progress.member_id BETWEEN :lo AND :hi"),
                     {"lo": batch[0], "hi": batch[-1]})


def downgrade() -> None:
    op.drop_index(op.f("ix_guild_checklist_guild_id_item_id_done_at"),
                  table_name="guild_checklist")
    op.drop_table("guild_checklist")
