"""Planning one scored page: compare it with written state, plan what differs, tally what changed.

A planner holds data only (engines pickle as their models), so a parallel
rescore can run it inside each worker process; the tallies come back and merge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadscore.engine import Engine
from leadscore.records import LIST_ADD, LIST_REMOVE, Change, Contact, ScoreResult
from leadscore.rescore import ScoredPage
from leadscore.store import Store
from leadscore.sync.plan import desired_state, plan_contact

SAMPLE_SIZE = 5


@dataclass(slots=True)
class PlanTally:
    """What planning some pages found: changes by kind, visible changes, and a few examples."""

    changes: Counter[str] = field(default_factory=Counter)
    score_changes: int = 0
    grade_changes: int = 0
    band_changes: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    linked_changes: Counter[str] = field(default_factory=Counter)
    """Changes planned for other sources' records of the persons scored here, by source."""

    def merge(self, other: PlanTally) -> None:
        self.changes.update(other.changes)
        self.linked_changes.update(other.linked_changes)
        self.score_changes += other.score_changes
        self.grade_changes += other.grade_changes
        self.band_changes += other.band_changes
        self.sample.extend(other.sample[: SAMPLE_SIZE - len(self.sample)])


@dataclass(frozen=True, slots=True)
class PagePlanner:
    """Turns a scored page into changes (none kept in a dry run): desired state minus the state the platform will
    show once what waits in the outbox is sent.

    A page can hold records of other sources (a person's, given the score of the person scored here); their
    changes go to their own source's outbox and are tallied apart."""

    source: str
    engines: Sequence[Engine]
    now: datetime
    scored_at_names: Sequence[str]
    dry_run: bool

    def __call__(self, store: Store, page: ScoredPage, outbox: list[Change]) -> PlanTally:
        tally = PlanTally()
        by_source: dict[str, list[str]] = {}
        for contact, *_ in page:
            by_source.setdefault(contact.source, []).append(contact.id)
        known = {
            (source, contact_id): state
            for source, ids in by_source.items()
            for contact_id, state in store.expected_state(source, ids).items()
        }
        changes: list[Change] = []
        for contact, results, reasons in page:
            desired = desired_state(self.engines, results, reasons)
            current = known.get((contact.source, contact.id))
            planned = plan_contact(contact.source, contact.id, desired, current, self.now, self.scored_at_names)
            if not planned:
                continue
            changes.extend(planned)
            if contact.source != self.source:
                tally.linked_changes[contact.source] += len(planned)
                continue
            self._count(tally, desired.properties, current.properties if current else {})
            if len(tally.sample) < SAMPLE_SIZE:
                tally.sample.append(_sample(contact, results, planned, current.properties if current else {}))
            tally.changes.update(change.kind for change in planned)
        if not self.dry_run:
            outbox.extend(changes)
        return tally

    def _count(self, tally: PlanTally, desired: Mapping[str, str], current: Mapping[str, Any]) -> None:
        for engine in self.engines:
            writes = engine.model.writes
            tally.score_changes += str(current.get(writes.score)) != desired[writes.score]
            tally.grade_changes += current.get(writes.grade) != desired[writes.grade]
            tally.band_changes += current.get(writes.band) != desired[writes.band]


def _sample(
    contact: Contact, results: list[ScoreResult], planned: list[Change], shown: Mapping[str, Any]
) -> dict[str, Any]:
    first = results[0]
    return {
        "contact": contact.id,
        "score": first.score,
        "grade": first.grade,
        "band": first.band,
        "changes": [described(change, shown) for change in planned],
    }


def described(change: Change, shown: Mapping[str, Any]) -> str:
    """A planned change as an operator reads it: each property's value on the record and the one it would get,
    or the list a record joins or leaves."""
    if change.kind == LIST_ADD:
        return f"join list {change.payload['list']}"
    if change.kind == LIST_REMOVE:
        return f"leave list {change.payload['list']}"
    return ", ".join(f"{name}: {_value(shown.get(name))} -> {_value(value)}" for name, value in change.payload.items())


def _value(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")
