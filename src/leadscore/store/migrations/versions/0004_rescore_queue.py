"""Contacts waiting to be rescored are rows of a small queue table instead of a flag on the contact row;
contacts are found by email through an index; on SQLite, scores are kept in their key's B-tree.

Marking and clearing a flag rewrote the whole contact row and two index entries,
about four random pages per contact on a large store; a queue row keyed by
(source, contact_id) is a few bytes in one B-tree, and the queue is only as large
as the backlog. Marks carry over: every flagged contact is queued. Events that
name only a recipient (a page of 1,000 email events) are resolved by email, which
without the index read every contact of the source per page. A score stored
WITHOUT ROWID is one B-tree lookup, not a key lookup and then a row lookup.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rescore_queue",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.String(255), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute("insert into rescore_queue (source, contact_id) select source, contact_id from contacts where dirty")
    op.drop_index("ix_contacts_dirty", "contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("dirty")
    op.create_index("ix_contacts_email", "contacts", ["source", "email"])
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("scores", recreate="always", table_kwargs={"sqlite_with_rowid": False}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("scores", recreate="always"):
            pass
    op.drop_index("ix_contacts_email", "contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute(
        "update contacts set dirty = true where exists (select 1 from rescore_queue q "
        "where q.source = contacts.source and q.contact_id = contacts.contact_id)"
    )
    op.create_index("ix_contacts_dirty", "contacts", ["source", "dirty", "contact_id"])
    op.drop_table("rescore_queue")
