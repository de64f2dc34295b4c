"""What a model change would do, computed from the store alone: ``leadscore plan``.

Every contact of a source is scored as of ``now`` twice, with the model in force
and with the proposed one (each from the contact's band on the record, for
hysteresis), and each result is planned against what the store knows to be on
the platform, exactly as a sync would plan it. Nothing is saved and no platform
is called. The model in force scored again shows what decay alone would change
(a ``sync --full``), so a model's own effect can be told from the calendar's.
Where the proposed model finds rules as the one in force does (new points, caps,
decay, grades or bands: what ``calibrate`` writes), a contact is matched once and
finished by each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from leadscore.engine import Engine, Reasons, render_reasons
from leadscore.engine.explain import format_points
from leadscore.protocol import WriteWork
from leadscore.records import ScoreResult
from leadscore.store import Store
from leadscore.sync.plan import WriteTally, desired_state, plan_contact

SAMPLES_PER_MOVE = 3
NONE = "(none)"
"""The band or grade of a contact leadscore has not written yet."""


@dataclass(slots=True)
class Outcome:
    """What one set of models would do to a source, against what is on its records."""

    bands: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    """Per model: (band on the record, band after) -> contacts."""
    grades: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    tally: WriteTally = field(default_factory=WriteTally)
    samples: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = field(default_factory=dict)

    def merge(self, other: Outcome) -> None:
        for mine, theirs in ((self.bands, other.bands), (self.grades, other.grades)):
            for model, moves in theirs.items():
                mine.setdefault(model, Counter()).update(moves)
        self.writes.update(other.writes)
        self.tally.merge(other.tally)
        for model, by_move in other.samples.items():
            held = self.samples.setdefault(model, {})
            for move, items in by_move.items():
                kept = held.setdefault(move, [])
                kept.extend(items[: max(0, SAMPLES_PER_MOVE - len(kept))])

    @property
    def list_adds(self) -> Counter[str]:
        return self.tally.list_adds

    @property
    def list_removes(self) -> Counter[str]:
        return self.tally.list_removes

    def work(self) -> WriteWork:
        return self.tally.work()

    def entering(self, model: str, band_order: Sequence[str]) -> dict[str, int]:
        """Contacts that would enter each band above the first from a lower one: the entries that fire workflows."""
        rank = {band: position for position, band in enumerate(band_order)}
        entered: Counter[str] = Counter()
        for (before, after), count in self.bands.get(model, Counter()).items():
            if rank.get(after, 0) > 0 and rank.get(after, 0) > rank.get(before, -1):
                entered[after] += count
        return {band: entered[band] for band in band_order[1:]}


@dataclass(slots=True)
class SourcePreview:
    source: str
    contacts: int = 0
    proposed: Outcome = field(default_factory=Outcome)
    decay_only: Outcome = field(default_factory=Outcome)


def preview_source(
    store: Store,
    source: str,
    current: Sequence[Engine],
    proposed: Sequence[Engine],
    now: datetime,
    scored_at_names: Sequence[str] = (),
    page_size: int = 2000,
    *,
    ids: tuple[str, str | None] = ("", None),
) -> SourcePreview:
    """Score every contact of ``source`` (of ``ids``: above the first, up to the second) with both sets of models
    and plan each against the written state."""
    preview = SourcePreview(source)
    after, upto = ids
    in_force = {engine.name: engine for engine in current}
    finds_alike = {
        engine.name for engine in proposed if engine.name in in_force and in_force[engine.name].matches_like(engine)
    }
    for page in store.contacts_with_events(source, page_size=page_size, after=after, upto=upto):
        page_ids = [contact.id for contact, _ in page]
        visible = store.visible_scores(source, page_ids)
        written = store.written_state(source, page_ids)
        for contact, rows in page:
            preview.contacts += 1
            before = {name: visible.get((contact.id, name)) for name in {e.name for e in (*current, *proposed)}}
            found = {engine.name: engine.find_rows(contact, rows, now) for engine in current}
            old = [engine.finish_found(contact, found[engine.name], _band(before[engine.name])) for engine in current]
            new = [
                engine.finish_found(contact, found[engine.name], _band(before[engine.name]))
                if engine.name in finds_alike
                else _score(engine, contact, rows, now, before[engine.name])
                for engine in proposed
            ]
            record = {"contact": contact.id, "email": contact.email}
            rendered: dict[tuple[Any, ...], Reasons] = {}
            for engines, results, outcome, baseline in (
                (proposed, new, preview.proposed, old),
                (current, old, preview.decay_only, None),
            ):
                _tally(outcome, engines, results, before, record, baseline)
                desired = desired_state(engines, results, _reasons(engines, results, now, rendered))
                changes = plan_contact(source, contact.id, desired, written.get(contact.id), now, scored_at_names)
                outcome.writes.update(change.kind for change in changes)
                outcome.tally.add(changes)
    return preview


def preview_in_parallel(
    store: Store,
    source: str,
    current: Sequence[Engine],
    proposed: Sequence[Engine],
    now: datetime,
    scored_at_names: Sequence[str] = (),
    *,
    workers: int = 1,
    page_size: int = 2000,
) -> SourcePreview:
    """:func:`preview_source` split at page ends over worker processes, each reading its own id ranges; one
    process where the store cannot be shared or the source holds a page or less."""
    url = store.shareable_url()
    ends = store.page_ends(source, page_size=page_size) if url is not None and workers > 1 else []
    if url is None or len(ends) < 2:
        return preview_source(store, source, current, proposed, now, scored_at_names, page_size)
    bounds = ["", *ends]
    ranges = [(bounds[i], bounds[i + 1] if i + 1 < len(bounds) else None) for i in range(len(bounds))]
    jobs = [(url, source, tuple(current), tuple(proposed), now, tuple(scored_at_names), page_size, r) for r in ranges]
    total = SourcePreview(source)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for part in pool.map(_preview_range, jobs):
            total.contacts += part.contacts
            total.proposed.merge(part.proposed)
            total.decay_only.merge(part.decay_only)
    return total


def _preview_range(job: tuple[Any, ...]) -> SourcePreview:
    """One worker's share: its own connection to the store, one id range."""
    from leadscore.store import SQLStore

    url, source, current, proposed, now, scored_at_names, page_size, ids = job
    store = SQLStore.open(url, migrate=False)
    try:
        return preview_source(store, source, current, proposed, now, scored_at_names, page_size, ids=ids)
    finally:
        store.close()


def _score(engine: Engine, contact: Any, rows: Any, now: datetime, shown: Any) -> ScoreResult:
    return engine.score_rows(contact, rows, now, previous_band=_band(shown))


def _reasons(
    engines: Sequence[Engine], results: Sequence[ScoreResult], now: datetime, rendered: dict[tuple[Any, ...], Reasons]
) -> list[Reasons]:
    """Each result's reasons text; two results with the same contributions (a model that moved only its bands)
    read the same, so one contact's texts are rendered once per distinct set of contributions."""
    texts = []
    for engine, result in zip(engines, results, strict=True):
        key = (result.contributions, result.disqualified, engine.model.top_reasons)
        text = rendered.get(key)
        if text is None:
            text = rendered[key] = render_reasons(result, now, engine.model.top_reasons)
        texts.append(text)
    return texts


def _band(shown: Any) -> str | None:
    return shown.band if shown is not None else None


def _tally(
    outcome: Outcome,
    engines: Sequence[Engine],
    results: Sequence[ScoreResult],
    before: dict[str, Any],
    record: dict[str, Any],
    baseline: Sequence[ScoreResult] | None,
) -> None:
    old_by_model = {result.model: result for result in baseline or ()}
    for engine, result in zip(engines, results, strict=True):
        shown = before.get(engine.name)
        move = (shown.band if shown is not None else NONE, result.band)
        outcome.bands.setdefault(engine.name, Counter())[move] += 1
        grade_move = (shown.grade if shown is not None else NONE, result.grade)
        if grade_move[0] != grade_move[1]:
            outcome.grades.setdefault(engine.name, Counter())[grade_move] += 1
        if move[0] == move[1]:
            continue
        samples = outcome.samples.setdefault(engine.name, {}).setdefault(move, [])
        if len(samples) < SAMPLES_PER_MOVE:
            samples.append(
                record
                | {
                    "score_on_record": shown.score if shown is not None else None,
                    "score": result.score,
                    "why": explain_diff(old_by_model.get(engine.name), result),
                }
            )


def explain_diff(old: ScoreResult | None, new: ScoreResult) -> list[str]:
    """The rules that moved a contact between two results: gained, lost, or changed points."""
    before = {c.rule_id: c for c in old.contributions} if old is not None else {}
    after = {c.rule_id: c for c in new.contributions}
    lines = []
    for rule_id, item in after.items():
        was = before.get(rule_id)
        if was is None:
            if item.points:
                lines.append(f"{format_points(item.points)} {item.reason} (new)")
        elif abs(was.points - item.points) >= 0.5:
            lines.append(f"{item.reason}: {format_points(was.points)} -> {format_points(item.points)}")
    lines.extend(
        f"{format_points(-item.points)} {item.reason} (gone)"
        for rule_id, item in before.items()
        if rule_id not in after and item.points
    )
    return lines
