"""Every change of a record's visible score, grade or band is kept: when, old and new values, the model's
version and the contributions behind the new score (the audit trail a CRM keeps as property history).

Tallies kept in the same transactions as the scores answer the console's questions without scanning them: live
records per score bucket, grade and band; entries into and exits from each band per week; the average of the
scores records moved to per week; the days from a record's first event to its entry into a band. A record that
is deleted or merged away keeps no score (it is rescored if it comes back), so the tallies count live records
only; this migration drops the scores such records kept and counts the rest.

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


def _key() -> list[sa.Column[str]]:
    return [sa.Column("source", sa.String(64), primary_key=True), sa.Column("model", sa.String(64), primary_key=True)]


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
    op.create_table(
        "score_counts",
        *_key(),
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("grade", sa.String(8), primary_key=True),
        sa.Column("band", sa.String(32), primary_key=True),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("score_sum", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "band_flows",
        *_key(),
        sa.Column("week", sa.Integer, primary_key=True),
        sa.Column("band", sa.String(32), primary_key=True),
        sa.Column("entered", sa.BigInteger, nullable=False),
        sa.Column("exited", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "week_scores",
        *_key(),
        sa.Column("week", sa.Integer, primary_key=True),
        sa.Column("moves", sa.BigInteger, nullable=False),
        sa.Column("score_sum", sa.BigInteger, nullable=False),
        sa.Column("score_delta", sa.BigInteger, nullable=False),
        sa.Column("records_delta", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "band_entry_days",
        *_key(),
        sa.Column("week", sa.Integer, primary_key=True),
        sa.Column("band", sa.String(32), primary_key=True),
        sa.Column("days", sa.Integer, primary_key=True),
        sa.Column("records", sa.BigInteger, nullable=False),
    )
    op.execute(
        "delete from scores where exists (select 1 from contacts c where c.source = scores.source "
        "and c.contact_id = scores.contact_id and (c.deleted or c.merged_into is not null))"
    )
    op.execute(
        "insert into score_counts (source, model, bucket, grade, band, records, score_sum) "
        "select s.source, s.model, (case when s.score > 99 then 99 else s.score end) / 5 * 5, s.grade, s.band, "
        "count(*), sum(s.score) from scores s group by 1, 2, 3, 4, 5"
    )


def downgrade() -> None:
    for table in ("band_entry_days", "week_scores", "band_flows", "score_counts"):
        op.drop_table(table)
    op.drop_index("ix_history_period", "score_history")
    op.drop_index("ix_history_contact", "score_history")
    op.drop_table("score_history")
