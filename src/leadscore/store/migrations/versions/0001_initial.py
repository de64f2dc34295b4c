"""Initial schema: persons, contacts, events, cursors, scores, written state, outbox, runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
    )
    op.create_table(
        "contacts",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.String(255), primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("written", JSON, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("merged_into", sa.String(255), nullable=True),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_contacts_dirty", "contacts", ["source", "dirty"])
    op.create_index("ix_contacts_person", "contacts", ["person_id"])
    op.create_table(
        "events",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("occurred_at_ms", sa.BigInteger, nullable=False),
        sa.Column("attributes", JSON, nullable=True),
        sa.UniqueConstraint("source", "event_id", name="uq_events_source_event"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "cursors",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "scores",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.String(255), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("fit", sa.Float, nullable=False),
        sa.Column("behaviour", sa.Float, nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("band", sa.String(32), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("scored_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "written",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.String(255), primary_key=True),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("lists", JSON, nullable=False),
        sa.Column("written_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_outbox_pending", "outbox", ["source", "status", "id"])
    op.create_table(
        "runs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report", JSON, nullable=True),
    )
    op.create_index("ix_runs_source", "runs", ["source", "id"])


def downgrade() -> None:
    for table in ("runs", "outbox", "written", "scores", "cursors", "events", "contacts", "persons"):
        op.drop_table(table)
