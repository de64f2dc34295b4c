"""What the console shows, as aggregates computed by the database: runs, score distributions, band flows.

Every query here is a GROUP BY or an indexed lookup, so a page costs the same at a thousand contacts as at a
million, give or take the scan of the scores table the distribution needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, cast, func, or_, select, update

from leadscore.records import ensure_utc
from leadscore.store import schema
from leadscore.store.base import Tables

WEEK_SECONDS = 7 * 86_400
MONDAY_OFFSET = 3 * 86_400
"""1970-01-01 was a Thursday: weeks counted from the Monday three days before it start on Mondays."""


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

    def _live_scores(self, model: str, source: str | None) -> list[ColumnElement[bool]]:
        s, c = schema.scores, schema.contacts
        conditions = [
            s.c.model == model,
            c.c.source == s.c.source,
            c.c.contact_id == s.c.contact_id,
            c.c.deleted.is_(False),
            c.c.merged_into.is_(None),
        ]
        if source is not None:
            conditions.append(s.c.source == source)
        return conditions

    def score_histogram(self, model: str, source: str | None = None, width: int = 5) -> dict[int, int]:
        """Live records per score bucket (bucket start -> count); a score of 100 falls in the last bucket."""
        s, c = schema.scores, schema.contacts
        capped = func.min(s.c.score, 99) if self._dialect == "sqlite" else func.least(s.c.score, 99)
        bucket = capped // width * width
        query = select(bucket, func.count()).where(*self._live_scores(model, source)).group_by(bucket)
        with self.db.connect() as connection:
            return {int(start): int(count) for start, count in connection.execute(query.select_from(s, c))}

    def grade_band_counts(self, model: str, source: str | None = None) -> dict[tuple[str, str], int]:
        s, c = schema.scores, schema.contacts
        query = (
            select(s.c.grade, s.c.band, func.count())
            .select_from(s, c)
            .where(*self._live_scores(model, source))
            .group_by(s.c.grade, s.c.band)
        )
        with self.db.connect() as connection:
            return {(grade, band): int(count) for grade, band, count in connection.execute(query)}

    def _week(self, column: Any) -> Any:
        """The Monday-starting week of a timestamp, as an integer count of weeks since the epoch."""
        seconds: Any = (
            cast((func.julianday(column) - 2440587.5) * 86400.0, Float)
            if self._dialect == "sqlite"
            else func.extract("epoch", column)
        )
        return func.floor((seconds + MONDAY_OFFSET) / WEEK_SECONDS)

    def weekly_flows(self, model: str, since: datetime, source: str | None = None) -> list[WeekFlow]:
        """Per week since ``since``: how many records entered and left each band, and their average new score."""
        h = schema.score_history
        week = self._week(h.c.changed_at).label("week")
        where = [h.c.model == model, h.c.changed_at >= since]
        if source is not None:
            where.append(h.c.source == source)
        moved = or_(h.c.old_band.is_(None), h.c.old_band != h.c.new_band)
        entries = select(week, h.c.new_band, func.count()).where(*where, moved).group_by(week, h.c.new_band)
        exits = (
            select(week, h.c.old_band, func.count())
            .where(*where, and_(h.c.old_band.is_not(None), h.c.old_band != h.c.new_band))
            .group_by(week, h.c.old_band)
        )
        averages = select(week, func.avg(h.c.new_score)).where(*where).group_by(week)
        weeks: dict[int, tuple[dict[str, int], dict[str, int], list[float | None]]] = {}
        with self.db.connect() as connection:
            for index, band, count in connection.execute(entries):
                weeks.setdefault(int(index), ({}, {}, [None]))[0][band] = int(count)
            for index, band, count in connection.execute(exits):
                weeks.setdefault(int(index), ({}, {}, [None]))[1][band] = int(count)
            for index, average in connection.execute(averages):
                weeks.setdefault(int(index), ({}, {}, [None]))[2][0] = float(average) if average is not None else None
        return [
            WeekFlow(
                datetime.fromtimestamp(index * WEEK_SECONDS - MONDAY_OFFSET, tz=since.tzinfo), entered, left, avg[0]
            )
            for index, (entered, left, avg) in sorted(weeks.items())
        ]

    def days_to_band(self, model: str, bands: Sequence[str], since: datetime, source: str | None = None) -> list[float]:
        """For each record that first entered one of ``bands`` since ``since``: the days from its first event to
        that entry (records without events are left out)."""
        h, e = schema.score_history, schema.events
        where = [
            h.c.model == model,
            h.c.changed_at >= since,
            h.c.new_band.in_(list(bands)),
            or_(h.c.old_band.is_(None), h.c.old_band.not_in(list(bands))),
        ]
        if source is not None:
            where.append(h.c.source == source)
        entered = (
            select(h.c.source, h.c.contact_id, func.min(h.c.changed_at).label("entered"))
            .where(*where)
            .group_by(h.c.source, h.c.contact_id)
            .subquery()
        )
        first_event = (
            select(func.min(e.c.occurred_at_ms))
            .where(e.c.source == entered.c.source, e.c.contact_id == entered.c.contact_id)
            .scalar_subquery()
        )
        with self.db.connect() as connection:
            rows = connection.execute(select(entered.c.entered, first_event)).all()
        days = []
        for entered_at, first_ms in rows:
            if first_ms is None:
                continue
            days.append(max(0.0, (ensure_utc(entered_at).timestamp() * 1000 - first_ms) / 86_400_000))
        return days

    def find_records(self, query: str, sources: Sequence[str], limit: int = 20) -> list[RecordRef]:
        """Records of ``sources`` whose id is ``query`` or whose email is it (any case); each source is one
        indexed lookup."""
        c = schema.contacts
        text = query.strip()
        found: list[RecordRef] = []
        with self.db.connect() as connection:
            for source in sources:
                rows = connection.execute(
                    select(c.c.source, c.c.contact_id, c.c.email, c.c.deleted, c.c.merged_into)
                    .where(
                        c.c.source == source,
                        or_(c.c.contact_id == text, c.c.email == text.lower(), c.c.email == text),
                    )
                    .order_by(c.c.contact_id)
                    .limit(limit)
                )
                found.extend(
                    RecordRef(row_source, contact_id, email, not deleted and merged_into is None)
                    for row_source, contact_id, email, deleted, merged_into in rows
                )
        return found[:limit]

    def band_counts(self, model: str, source: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (_, band), count in self.grade_band_counts(model, source).items():
            counts[band] = counts.get(band, 0) + count
        return counts

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
