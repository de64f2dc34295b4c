"""Each rescore mark carries a version that changes whenever the record is marked again.

A person's score computed by one source's cycle is saved for the person's
records in the other sources; their marks may be cleared then, but only if no
new data marked them since they were read. Comparing the version read with the
version at save time tells which.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rescore_queue") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rescore_queue") as batch:
        batch.drop_column("version")
