"""Table definitions used by queries; migrations/ creates them (a test keeps the two in step).

Event times are kept as integer epoch milliseconds: identical on SQLite and
PostgreSQL, index-friendly, and cheap to turn back into datetimes when ten
million of them are rescored.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Id = String(255)
SourceName = String(64)

persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
)

contacts = Table(
    "contacts",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("person_id", Integer, ForeignKey("persons.id"), nullable=True),
    Column("email", String(320), nullable=True),
    Column("profile", Json, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("merged_into", Id, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_contacts_person", contacts.c.person_id)
Index("ix_contacts_email", contacts.c.source, contacts.c.email)

events = Table(
    "events",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("event_id", Id, primary_key=True),
    Column("action", String(64), nullable=False),
    Column("occurred_at_ms", BigInteger, nullable=False),
    Column("attributes", Json, nullable=True),
    UniqueConstraint("source", "event_id", name="uq_events_source_event"),
    sqlite_with_rowid=False,
)
"""Keyed by contact first: on SQLite (WITHOUT ROWID) a contact's events sit together on disk,
so rescoring reads them in one sweep instead of a random lookup per event."""

rescore_queue = Table(
    "rescore_queue",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("version", BigInteger, nullable=True),
    sqlite_with_rowid=False,
)
"""Contacts whose score may have changed (new data, a merge, a list re-created). A row here, not a flag on the
contact: marking and clearing then touch a few bytes of one small B-tree instead of rewriting contact rows. ``version``
changes with every mark, so a mark is cleared on another source's behalf only if nothing marked it since it was
read."""

cursors = Table(
    "cursors",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

scores = Table(
    "scores",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("fit", Float, nullable=False),
    Column("behaviour", Float, nullable=False),
    Column("grade", String(8), nullable=False),
    Column("band", String(32), nullable=False),
    Column("label", String(64), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    sqlite_with_rowid=False,
)

written = Table(
    "written",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("properties", Json, nullable=False),
    Column("lists", Json, nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", SourceName, nullable=False),
    Column("contact_id", Id, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("target", String(255), nullable=True),
)
"""``target``: the list a list move is about."""
Index("ix_outbox_pending", outbox.c.source, outbox.c.status, outbox.c.id)
Index("ix_outbox_order", outbox.c.source, outbox.c.kind, outbox.c.target, outbox.c.id)
Index("ix_outbox_key", outbox.c.source, outbox.c.id)

inbox = Table(
    "inbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", SourceName, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body", Json, nullable=False),
)
Index("ix_inbox_source", inbox.c.source, inbox.c.id)
Index("ix_outbox_contact", outbox.c.source, outbox.c.contact_id, outbox.c.id)

runs = Table(
    "runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", SourceName, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("report", Json, nullable=True),
)
Index("ix_runs_source", runs.c.source, runs.c.id)

score_history = Table(
    "score_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", SourceName, nullable=False),
    Column("contact_id", Id, nullable=False),
    Column("model", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("old_score", Integer, nullable=True),
    Column("new_score", Integer, nullable=False),
    Column("old_grade", String(8), nullable=True),
    Column("new_grade", String(8), nullable=False),
    Column("old_band", String(32), nullable=True),
    Column("new_band", String(32), nullable=False),
    Column("model_version", String(16), nullable=False),
    Column("contributions", Json, nullable=False),
)
Index("ix_history_contact", score_history.c.source, score_history.c.contact_id, score_history.c.changed_at)
Index("ix_history_period", score_history.c.changed_at)

score_counts = Table(
    "score_counts",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("grade", String(8), primary_key=True),
    Column("band", String(32), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("score_sum", BigInteger, nullable=False),
)
band_flows = Table(
    "band_flows",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("week", Integer, primary_key=True),
    Column("band", String(32), primary_key=True),
    Column("entered", BigInteger, nullable=False),
    Column("exited", BigInteger, nullable=False),
)
week_scores = Table(
    "week_scores",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("week", Integer, primary_key=True),
    Column("moves", BigInteger, nullable=False),
    Column("score_sum", BigInteger, nullable=False),
    Column("score_delta", BigInteger, nullable=False),
    Column("records_delta", BigInteger, nullable=False),
)
band_entry_days = Table(
    "band_entry_days",
    metadata,
    Column("source", SourceName, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("week", Integer, primary_key=True),
    Column("band", String(32), primary_key=True),
    Column("days", Integer, primary_key=True),
    Column("records", BigInteger, nullable=False),
)
