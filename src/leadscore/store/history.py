"""Score history: each change of a record's visible score, grade or band, kept for a bounded time.

Rows are written with the scores they describe (``ScoresStore.save_scored_page``, one transaction), so the history
never disagrees with the scores; reading and pruning live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from leadscore.records import ensure_utc
from leadscore.store import schema
from leadscore.store.base import Tables
from leadscore.store.tallies import prune_tallies


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of what a record shows; ``old_*`` are None for the record's first score."""

    source: str
    contact_id: str
    model: str
    changed_at: datetime
    old_score: int | None
    new_score: int
    old_grade: str | None
    new_grade: str
    old_band: str | None
    new_band: str
    model_version: str
    contributions: tuple[tuple[str, float], ...]
    """(reason, points) of the rules that moved the new score most."""


class HistoryStore(Tables):
    def score_history(
        self, source: str | None, contact_id: str, model: str | None = None, limit: int = 1000
    ) -> list[HistoryEntry]:
        """A record's changes, oldest first (the latest ``limit`` of them); with no source, the id's on any."""
        h = schema.score_history
        query = select(*h.c).where(h.c.contact_id == contact_id)
        if source is not None:
            query = query.where(h.c.source == source)
        if model is not None:
            query = query.where(h.c.model == model)
        query = query.order_by(h.c.changed_at.desc(), h.c.id.desc()).limit(limit)
        with self.db.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            HistoryEntry(
                source=row["source"],
                contact_id=row["contact_id"],
                model=row["model"],
                changed_at=ensure_utc(row["changed_at"]),
                old_score=row["old_score"],
                new_score=row["new_score"],
                old_grade=row["old_grade"],
                new_grade=row["new_grade"],
                old_band=row["old_band"],
                new_band=row["new_band"],
                model_version=row["model_version"],
                contributions=tuple((str(reason), float(points)) for reason, points in row["contributions"] or ()),
            )
            for row in reversed(rows)
        ]

    def prune_history(self, source: str, before: datetime) -> int:
        """Forget the source's changes older than ``before`` (the retention setting); returns how many went."""
        h = schema.score_history
        with self.db.begin() as connection:
            prune_tallies(connection, source, before)
            return int(connection.execute(delete(h).where(h.c.source == source, h.c.changed_at < before)).rowcount)
