"""What the console's pages show, computed from the store's aggregates: band stocks over time, KPIs, explain
rows. Plain functions of their inputs, so the figures a page shows can be checked against the store."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadscore.engine import Engine, reasons_text
from leadscore.people import PeopleScope, assemble, score_person
from leadscore.records import Contact, ScoreResult
from leadscore.store import HistoryEntry
from leadscore.store.insights import WeekFlow
from leadscore.store.people import RecordOfPerson


def bands_of(engine: Engine) -> list[tuple[str, int]]:
    return [(band.name, band.min) for band in engine.model.bands]


def qualified_bands(engine: Engine) -> list[str]:
    """The bands that fire the platforms' qualification workflows: from the fast-track band up; else from the
    first band whose lifecycle stage differs from the lowest band's; else the top band."""
    bands = engine.model.bands
    if engine.model.fast_track is not None:
        floor = next(b.min for b in bands if b.name == engine.model.fast_track.band)
        return [b.name for b in bands if b.min >= floor]
    first_stage = bands[0].lifecycle_stage
    for index, band in enumerate(bands):
        if band.lifecycle_stage != first_stage:
            return [b.name for b in bands[index:]]
    return [bands[-1].name]


def band_stocks(current: dict[str, int], flows: Sequence[WeekFlow], bands: Sequence[str]) -> list[dict[str, int]]:
    """Records per band at the end of each week: today's counts with every later week's net flow taken back
    (exact for the weeks the history still holds)."""
    stocks: list[dict[str, int]] = []
    running = {band: current.get(band, 0) for band in bands}
    for flow in reversed(flows):
        stocks.append(dict(running))
        for band in bands:
            running[band] -= flow.entered.get(band, 0) - flow.left.get(band, 0)
    return list(reversed(stocks))


@dataclass(frozen=True, slots=True)
class DaysToBand:
    records: int
    median: float | None
    mean: float | None


def days_summary(days: dict[int, int]) -> DaysToBand:
    """Median and mean of whole days, from a tally of days -> records."""
    records = sum(days.values())
    if not records:
        return DaysToBand(0, None, None)
    ordered = sorted(days.items())
    middle = [(records - 1) // 2, records // 2]
    picked: list[float] = []
    seen = 0
    for value, count in ordered:
        picked.extend(float(value) for position in middle if seen <= position < seen + count)
        seen += count
    mean = sum(value * count for value, count in ordered) / records
    return DaysToBand(records, statistics.fmean(picked), mean)


@dataclass(frozen=True, slots=True)
class ExplainRow:
    rule: str
    kind: str
    points: float
    events: int
    latest: str
    reason: str


@dataclass(frozen=True, slots=True)
class Explained:
    model: str
    result: ScoreResult
    rows: list[ExplainRow]
    written_as: str
    profile_sources: dict[str, str]


def explain_person(
    engines: Sequence[Engine], records: Sequence[RecordOfPerson], scope: PeopleScope | None, now: datetime
) -> list[Explained]:
    """Score the live records as the cycle does (as one person where the sources share people), rule by rule."""
    live = [found.record for found in records if found.live]
    if not live:
        return []
    first = live[0]
    grouped = [r for r in live if scope is not None and r.source in scope.sources]
    used = scope if grouped and scope is not None else PeopleScope(sources=(first.source,))
    chosen = grouped or [r for r in live if r.source == first.source]
    view = assemble(Contact(first.source, first.contact_id, first.email, first.profile), chosen, used)
    explained = []
    for engine in engines:
        result = score_person(engine, view, used, now)
        rows = [
            ExplainRow(
                c.rule_id,
                c.kind,
                c.points,
                c.events,
                _latest(c.last_seen, c.sources, now),
                c.reason,
            )
            for c in result.contributions
        ]
        rows.extend(
            ExplainRow("(no rule)", "behaviour", 0.0, count, "", f"'{action}' events earn nothing")
            for action, count in sorted(result.unmatched_actions.items())
        )
        explained.append(
            Explained(
                engine.name,
                result,
                rows,
                reasons_text(result, now, engine.model.top_reasons),
                dict(view.profile_sources),
            )
        )
    return explained


def _latest(seen: datetime | None, sources: Sequence[str], now: datetime) -> str:
    if seen is None:
        return ""
    text = f"{int((now - seen).total_seconds() // 86400)}d ago"
    return f"{text} ({', '.join(sources)})" if sources else text


def moved_rules(entries: Sequence[HistoryEntry]) -> list[list[str]]:
    """For each history entry, the rules whose points differ from the entry before it (all, for the first)."""
    moved: list[list[str]] = []
    before: dict[str, float] = {}
    for entry in entries:
        now = dict(entry.contributions)
        changes = [
            f"{points - before.get(reason, 0.0):+g} {reason}"
            for reason, points in now.items()
            if abs(points - before.get(reason, 0.0)) >= 0.05
        ]
        changes.extend(f"{-points:+g} {reason}" for reason, points in before.items() if reason not in now)
        moved.append(changes)
        before = now
    return moved
