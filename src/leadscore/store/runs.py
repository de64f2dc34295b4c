"""Runs: one row per cycle, with its status and report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from leadscore.clock import utcnow
from leadscore.store import schema
from leadscore.store.base import Tables


class RunsStore(Tables):
    """The history of cycles."""

    def start_run(self, source: str) -> int:
        """A new run; runs of the source left ``running`` (their end could not be saved) are closed as failed."""
        with self.db.begin() as connection:
            connection.execute(
                update(schema.runs)
                .where(schema.runs.c.source == source, schema.runs.c.status == "running")
                .values(status="failed", finished_at=utcnow())
            )
            result = connection.execute(
                schema.runs.insert().returning(schema.runs.c.id),
                {"source": source, "started_at": utcnow(), "status": "running"},
            )
            return int(result.scalar_one())

    def finish_run(self, run_id: int, status: str, report: Mapping[str, Any]) -> None:
        with self.db.begin() as connection:
            connection.execute(
                update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(status=status, report=dict(report), finished_at=utcnow())
            )

    def last_run(self, source: str) -> tuple[str, dict[str, Any]] | None:
        r = schema.runs
        with self.db.connect() as connection:
            row = connection.execute(
                select(r.c.status, r.c.report).where(r.c.source == source).order_by(r.c.id.desc()).limit(1)
            ).first()
        return None if row is None else (row[0], row[1] or {})
