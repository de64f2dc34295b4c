"""Outbox entries carry the list their record enters with them, so changes handed over by record come one entered
list after another: a platform that imports a list's arrivals in one call took an import per band for an apply that
held every band's records.

Entries queued before this revision have none; among themselves they are handed over by record, as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("entering", sa.String(255), nullable=True))
    op.create_index("ix_outbox_entering", "outbox", ["source", "entering", "contact_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_entering", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("entering")
