"""What the console shows: runs, set-aside changes, and the score tallies (tallies.py) summed by the database.

Every query here reads a tally or an index, so a page costs about the same at a thousand contacts as at a
million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from leadscore.records import ensure_utc
from leadscore.store import schema
from leadscore.store.base import Tables
from leadscore.store.tallies import week_of, week_start


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    report: dict[str, Any]

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class SetAside:
    entry_id: int
    contact_id: str
    kind: str
    attempts: int
    reason: str
    not_before: datetime | None


@dataclass(frozen=True, slots=True)
class WeekFlow:
    """What happened in one week (starting Monday, UTC) for one model: entries into each band, exits from
    each band, and the average of the scores records moved to."""

    week: datetime
    entered: dict[str, int]
    left: dict[str, int]
    average_new_score: float | None
    average_score: float | None = None
    """The average score of the live records at the week's end."""


@dataclass(frozen=True, slots=True)
class WrittenRecord:
    """What leadscore last knew to be on the platform record, since when, and what still waits to be sent."""

    properties: dict[str, Any]
    lists: list[str]
    written_at: datetime | None
    waiting: list[tuple[str, dict[str, Any], str]]
    """(kind, payload, status) of the record's outbox entries."""


@dataclass(frozen=True, slots=True)
class RecordRef:
    source: str
    contact_id: str
    email: str | None
    live: bool


class InsightsStore(Tables):
    def recent_runs(self, source: str, limit: int = 20) -> list[RunRow]:
        r = schema.runs
        query = select(*r.c).where(r.c.source == source).order_by(r.c.id.desc()).limit(limit)
        with self.db.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            RunRow(
                row["id"],
                row["source"],
                ensure_utc(row["started_at"]),
                ensure_utc(row["finished_at"]) if row["finished_at"] else None,
                row["status"],
                row["report"] or {},
            )
            for row in rows
        ]

    def run_sources(self) -> list[str]:
        """Every source the store has run a cycle for."""
        r = schema.runs
        with self.db.connect() as connection:
            return [name for (name,) in connection.execute(select(r.c.source).distinct().order_by(r.c.source))]

    def set_aside_list(self, source: str, limit: int = 100) -> list[SetAside]:
        o = schema.outbox
        query = (
            select(o.c.id, o.c.contact_id, o.c.kind, o.c.attempts, o.c.last_error, o.c.not_before)
            .where(o.c.source == source, o.c.status == "set_aside")
            .order_by(o.c.id)
            .limit(limit)
        )
        with self.db.connect() as connection:
            return [
                SetAside(row[0], row[1], row[2], row[3], row[4] or "", ensure_utc(row[5]) if row[5] else None)
                for row in connection.execute(query)
            ]

    def retry_set_aside(self, source: str, entry_ids: Sequence[int], now: datetime) -> int:
        """Make set-aside changes due at once: the source's next cycle sends them again. Returns how many."""
        o = schema.outbox
        with self.db.begin() as connection:
            return int(
                connection.execute(
                    update(o)
                    .where(o.c.source == source, o.c.status == "set_aside", o.c.id.in_(list(entry_ids)))
                    .values(not_before=now)
                ).rowcount
            )

    def score_histogram(self, model: str, source: str | None = None) -> dict[int, int]:
        """Live records per score bucket of five points (bucket start -> count; 100 is in the 95 bucket)."""
        t = schema.score_counts
        query = select(t.c.bucket, func.sum(t.c.records)).where(t.c.model == model).group_by(t.c.bucket)
        if source is not None:
            query = query.where(t.c.source == source)
        with self.db.connect() as connection:
            return {int(bucket): int(count) for bucket, count in connection.execute(query) if count}

    def grade_band_counts(self, model: str, source: str | None = None) -> dict[tuple[str, str], int]:
        t = schema.score_counts
        query = (
            select(t.c.grade, t.c.band, func.sum(t.c.records)).where(t.c.model == model).group_by(t.c.grade, t.c.band)
        )
        if source is not None:
            query = query.where(t.c.source == source)
        with self.db.connect() as connection:
            return {(grade, band): int(count) for grade, band, count in connection.execute(query) if count}

    def weekly_flows(self, model: str, since: datetime, source: str | None = None) -> list[WeekFlow]:
        """Per week from the one holding ``since``: records that entered and left each band, and the average of
        the scores records moved to."""
        f, w = schema.band_flows, schema.week_scores
        first = week_of(since)
        flows = (
            select(f.c.week, f.c.band, func.sum(f.c.entered), func.sum(f.c.exited))
            .where(f.c.model == model, f.c.week >= first)
            .group_by(f.c.week, f.c.band)
        )
        scores = (
            select(
                w.c.week,
                func.sum(w.c.moves),
                func.sum(w.c.score_sum),
                func.sum(w.c.score_delta),
                func.sum(w.c.records_delta),
            )
            .where(w.c.model == model, w.c.week >= first)
            .group_by(w.c.week)
        )
        t = schema.score_counts
        totals = select(func.sum(t.c.records), func.sum(t.c.score_sum)).where(t.c.model == model)
        if source is not None:
            flows, scores, totals = (
                flows.where(f.c.source == source),
                scores.where(w.c.source == source),
                totals.where(t.c.source == source),
            )
        weeks: dict[int, tuple[dict[str, int], dict[str, int], list[float | None]]] = {}
        changes: dict[int, tuple[int, int]] = {}
        with self.db.connect() as connection:
            for week, band, entered, exited in connection.execute(flows):
                entry = weeks.setdefault(int(week), ({}, {}, [None]))
                if entered:
                    entry[0][band] = int(entered)
                if exited:
                    entry[1][band] = int(exited)
            for week, moves, total, score_delta, records_delta in connection.execute(scores):
                weeks.setdefault(int(week), ({}, {}, [None]))[2][0] = float(total) / float(moves) if moves else None
                changes[int(week)] = (int(score_delta or 0), int(records_delta or 0))
            records, score_sum = connection.execute(totals).one()
        records, score_sum = int(records or 0), int(score_sum or 0)
        shown: list[WeekFlow] = []
        for week, (entered, left, average) in sorted(weeks.items(), reverse=True):
            shown.append(
                WeekFlow(
                    datetime.fromtimestamp(week_start(week), tz=UTC),
                    entered,
                    left,
                    average[0],
                    score_sum / records if records > 0 else None,
                )
            )
            score_change, record_change = changes.get(week, (0, 0))
            score_sum, records = score_sum - score_change, records - record_change
        return list(reversed(shown))

    def days_to_band(
        self, model: str, bands: Sequence[str], since: datetime, source: str | None = None
    ) -> dict[int, int]:
        """Entries into ``bands`` in the weeks from the one holding ``since``, by whole days from the record's
        (the person's) first event to the entry: days -> records."""
        d = schema.band_entry_days
        query = (
            select(d.c.days, func.sum(d.c.records))
            .where(d.c.model == model, d.c.week >= week_of(since), d.c.band.in_(list(bands)))
            .group_by(d.c.days)
        )
        if source is not None:
            query = query.where(d.c.source == source)
        with self.db.connect() as connection:
            return {int(days): int(count) for days, count in connection.execute(query) if count}

    def find_records(self, query: str, sources: Sequence[str], limit: int = 20) -> list[RecordRef]:
        """Records of ``sources`` whose id is ``query`` or whose email is it (any case): per source, one lookup by
        the primary key and one by the email index (an OR of the two, or an ORDER BY, makes SQLite scan the table
        in key order instead)."""
        c = schema.contacts
        text = query.strip()
        columns = (c.c.source, c.c.contact_id, c.c.email, c.c.deleted, c.c.merged_into)
        found: dict[tuple[str, str], RecordRef] = {}
        with self.db.connect() as connection:
            for source in sources:
                for condition in (c.c.contact_id == text, c.c.email.in_(sorted({text, text.lower()}))):
                    rows = connection.execute(select(*columns).where(c.c.source == source, condition).limit(limit))
                    for row_source, contact_id, email, deleted, merged_into in rows:
                        found[(row_source, contact_id)] = RecordRef(
                            row_source, contact_id, email, not deleted and merged_into is None
                        )
        return sorted(found.values(), key=lambda r: (r.source, r.contact_id))[:limit]

    def written_record(self, source: str, contact_id: str) -> WrittenRecord:
        w, o = schema.written, schema.outbox
        with self.db.connect() as connection:
            row = connection.execute(
                select(w.c.properties, w.c.lists, w.c.written_at).where(
                    w.c.source == source, w.c.contact_id == contact_id
                )
            ).first()
            waiting = connection.execute(
                select(o.c.kind, o.c.payload, o.c.status)
                .where(o.c.source == source, o.c.contact_id == contact_id)
                .order_by(o.c.id)
            ).all()
        return WrittenRecord(
            dict(row[0] or {}) if row else {},
            sorted(row[1] or ()) if row else [],
            ensure_utc(row[2]) if row and row[2] else None,
            [(kind, dict(payload or {}), status) for kind, payload, status in waiting],
        )
