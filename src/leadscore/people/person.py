"""A person's profile and history, assembled from the records that share their email (pure: no store).

The result must not depend on which record is being scored: every linked record
gets the same score, whichever source's cycle computed it. So records are
ordered by a rule of their own (newest update first, then source, then id),
never by the order they were read in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadscore.engine import Engine
from leadscore.people.config import Fold, PeopleScope
from leadscore.records import Contact, EventRow, ScoreResult


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """One source's record of a person, with its event rows."""

    source: str
    contact_id: str
    email: str | None
    profile: Mapping[str, Any]
    updated_at: datetime
    events: Sequence[EventRow] = ()


@dataclass(frozen=True, slots=True)
class PersonView:
    """What the engine scores for a person, and where each part of it came from."""

    contact: Contact
    rows: list[EventRow]
    row_sources: list[str]
    profile_sources: dict[str, str] = field(default_factory=dict)
    """Profile field -> the source its value came from (only fields some record has a value for)."""
    folded: int = 0
    """Events dropped as another platform's report of an action already counted."""

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(self.row_sources) | frozenset(self.profile_sources.values())


def assemble(scored: Contact, records: Sequence[LinkedRecord], scope: PeopleScope) -> PersonView:
    """The person ``scored`` belongs to, from ``records`` (all of theirs, ``scored``'s own among them)."""
    ordered = sorted(records, key=lambda r: (-r.updated_at.timestamp(), _rank(scope, r.source), r.contact_id))
    profile, sources = _profile(ordered, scope)
    rows: list[tuple[EventRow, str]] = [(row, record.source) for record in ordered for row in record.events]
    rows.sort(key=lambda item: (item[0][2], item[1], item[0][0]))
    kept, folded = _fold(rows, scope.folds)
    contact = Contact(scored.source, scored.id, scored.email, profile, scored.observed, scored.lists)
    return PersonView(contact, [row for row, _ in kept], [source for _, source in kept], sources, folded)


def score_person(
    engine: Engine, view: PersonView, scope: PeopleScope, now: datetime, previous_band: str | None = None
) -> ScoreResult:
    """A person's score; where their records span sources, each behaviour contribution names its sources."""
    result = engine.score_rows(view.contact, view.rows, now, previous_band=previous_band)
    if len(view.sources) < 2:
        return result
    return engine.with_sources(result, view.rows, [scope.label(source) for source in view.row_sources], now)


def _rank(scope: PeopleScope, source: str) -> int:
    return scope.sources.index(source) if source in scope.sources else len(scope.sources)


def _has_value(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _profile(ordered: Sequence[LinkedRecord], scope: PeopleScope) -> tuple[dict[str, Any], dict[str, str]]:
    names: dict[str, None] = {}
    for record in ordered:
        names.update(dict.fromkeys(record.profile))
    profile: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in names:
        preferred = scope.precedence.get(name, ())
        candidates = [r for source in preferred for r in ordered if r.source == source]
        candidates += [r for r in ordered if r.source not in preferred]
        for record in candidates:
            value = record.profile.get(name)
            if _has_value(value):
                profile[name] = value
                sources[name] = record.source
                break
    return profile, sources


def _fold(rows: list[tuple[EventRow, str]], folds: Sequence[Fold]) -> tuple[list[tuple[EventRow, str]], int]:
    """Drop an event when an earlier kept one of the same action, from another source, is within the fold's
    window and equal on its match attributes (rows arrive in time order)."""
    if not folds:
        return rows, 0
    by_action = {action: fold for fold in folds for action in fold.actions}
    kept: list[tuple[EventRow, str]] = []
    recent: dict[tuple[str, tuple[Any, ...]], list[tuple[int, str]]] = {}
    folded = 0
    for row, source in rows:
        fold = by_action.get(row[1])
        if fold is None:
            kept.append((row, source))
            continue
        attributes = _attributes(row[3])
        key = (row[1] if len(fold.actions) == 1 else "|".join(sorted(fold.actions)), _matched(attributes, fold))
        seen = recent.setdefault(key, [])
        at = row[2]
        if any(other != source and at - when <= fold.within_ms for when, other in seen):
            folded += 1
            continue
        seen.append((at, source))
        kept.append((row, source))
    return kept, folded


def _matched(attributes: Mapping[str, Any], fold: Fold) -> tuple[Any, ...]:
    return tuple(json.dumps(attributes.get(name), sort_keys=True, default=str) for name in fold.match)


def _attributes(raw: Any) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return raw if isinstance(raw, Mapping) else {}
