"""A contact row no longer keeps the leadscore properties its last pull saw: the ``written`` table is the one record
of what the platform shows, and nothing read the copy.

Platforms report every record leadscore wrote as modified, so the next pull re-reads it showing the new values:
the copy made each such record's row change, and the whole row was written again for it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("alter table contacts drop column written")
    else:
        op.drop_column("contacts", "written")


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("written", JSON, nullable=False, server_default="{}"))
