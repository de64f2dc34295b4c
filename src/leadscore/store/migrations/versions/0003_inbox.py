"""Webhook bodies wait in an inbox until the next cycle turns them into events; outbox entries can be read
grouped by contact.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", JSON, nullable=False),
    )
    op.create_index("ix_inbox_source", "inbox", ["source", "id"])
    op.create_index("ix_outbox_contact", "outbox", ["source", "contact_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_contact", "outbox")
    op.drop_index("ix_inbox_source", "inbox")
    op.drop_table("inbox")
