"""The fast path: scoring rows as the store holds them, for rescores of millions of contacts.

It gives exactly what the reference ``Engine.score`` gives on the same events
(tests/engine/test_properties.py holds the two equal); it only avoids work:
- a fit rule's outcome is remembered per (type, value) of the fields it reads,
  since profile values repeat (and per ``now`` when the rule compares dates with it);
- an event's candidate rules are remembered per (action, attributes JSON text),
  decoding each text once; the common case, one rule without a window, is kept bare;
- ``now`` is converted once per rescore, not once per contact.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from leadscore.engine.compiled import BehaviourCheck, CompiledModel, FieldValues, FitCheck, Found
from leadscore.engine.model import BehaviourRule, FitRule
from leadscore.records import Contact, EventRow, ScoreResult, to_epoch_ms

NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
NOT_LEARNED: Any = object()
MEMO_LIMIT = 20_000
"""Distinct values (or action and attributes texts) remembered; page URLs can make them unbounded, so forget past
this."""
Leads = BehaviourRule | tuple[BehaviourCheck, ...] | None
"""What an (action, attributes) pair leads to: the one rule that takes it outright, the candidates to walk, or none."""


class RememberedFit:
    """A fit rule whose outcome is remembered by the (type, value) of each field it reads."""

    __slots__ = ("check", "outcomes", "single")

    def __init__(self, check: FitCheck) -> None:
        self.check = check
        self.outcomes: dict[Any, bool] = {}
        self.single = check.fields[0] if len(check.fields) == 1 and not check.timed else None

    def holds(self, fields: FieldValues, now_ms: int) -> bool:
        check = self.check
        if fields.unreadable and fields.unreadable.intersection(check.fields):
            return False
        values = fields.values
        if self.single is not None:
            value = values[self.single]
            key: Any = (value.__class__, value)
        else:
            key = (now_ms if check.timed else None, *((values[n].__class__, values[n]) for n in check.fields))
        try:
            return self.outcomes[key]
        except KeyError:
            if len(self.outcomes) >= MEMO_LIMIT:
                self.outcomes.clear()
            outcome = self.outcomes[key] = check.holds(values, now_ms)
            return outcome
        except TypeError:
            return check.holds(values, now_ms)


class RowScorer:
    """Scores contacts from store rows with one compiled model, remembering what repeats between contacts."""

    def __init__(self, compiled: CompiledModel) -> None:
        self.compiled = compiled
        self._fit = tuple(RememberedFit(check) for check in compiled.fit)
        self._now: tuple[datetime | None, int] = (None, 0)
        self._found_by_text: dict[tuple[str, str | None], Leads] = {}

    def score(
        self, contact: Contact, rows: Iterable[EventRow], now: datetime, previous_band: str | None
    ) -> ScoreResult:
        fields, fit_held, taken, now_ms, unmatched = self.find(contact, rows, now)
        return self.compiled.finish(contact, fields, fit_held, taken, now_ms, previous_band, unmatched)

    def find(self, contact: Contact, rows: Iterable[EventRow], now: datetime) -> Found:
        """The matching half of :meth:`score`, which another model of the same ``matching`` can finish."""
        compiled = self.compiled
        now_ms = self._epoch_ms(now)
        fields = compiled.read(contact)
        fit_held: list[FitRule] = [
            remembered.check.rule for remembered in self._fit if remembered.holds(fields, now_ms)
        ]

        taken: dict[str, list[int]] = {}
        unmatched: Counter[str] | None = None
        known = self._found_by_text
        for _, action, occurred_ms, attributes in rows:
            if occurred_ms > now_ms:
                unmatched = unmatched or Counter()
                unmatched["(in the future)"] += 1
                continue
            if attributes is None or attributes.__class__ is str:
                found = known.get((action, attributes), NOT_LEARNED)
                if found is NOT_LEARNED:
                    found = self._learn(action, attributes)
            else:
                found = _bare(compiled.candidates(action, attributes))
            if found.__class__ is BehaviourRule:
                moments = taken.get(found.id)
                if moments is None:
                    taken[found.id] = [occurred_ms]
                else:
                    moments.append(occurred_ms)
            elif found is None or not compiled.take(found, occurred_ms, now_ms, taken):
                unmatched = unmatched or Counter()
                unmatched[action] += 1
        return Found(fields, fit_held, taken, now_ms, unmatched)

    def _learn(self, action: str, attributes: str | None) -> Leads:
        """What an action and the store's JSON text of its attributes lead to, remembered for the next row."""
        decoded = json.loads(attributes) if attributes else None
        found = _bare(self.compiled.candidates(action, decoded if isinstance(decoded, dict) else NO_ATTRIBUTES))
        if len(self._found_by_text) >= MEMO_LIMIT:
            self._found_by_text.clear()
        self._found_by_text[(action, attributes)] = found
        return found

    def _epoch_ms(self, now: datetime) -> int:
        held, milliseconds = self._now
        if held is not now:
            milliseconds = to_epoch_ms(now)
            self._now = (now, milliseconds)
        return milliseconds


def _bare(candidates: tuple[BehaviourCheck, ...]) -> Leads:
    """The first candidate's rule when it takes every event outright (no window, stops); else the candidates."""
    if not candidates:
        return None
    first = candidates[0]
    if first.window_ms is None and first.stops:
        return first.rule
    return candidates
