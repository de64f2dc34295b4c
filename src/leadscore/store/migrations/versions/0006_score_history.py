"""Every change of a record's visible score, grade or band is kept: when, old and new values, the model's
version and the contributions behind the new score (the audit trail a CRM keeps as property history).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "score_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(255), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_score", sa.Integer, nullable=True),
        sa.Column("new_score", sa.Integer, nullable=False),
        sa.Column("old_grade", sa.String(8), nullable=True),
        sa.Column("new_grade", sa.String(8), nullable=False),
        sa.Column("old_band", sa.String(32), nullable=True),
        sa.Column("new_band", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(16), nullable=False),
        sa.Column("contributions", JSON, nullable=False),
    )
    op.create_index("ix_history_contact", "score_history", ["source", "contact_id", "changed_at"])
    op.create_index("ix_history_period", "score_history", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_history_period", "score_history")
    op.drop_index("ix_history_contact", "score_history")
    op.drop_table("score_history")
