"""The scoring engine: model + contact + events + now -> ScoreResult.

Pure and deterministic: no clock, no I/O, no dependence on the order events
arrive in. ``Engine.score`` is the reference, written as the rules read
(README, "How rules match"):
1. events are de-duplicated by (source, id);
2. the fields the model reads are coerced to their declared types; a value that
   cannot be read is a problem on the result and fails every rule that reads it;
3. every fit rule whose condition holds earns its points;
4. an event is taken by the first behaviour rule, in file order, whose action,
   filters and window (``within_days``, or a count's) match; a rule with
   ``then: continue`` passes it on to the next match as well; an event dated
   after ``now`` earns nothing;
5. with no positively scored engagement for ``reset_after_days``, positive
   behaviour points drop to zero;
6. positive points fade with age (the group's fading, else the model's), negative
   points never fade; a rule's faded points are summed exactly (``math.fsum``),
   then capped; a counted rule earns its points once when its count is reached;
7. groups bound their rules' sum, then limits bound the fit and behaviour totals;
8. score = base + fit + behaviour, rounded half up, clamped to 0..100; a
   disqualifying fit rule forces 0; grade from the first grade whose criteria
   hold; band by score with hysteresis, raised by a fresh fast-track action.

``Engine.score_rows`` scores the store's rows through the fast path (rows.py),
which gives the same result.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from leadscore.engine.compiled import CompiledModel, Found
from leadscore.engine.model import ScoringModel
from leadscore.engine.rows import RowScorer
from leadscore.records import Contact, Event, EventRow, ScoreResult, to_epoch_ms

NO_ATTRIBUTES: Mapping[str, Any] = {}


class Engine:
    """A model compiled once, then applied to many contacts."""

    def __init__(self, name: str, model: ScoringModel) -> None:
        self.name = name
        self.model = model
        self.compiled = CompiledModel(name, model)
        self._rows = RowScorer(self.compiled)
        self.version = hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:12]
        """Changes with any change of the model's definition; score history names the version behind a score."""

    def __reduce__(self) -> tuple[type[Engine], tuple[str, ScoringModel]]:
        """Pickled as its model: a worker process compiles the predicates again."""
        return (Engine, (self.name, self.model))

    @property
    def band_names(self) -> tuple[str, ...]:
        return self.compiled.band_order

    def score(
        self,
        contact: Contact,
        events: Iterable[Event],
        now: datetime,
        previous_band: str | None = None,
    ) -> ScoreResult:
        """Score one contact as of ``now``; ``previous_band`` enables hysteresis. The reference implementation."""
        compiled = self.compiled
        now_ms = to_epoch_ms(now)
        history = _distinct(events)
        fields = compiled.read(contact)
        fit_held = [
            check.rule
            for check in compiled.fit
            if not fields.unreadable.intersection(check.fields) and check.holds(fields.values, now_ms)
        ]
        taken: dict[str, list[int]] = {}
        unmatched: Counter[str] = Counter()
        for event in history:
            at = to_epoch_ms(event.occurred_at)
            if at > now_ms:
                unmatched["(in the future)"] += 1
            elif not compiled.take(compiled.candidates(event.action, event.attributes), at, now_ms, taken):
                unmatched[event.action] += 1
        return compiled.finish(contact, fields, fit_held, taken, now_ms, previous_band, unmatched)

    def score_rows(
        self,
        contact: Contact,
        rows: Iterable[EventRow],
        now: datetime,
        previous_band: str | None = None,
    ) -> ScoreResult:
        """Score one contact from the store's event rows (ids unique by the store's key): the same result as
        :meth:`score` on the same events, through the fast path a rescore of millions of contacts needs."""
        return self._rows.score(contact, rows, now, previous_band)

    def find_rows(self, contact: Contact, rows: Iterable[EventRow], now: datetime) -> Found:
        """What this model's rules find in the rows, before points: :meth:`finish_found` of this engine, or of
        any engine that :meth:`matches_like` it, turns it into the result :meth:`score_rows` gives."""
        return self._rows.find(contact, rows, now)

    def finish_found(self, contact: Contact, found: Found, previous_band: str | None = None) -> ScoreResult:
        return self.compiled.finish_found(contact, found, previous_band)

    def matches_like(self, other: Engine) -> bool:
        """Whether the two models find the same rules in every contact (they may differ in points, caps, decay,
        grades and bands), so that one :meth:`find_rows` serves both: a plan of a re-pointed or re-banded model."""
        return self.compiled.matching == other.compiled.matching

    def with_sources(
        self, result: ScoreResult, rows: Sequence[EventRow], row_sources: Sequence[str], now: datetime
    ) -> ScoreResult:
        """``result`` with each behaviour contribution naming the sources whose events it took (a person's
        events come from several platforms, and a salesperson should see which platform saw the click)."""
        compiled = self.compiled
        now_ms = to_epoch_ms(now)
        by_rule: dict[str, list[str]] = {}
        for (_, action, occurred_ms, attributes), source in zip(rows, row_sources, strict=True):
            if occurred_ms > now_ms:
                continue
            taken: dict[str, list[int]] = {}
            compiled.take(compiled.candidates(action, _decoded(attributes)), occurred_ms, now_ms, taken)
            for rule_id in taken:
                named = by_rule.setdefault(rule_id, [])
                if source not in named:
                    named.append(source)
        contributions = tuple(
            c._replace(sources=tuple(sorted(by_rule[c.rule_id])))
            if c.kind == "behaviour" and c.rule_id in by_rule
            else c
            for c in result.contributions
        )
        return replace(result, contributions=contributions)


def _distinct(events: Iterable[Event]) -> list[Event]:
    """One event per (source, id), chosen independently of input order.

    Copies of one id normally agree; when they do not, the smallest by content
    wins, so the choice never depends on which copy arrived first.
    """
    chosen: dict[tuple[str, str], Event] = {}
    for event in events:
        key = (event.source, event.id)
        held = chosen.get(key)
        if held is None or (held != event and _content_key(event) < _content_key(held)):
            chosen[key] = event
    return list(chosen.values())


def _content_key(event: Event) -> tuple[datetime, str, str, str]:
    return (event.occurred_at, event.action, event.contact_id, repr(sorted(event.attributes.items(), key=str)))


def _decoded(attributes: Any) -> Mapping[str, Any]:
    if attributes is None:
        return NO_ATTRIBUTES
    if isinstance(attributes, str):
        loaded = json.loads(attributes)
        return loaded if isinstance(loaded, dict) else NO_ATTRIBUTES
    return attributes if isinstance(attributes, Mapping) else NO_ATTRIBUTES
