"""Outbox entries no longer carry the list their record enters: a platform that imports a list's arrivals now holds
a whole drain's records and groups them by list itself, so the outbox hands changes over in planned order.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_entering", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("entering")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("entering", sa.String(255), nullable=True))
    op.create_index("ix_outbox_entering", "outbox", ["source", "entering", "contact_id", "id"])
