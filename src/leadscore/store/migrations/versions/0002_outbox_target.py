"""Outbox entries carry their target (a list key), so pending changes are sent grouped by list;
contacts marked for rescoring are found through an index that also orders them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("target", sa.String(255), nullable=True))
    op.create_index("ix_outbox_order", "outbox", ["source", "kind", "target", "id"])
    op.drop_index("ix_contacts_dirty", "contacts")
    op.create_index("ix_contacts_dirty", "contacts", ["source", "dirty", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_contacts_dirty", "contacts")
    op.create_index("ix_contacts_dirty", "contacts", ["source", "dirty"])
    op.drop_index("ix_outbox_order", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("target")
