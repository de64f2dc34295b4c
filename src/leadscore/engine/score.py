"""The scoring engine: model + contact + events + now -> ScoreResult.

Pure and deterministic: no clock, no I/O, no dependence on the order events
arrive in. ``Engine.score`` is the reference, written as the rules read
(README, "How rules match"):
1. events are de-duplicated by (source, id);
2. every fit rule whose condition holds earns its points;
3. an event earns at most one behaviour rule: the first, in file order, whose
   action matches and whose filters all pass; later rules never see it; an event
   dated after ``now`` earns nothing;
4. with no positively scored engagement for ``reset_after_days``, positive
   behaviour points drop to zero;
5. positive points fade with age (half-life, window), negative points never fade;
   a rule's faded points are summed exactly (``math.fsum``), then capped;
6. score = fit + behaviour, rounded half up, clamped to 0..100; a disqualifying
   fit rule forces 0; grade from fit; band by score with hysteresis, raised by a
   fresh fast-track action.

``Engine.score_rows`` scores the store's rows through the fast path (rows.py),
which gives the same result.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from leadscore.engine.compiled import MS_PER_DAY, CompiledModel, profile_value
from leadscore.engine.model import ScoringModel
from leadscore.engine.rows import RowScorer
from leadscore.records import Contact, Contribution, Event, EventRow, ScoreResult, from_epoch_ms, to_epoch_ms


class Engine:
    """A model compiled once, then applied to many contacts."""

    def __init__(self, name: str, model: ScoringModel) -> None:
        self.name = name
        self.model = model
        self.compiled = CompiledModel(name, model)
        self._rows = RowScorer(self.compiled)

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
        compiled, model = self.compiled, self.model
        now_ms = to_epoch_ms(now)

        history = _distinct(events)

        contributions: list[Contribution] = []
        fit_total = 0.0
        disqualified = False
        for check in compiled.fit:
            if check.passes(profile_value(contact, check.rule.field)):
                fit_total += check.rule.points
                disqualified = disqualified or check.rule.disqualify
                contributions.append(Contribution(check.rule.id, "fit", check.rule.points, check.rule.reason))

        taken: dict[str, list[int]] = {}
        unmatched: Counter[str] = Counter()
        for event in history:
            at = to_epoch_ms(event.occurred_at)
            if at > now_ms:
                unmatched["(in the future)"] += 1
                continue
            rule = compiled.rule_for(event.action, event.attributes)
            if rule is None:
                unmatched[event.action] += 1
                continue
            taken.setdefault(rule.id, []).append(at)

        def age_days(at: int) -> float:
            return (now_ms - at) / MS_PER_DAY

        engaged = [max(taken[rule.id]) for rule in model.behaviour if rule.id in taken and rule.points > 0]
        reset_after = model.decay.reset_after_days
        reset = reset_after is not None and bool(engaged) and age_days(max(engaged)) > reset_after

        behaviour_total = 0.0
        for rule in model.behaviour:
            moments = taken.get(rule.id)
            if moments is None or (reset and rule.points > 0):
                continue
            if rule.points > 0:
                points = math.fsum([compiled.faded(rule.points, age_days(at)) for at in moments])
            else:
                points = rule.points * len(moments)
            points = compiled.capped(rule, points)
            behaviour_total += points
            contributions.append(
                Contribution(rule.id, "behaviour", points, rule.reason, len(moments), from_epoch_ms(max(moments)))
            )
        if reset:
            contributions.append(compiled.reset_contribution())

        fast_track = model.fast_track
        fast_track_seen = (
            fast_track is not None
            and not reset
            and any(
                rule.action in fast_track.actions and age_days(max(taken[rule.id])) <= fast_track.within_days
                for rule in model.behaviour
                if rule.id in taken
            )
        )
        return compiled.result(
            contact,
            fit_total,
            behaviour_total,
            contributions,
            disqualified=disqualified,
            fast_track_seen=fast_track_seen,
            previous_band=previous_band,
            unmatched=unmatched,
        )

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
