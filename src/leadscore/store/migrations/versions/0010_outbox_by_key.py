"""The outbox gains an index by source and key: a drain that hands a source's changes over in planned order reads
them a page at a time from the last key, and no other index holds that order (each page sorted every entry after
the last key).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_key", "outbox", ["source", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_key", "outbox")
