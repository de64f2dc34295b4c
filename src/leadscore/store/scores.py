"""The rescore queue and the scores: what waits for a rescore, contacts read page by page, scored pages saved whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select

from leadscore.records import (
    Change,
    Contact,
    EventRow,
    ensure_utc,
)
from leadscore.store import schema
from leadscore.store.base import EMPTY, Tables, chunks
from leadscore.store.statements import (
    contacts_page,
    page_ends,
    score_columns,
)
from leadscore.store.tallies import ScoreKey, add_counts, add_history, bucket_of, count_delta


@dataclass(frozen=True, slots=True)
class StoredScore:
    """What the store remembers of a contact's last score: enough for hysteresis and explain."""

    contact_id: str
    model: str
    score: int
    fit: float
    behaviour: float
    grade: str
    band: str
    label: str
    reasons: str
    scored_at: datetime
    source: str = ""
    """The record's source where it is not the page's (a person's score saved for their other records)."""
    model_version: str = ""
    contributions: tuple[tuple[str, float], ...] = ()
    """(reason, points) of the rules that moved the score most, for the score history."""
    first_event_ms: int | None = None
    """When the record's (the person's) first event happened, for the days from it to a band entry."""


class VisibleScore(NamedTuple):
    """What a person sees of a stored score on the record. A rescore reads only this of the last score (for
    hysteresis, and to save a score only when it shows differently): reading whole stored scores, their timestamps
    parsed, was a twelfth of a full rescore."""

    score: int
    grade: str
    band: str
    label: str
    reasons: str


class ScoresStore(Tables):
    """What is queued for a rescore, and the last score of every contact per model."""

    def mark_for_rescore(self, source: str, contact_ids: Iterable[str]) -> None:
        """Queue contacts for the next incremental rescore (new data is queued by the store itself)."""
        with self.db.begin() as connection:
            self._queue(connection, source, contact_ids)

    def forget_gone_in_queue(self, source: str) -> int:
        """Drop queued ids whose contact is deleted or merged away (an event can arrive for one after it went):
        they are never scored, so nothing else would take them off. Returns how many were dropped."""
        with self.db.begin() as connection:
            return int(connection.execute(self._sql.unqueue_gone, {"p_source": source}).rowcount)

    def page_ends(self, source: str, *, only_queued: bool = False, page_size: int = 2000) -> list[str]:
        """The contact id that ends each full page of live contacts (with ``only_queued``, of queued contacts).

        Splitting the id range at these ids gives pages of ``page_size`` that
        separate processes can score without reading each other's pages.
        """
        with self.db.connect() as connection:
            rows = connection.execute(page_ends(only_queued), {"p_source": source, "p_size": page_size})
            return [row[0] for row in rows]

    def contacts_with_events(
        self,
        source: str,
        *,
        only_queued: bool = False,
        page_size: int = 2000,
        after: str = "",
        upto: str | None = None,
    ) -> Iterator[list[tuple[Contact, list[EventRow]]]]:
        """Stream live contacts with their event rows, a page at a time, so memory follows the page, not the account.

        Only ids above ``after`` and up to ``upto`` (when given) are read. Rows carry
        the attributes as the stored JSON text: the engine decodes each distinct
        text once instead of once per event.
        """
        page_query = contacts_page(only_queued, upto is not None)
        while True:
            with self.db.connect() as connection:
                contact_rows = connection.execute(
                    page_query, {"p_source": source, "p_after": after, "p_upto": upto, "p_limit": page_size}
                ).all()
                if not contact_rows:
                    return
                first, last = contact_rows[0][0], contact_rows[-1][0]
                if only_queued:
                    event_query = self._sql.events_of_ids
                    parameters = {"p_source": source, "p_ids": [row[0] for row in contact_rows]}
                else:
                    event_query = self._sql.events_in_range
                    parameters = {"p_source": source, "p_first": first, "p_last": last}
                grouped: dict[str, list[EventRow]] = {}
                for contact_id, event_id, action, occurred_ms, attributes in connection.execute(
                    event_query, parameters
                ).all():
                    bucket = grouped.get(contact_id)
                    if bucket is None:
                        bucket = grouped[contact_id] = []
                    bucket.append((event_id, action, occurred_ms, attributes))
            yield [
                (Contact(source, contact_id, email, profile or EMPTY), grouped.get(contact_id, []))
                for contact_id, email, profile in contact_rows
            ]
            after = last

    def save_scores(self, source: str, scores: Sequence[StoredScore], scored_ids: Sequence[str] = ()) -> None:
        """Remember changed scores and clear the rescore mark of every contact scored."""
        self.save_scored_page(source, scores, scored_ids, ())

    def save_scored_page(
        self,
        source: str,
        scores: Sequence[StoredScore],
        scored_ids: Sequence[str],
        changes: Sequence[Change],
        settled: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """One scored page as one unit of work: the changes planned from it enter the outbox, changed scores are
        remembered, and every contact scored (``scored_ids`` also names those whose stored score is unchanged)
        leaves the rescore queue, all committed or none. Scores of other sources' records (a person's, saved
        for each of their records) are saved too; ``settled`` names those records' rescore marks, (source, id,
        version) as read before their data, which are cleared only if still at that version: a record marked again
        since (new data) stays queued for its own source's rescore."""
        with self.db.begin() as connection:
            self._enqueue(connection, changes)
            if scores:
                history, deltas = self._history_rows(connection, source, scores)
                if history:
                    connection.execute(
                        insert(schema.score_history),
                        [{k: v for k, v in row.items() if k != "first_event_ms"} for row in history],
                    )
                    add_history(connection, self._dialect, history)
                add_counts(connection, self._dialect, deltas)
                connection.execute(
                    self._sql.upsert_scores,
                    [
                        {
                            "source": s.source or source,
                            "contact_id": s.contact_id,
                            "model": s.model,
                            "score": s.score,
                            "fit": s.fit,
                            "behaviour": s.behaviour,
                            "grade": s.grade,
                            "band": s.band,
                            "label": s.label,
                            "reasons": s.reasons,
                            "scored_at": s.scored_at,
                        }
                        for s in scores
                    ],
                )
            own = [s.contact_id for s in scores if s.source in ("", source)]
            self._unqueue(connection, source, own + list(scored_ids))
            if settled:
                connection.execute(
                    self._sql.settle_mark,
                    [
                        {"p_source": other, "p_id": contact_id, "p_version": version}
                        for other, contact_id, version in settled
                    ],
                )

    def _history_rows(
        self, connection: Connection, source: str, scores: Sequence[StoredScore]
    ) -> tuple[list[dict[str, Any]], dict[ScoreKey, tuple[int, int]]]:
        """A history row for each saved score whose score, grade or band differs from the one it replaces (a
        record's first score too; a change of reasons alone is not history), and what the saved scores move in
        the score tallies."""
        s = schema.scores
        before: dict[tuple[str, str, str], tuple[int, str, str]] = {}
        by_source: dict[str, list[str]] = {}
        for score in scores:
            by_source.setdefault(score.source or source, []).append(score.contact_id)
        for record_source, ids in by_source.items():
            for chunk in chunks(sorted(set(ids)), 1000):
                rows = connection.execute(
                    select(s.c.contact_id, s.c.model, s.c.score, s.c.grade, s.c.band).where(
                        s.c.source == record_source, s.c.contact_id.in_(list(chunk))
                    )
                )
                for contact_id, model, score_value, grade, band in rows:
                    before[(record_source, contact_id, model)] = (score_value, grade, band)
        history = []
        deltas: dict[ScoreKey, tuple[int, int]] = {}
        for score in scores:
            record_source = score.source or source
            old = before.get((record_source, score.contact_id, score.model))
            if old is not None:
                count_delta(deltas, (record_source, score.model, bucket_of(old[0]), old[1], old[2]), -1, -old[0])
            count_delta(
                deltas, (record_source, score.model, bucket_of(score.score), score.grade, score.band), 1, score.score
            )
            if old == (score.score, score.grade, score.band):
                continue
            history.append(
                {
                    "source": record_source,
                    "contact_id": score.contact_id,
                    "model": score.model,
                    "changed_at": score.scored_at,
                    "old_score": old[0] if old else None,
                    "new_score": score.score,
                    "old_grade": old[1] if old else None,
                    "new_grade": score.grade,
                    "old_band": old[2] if old else None,
                    "new_band": score.band,
                    "model_version": score.model_version,
                    "contributions": [[reason, points] for reason, points in score.contributions],
                    "first_event_ms": score.first_event_ms,
                }
            )
        return history, deltas

    def visible_scores(self, source: str, contact_ids: Sequence[str]) -> dict[tuple[str, str], VisibleScore]:
        """Last scores by (contact id, model name), as the record shows them."""
        found: dict[tuple[str, str], VisibleScore] = {}
        with self.db.connect() as connection:
            for chunk in chunks(list(contact_ids), 1000):
                rows = connection.execute(self._sql.visible_scores_of_ids, {"p_source": source, "p_ids": list(chunk)})
                for contact_id, model, score, grade, band, label, reasons in rows.all():
                    found[(contact_id, model)] = VisibleScore(score, grade, band, label, reasons)
        return found

    def top_scores(self, source: str, model: str, limit: int) -> list[tuple[StoredScore, str | None]]:
        """The highest scores of one model, with each contact's email, for summaries."""
        s, c = schema.scores, schema.contacts
        query = (
            select(*score_columns(), c.c.email)
            .join(c, (c.c.source == s.c.source) & (c.c.contact_id == s.c.contact_id))
            .where(s.c.source == source, s.c.model == model, c.c.deleted.is_(False), c.c.merged_into.is_(None))
            .order_by(s.c.score.desc(), s.c.contact_id)
            .limit(limit)
        )
        with self.db.connect() as connection:
            return [(_stored_score(row), row[10]) for row in connection.execute(query)]


def _stored_score(row: Any) -> StoredScore:
    contact_id, model, score, fit, behaviour, grade, band, label, reasons, scored_at = row[:10]
    return StoredScore(contact_id, model, score, fit, behaviour, grade, band, label, reasons, ensure_utc(scored_at))
