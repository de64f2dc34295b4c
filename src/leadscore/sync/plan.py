"""Desired state minus what is known to be on the platform: the only changes worth sending. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadscore.engine import Engine, Reasons, render_reasons
from leadscore.protocol import TargetProperty, WriteTargets, WriteWork, list_key
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Change, ScoreResult, WrittenState, property_text


@dataclass(frozen=True, slots=True)
class Desired:
    properties: Mapping[str, str]
    lists: frozenset[str]
    managed_lists: frozenset[str]
    reasons: Mapping[str, Reasons] = field(default_factory=dict)
    """Each reasons property's text with its shape, to tell an aged text from another one."""


def write_targets(engines: Sequence[Engine]) -> WriteTargets:
    """Every property and list the models write, for connectors to create if missing."""
    properties: list[TargetProperty] = []
    lists: list[str] = []
    for engine in engines:
        writes = engine.model.writes
        bands = engine.band_names
        grades = tuple(grade.name for grade in engine.model.grades)
        properties += [
            TargetProperty(writes.score, "score"),
            TargetProperty(writes.grade, "grade", grades),
            TargetProperty(writes.band, "band", bands),
        ]
        for role in ("label", "reasons", "scored_at"):
            name = getattr(writes, role)
            if name is not None:
                properties.append(TargetProperty(name, role))
        lists += [list_key(engine.name, band) for band in bands]
    return WriteTargets(tuple(properties), tuple(lists))


def desired_state(engines: Sequence[Engine], results: Sequence[ScoreResult], reasons: Sequence[Reasons]) -> Desired:
    """``reasons`` is each result's rendered text, made once by the score step for the store and the platform."""
    values: dict[str, str] = {}
    lists: set[str] = set()
    managed: set[str] = set()
    texts: dict[str, Reasons] = {}
    by_model = {result.model: (result, text) for result, text in zip(results, reasons, strict=True)}
    for engine in engines:
        result, rendered = by_model[engine.name]
        writes = engine.model.writes
        values[writes.score] = str(result.score)
        values[writes.grade] = result.grade
        values[writes.band] = result.band
        if writes.label is not None:
            values[writes.label] = result.label
        if writes.reasons is not None:
            values[writes.reasons] = rendered.text
            texts[writes.reasons] = rendered
        lists.add(list_key(engine.name, result.band))
        managed.update(list_key(engine.name, band) for band in engine.band_names)
    return Desired(values, frozenset(lists), frozenset(managed), texts)


def rendered_reasons(engines: Sequence[Engine], results: Sequence[ScoreResult], now: datetime) -> list[Reasons]:
    """Each result's reasons as its model writes them, for callers that score outside a rescore."""
    return [
        render_reasons(result, now, engine.model.top_reasons) for engine, result in zip(engines, results, strict=True)
    ]


def plan_contact(
    source: str,
    contact_id: str,
    desired: Desired,
    known: WrittenState | None,
    now: datetime,
    scored_at_names: Sequence[str] = (),
) -> list[Change]:
    """Changes that make the platform show ``desired``; none when it already does.

    The reasons text names ages ("3d"), so it changes as days pass; it is rewritten
    only together with a change a person would notice (score, grade, band, label),
    or when it was edited or is missing on the platform.
    """
    current_properties = known.properties if known is not None else {}
    current_lists = known.lists if known is not None else frozenset()
    changed = {
        name: value
        for name, value in desired.properties.items()
        if property_text(current_properties.get(name)) != value
    }
    changes: list[Change] = []
    if changed and not _only_ageing(changed, current_properties, desired.reasons):
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        payload = dict(changed) | {name: stamp for name in scored_at_names}
        changes.append(Change(source, contact_id, SET_PROPERTIES, payload))
    for key in sorted(desired.lists - current_lists):
        changes.append(Change(source, contact_id, LIST_ADD, {"list": key}))
    for key in sorted((current_lists & desired.managed_lists) - desired.lists):
        changes.append(Change(source, contact_id, LIST_REMOVE, {"list": key}))
    return changes


def _only_ageing(changed: Mapping[str, str], current: Mapping[str, object], reasons: Mapping[str, Reasons]) -> bool:
    """True when the only difference is a reasons text that names the same rules with faded points or older ages."""
    if len(changed) != 1:
        return False
    (name,) = changed
    old = property_text(current.get(name))
    rendered = reasons.get(name)
    return bool(old) and rendered is not None and rendered.same_parts(old)


@dataclass(slots=True)
class WriteTally:
    """Planned changes counted as the platforms' write-cost arithmetic takes them (``WriteWork``), a record's or an
    apply's changes at a time: a list move is lone when no change added with it updates its record."""

    properties: int = 0
    list_adds: Counter[str] = field(default_factory=Counter)
    list_removes: Counter[str] = field(default_factory=Counter)
    lone_adds: Counter[str] = field(default_factory=Counter)
    lone_removes: Counter[str] = field(default_factory=Counter)
    entering_with_update: int = 0

    def add(self, changes: Sequence[Change]) -> None:
        updated = {(c.source, c.contact_id) for c in changes if c.kind == SET_PROPERTIES}
        entering = {(c.source, c.contact_id) for c in changes if c.kind == LIST_ADD}
        self.properties += sum(1 for c in changes if c.kind == SET_PROPERTIES)
        self.entering_with_update += len(updated & entering)
        for change in changes:
            if change.kind not in (LIST_ADD, LIST_REMOVE):
                continue
            key = str(change.payload["list"])
            moves, lone = (
                (self.list_adds, self.lone_adds) if change.kind == LIST_ADD else (self.list_removes, self.lone_removes)
            )
            moves[key] += 1
            if (change.source, change.contact_id) not in updated:
                lone[key] += 1

    def merge(self, other: WriteTally) -> None:
        self.properties += other.properties
        self.entering_with_update += other.entering_with_update
        for mine, theirs in (
            (self.list_adds, other.list_adds),
            (self.list_removes, other.list_removes),
            (self.lone_adds, other.lone_adds),
            (self.lone_removes, other.lone_removes),
        ):
            mine.update(theirs)

    def changes(self) -> int:
        return self.properties + sum(self.list_adds.values()) + sum(self.list_removes.values())

    def work(self) -> WriteWork:
        return WriteWork(
            self.properties,
            dict(self.list_adds),
            dict(self.list_removes),
            dict(self.lone_adds),
            dict(self.lone_removes),
            self.entering_with_update,
        )
