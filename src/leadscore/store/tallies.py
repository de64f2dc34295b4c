"""Tallies of scores and their changes, kept in the transaction that changes them, so the console's figures are
lookups of a few rows whatever the size of the account (and agree with the scores at every commit).

``score_counts``: live records and the sum of their scores per (source, model, score bucket, grade, band).
``band_flows``: per week, records that entered and left each band (a record deleted or merged away leaves its
band). ``week_scores``: per week, how many visible changes, the sum of the scores moved to, and what the week
changed in the live records' count and score sum (so that each past week's average can be taken back from
today's). ``band_entry_days``: per week and band, records that entered the band by whole days since their first
event. A week is a Monday-starting UTC week, counted from the Monday before the epoch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from leadscore.clock import utcnow
from leadscore.store import schema
from leadscore.store.statements import insert_for

BUCKET = 5
"""Scores are tallied in buckets of five points (0-4, ..., 95-100)."""
WEEK_SECONDS = 7 * 86_400
MONDAY_OFFSET = 3 * 86_400
"""1970-01-01 was a Thursday: weeks counted from the Monday three days before it start on Mondays."""


def bucket_of(score: int) -> int:
    return min(score, 100 - 1) // BUCKET * BUCKET


def week_of(moment: datetime) -> int:
    return int((moment.timestamp() + MONDAY_OFFSET) // WEEK_SECONDS)


def week_start(week: int) -> float:
    """The epoch seconds a week starts at."""
    return float(week * WEEK_SECONDS - MONDAY_OFFSET)


ScoreKey = tuple[str, str, int, str, str]
"""(source, model, bucket, grade, band)."""


def add_counts(connection: Connection, dialect: str, deltas: Mapping[ScoreKey, tuple[int, int]]) -> None:
    """Move ``score_counts`` by ``deltas`` (records, score sum), in key order (two transactions then lock rows
    in the same order)."""
    rows = [
        {"source": k[0], "model": k[1], "bucket": k[2], "grade": k[3], "band": k[4], "records": n, "score_sum": total}
        for k, (n, total) in sorted(deltas.items())
        if n or total
    ]
    keys = ["source", "model", "bucket", "grade", "band"]
    _add(connection, dialect, schema.score_counts, keys, ("records", "score_sum"), rows)


def count_delta(deltas: dict[ScoreKey, tuple[int, int]], key: ScoreKey, records: int, score: int) -> None:
    held = deltas.get(key, (0, 0))
    deltas[key] = (held[0] + records, held[1] + score)


def add_history(connection: Connection, dialect: str, history: Sequence[Mapping[str, Any]]) -> None:
    """Tally score-history rows (as inserted): band entries and exits, score sums, and days to each entry."""
    flows: Counter[tuple[str, str, int, str, str]] = Counter()
    moves: Counter[tuple[str, str, int]] = Counter()
    sums: Counter[tuple[str, str, int]] = Counter()
    score_delta: Counter[tuple[str, str, int]] = Counter()
    records_delta: Counter[tuple[str, str, int]] = Counter()
    days: Counter[tuple[str, str, int, str, int]] = Counter()
    for row in history:
        week = week_of(row["changed_at"])
        key = (row["source"], row["model"], week)
        moves[key] += 1
        sums[key] += int(row["new_score"])
        score_delta[key] += int(row["new_score"]) - int(row["old_score"] or 0)
        records_delta[key] += 1 if row["old_score"] is None else 0
        if row["old_band"] == row["new_band"]:
            continue
        flows[(*key, row["new_band"], "entered")] += 1
        if row["old_band"] is not None:
            flows[(*key, row["old_band"], "exited")] += 1
        first = row.get("first_event_ms")
        if first is not None:
            waited = max(0, int((row["changed_at"].timestamp() * 1000 - first) // 86_400_000))
            days[(*key, row["new_band"], waited)] += 1
    flow_rows: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for (source, model, week, band, side), count in flows.items():
        entry = flow_rows.setdefault(
            (source, model, week, band),
            {"source": source, "model": model, "week": week, "band": band, "entered": 0, "exited": 0},
        )
        entry[side] += count
    _add_flows(connection, dialect, [flow_rows[k] for k in sorted(flow_rows)])
    _add_week_scores(
        connection,
        dialect,
        [
            {
                "source": k[0],
                "model": k[1],
                "week": k[2],
                "moves": moves[k],
                "score_sum": sums[k],
                "score_delta": score_delta[k],
                "records_delta": records_delta[k],
            }
            for k in sorted(moves)
        ],
    )
    _add(
        connection,
        dialect,
        schema.band_entry_days,
        ["source", "model", "week", "band", "days"],
        ("records",),
        [
            {"source": k[0], "model": k[1], "week": k[2], "band": k[3], "days": k[4], "records": n}
            for k, n in sorted(days.items())
        ],
    )


def forget_scores(connection: Connection, dialect: str, source: str, contact_ids: Iterable[str]) -> None:
    """A record deleted or merged away keeps no score: its scores leave the tallies and the table."""
    s = schema.scores
    ids = list(contact_ids)
    if not ids:
        return
    deltas: dict[ScoreKey, tuple[int, int]] = {}
    exits: Counter[tuple[str, str]] = Counter()
    week_change: dict[str, list[int]] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for model, score, grade, band in connection.execute(
            select(s.c.model, s.c.score, s.c.grade, s.c.band).where(s.c.source == source, s.c.contact_id.in_(chunk))
        ):
            count_delta(deltas, (source, model, bucket_of(score), grade, band), -1, -score)
            exits[(model, band)] += 1
            change = week_change.setdefault(model, [0, 0])
            change[0] -= score
            change[1] -= 1
        connection.execute(delete(s).where(s.c.source == source, s.c.contact_id.in_(chunk)))
    add_counts(connection, dialect, deltas)
    week = week_of(utcnow())
    _add_flows(
        connection,
        dialect,
        [
            {"source": source, "model": model, "week": week, "band": band, "entered": 0, "exited": n}
            for (model, band), n in sorted(exits.items())
        ],
    )
    _add_week_scores(
        connection,
        dialect,
        [
            {
                "source": source,
                "model": m,
                "week": week,
                "moves": 0,
                "score_sum": 0,
                "score_delta": d,
                "records_delta": r,
            }
            for m, (d, r) in sorted(week_change.items())
        ],
    )


def _add_flows(connection: Connection, dialect: str, rows: list[dict[str, Any]]) -> None:
    _add(connection, dialect, schema.band_flows, ["source", "model", "week", "band"], ("entered", "exited"), rows)


def _add_week_scores(connection: Connection, dialect: str, rows: list[dict[str, Any]]) -> None:
    amounts = ("moves", "score_sum", "score_delta", "records_delta")
    _add(connection, dialect, schema.week_scores, ["source", "model", "week"], amounts, rows)


def prune_tallies(connection: Connection, source: str, before: datetime) -> None:
    """Forget weekly tallies of weeks wholly before ``before`` (the history's retention)."""
    last_week = week_of(before) - 1
    for table in (schema.band_flows, schema.week_scores, schema.band_entry_days):
        connection.execute(delete(table).where(table.c.source == source, table.c.week <= last_week))


def _add(
    connection: Connection,
    dialect: str,
    table: Any,
    keys: list[str],
    amounts: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    statement = insert_for(dialect, table)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_={name: table.c[name] + statement.excluded[name] for name in amounts}
        ),
        rows,
    )
