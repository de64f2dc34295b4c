"""The fast path: scoring rows as the store holds them, for rescores of millions of contacts.

It gives exactly what the reference ``Engine.score`` gives on the same events
(tests/engine/test_properties.py holds the two equal); it only avoids work:
- fit outcomes are remembered per (type, value) and rule, since profile values repeat;
- an event's rule is remembered per (action, attributes JSON text), decoding each text once;
- ``now`` is converted once per rescore, not once per contact;
- the default decay (a half-life, no window) is inlined, since a call per event is a tenth of a rescore.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from leadscore.engine.compiled import DERIVED, MS_PER_DAY, CompiledModel, FitCheck, profile_value
from leadscore.engine.model import BehaviourRule
from leadscore.records import Contact, Contribution, EventRow, ScoreResult, from_epoch_ms, to_epoch_ms

NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
NOT_LEARNED: Any = object()
MEMO_LIMIT = 20_000
"""Distinct values (or action and attributes texts) remembered; page URLs can make them unbounded, so forget past
this."""


class RememberedFit:
    """A fit rule whose outcome is remembered by (type, value): 1, 1.0 and True are one dict key but not one value."""

    __slots__ = ("check", "outcomes")

    def __init__(self, check: FitCheck) -> None:
        self.check = check
        self.outcomes: dict[tuple[type, Any], bool] = {}

    def holds(self, value: Any) -> bool:
        key = (value.__class__, value)
        try:
            return self.outcomes[key]
        except KeyError:
            if len(self.outcomes) >= MEMO_LIMIT:
                self.outcomes.clear()
            outcome = self.outcomes[key] = self.check.passes(value)
            return outcome
        except TypeError:
            return self.check.passes(value)


class RowScorer:
    """Scores contacts from store rows with one compiled model, remembering what repeats between contacts."""

    def __init__(self, compiled: CompiledModel) -> None:
        self.compiled = compiled
        self._fit = tuple(RememberedFit(check) for check in compiled.fit)
        fields = tuple(dict.fromkeys(check.rule.field for check in compiled.fit))
        self._plain_fields = tuple(name for name in fields if name not in DERIVED)
        self._derived_fields = tuple(name for name in fields if name in DERIVED)
        self._fade = _fader(compiled)
        self._now: tuple[datetime | None, int] = (None, 0)
        self._rule_by_text: dict[tuple[str, str | None], BehaviourRule | None] = {}

    def score(
        self, contact: Contact, rows: Iterable[EventRow], now: datetime, previous_band: str | None
    ) -> ScoreResult:
        compiled = self.compiled
        model = compiled.model
        contributions: list[Contribution] = []
        fit_total = 0.0
        disqualified = False
        profile = contact.profile
        values = {name: profile.get(name) for name in self._plain_fields}
        for name in self._derived_fields:
            values[name] = profile_value(contact, name)
        for remembered in self._fit:
            rule = remembered.check.rule
            if remembered.holds(values[rule.field]):
                fit_total += rule.points
                disqualified = disqualified or rule.disqualify
                contributions.append(Contribution(rule.id, "fit", rule.points, rule.reason))

        now_ms = self._epoch_ms(now)
        moments_by_rule: dict[str, list[int]] = {}
        unmatched: Counter[str] | None = None
        known = self._rule_by_text
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
                found = compiled.rule_for(action, attributes)
            if found is None:
                unmatched = unmatched or Counter()
                unmatched[action] += 1
                continue
            moments = moments_by_rule.get(found.id)
            if moments is None:
                moments_by_rule[found.id] = [occurred_ms]
            else:
                moments.append(occurred_ms)

        fast_track = model.fast_track
        fast_track_seen = False
        last_engaged_ms: int | None = None
        matched: list[tuple[BehaviourRule, list[int], int]] = []
        for behaviour_rule in model.behaviour:
            moments = moments_by_rule.get(behaviour_rule.id)
            if moments is None:
                continue
            newest = max(moments)
            matched.append((behaviour_rule, moments, newest))
            if behaviour_rule.points > 0 and (last_engaged_ms is None or newest > last_engaged_ms):
                last_engaged_ms = newest
            if fast_track is not None and behaviour_rule.action in fast_track.actions:
                fast_track_seen = fast_track_seen or (now_ms - newest) / MS_PER_DAY <= fast_track.within_days

        reset_after = model.decay.reset_after_days
        inactive_days = None if last_engaged_ms is None else (now_ms - last_engaged_ms) / MS_PER_DAY
        reset = reset_after is not None and inactive_days is not None and inactive_days > reset_after
        behaviour_total = 0.0
        fade = self._fade
        for behaviour_rule, moments, newest in matched:
            if reset and behaviour_rule.points > 0:
                continue
            points = (
                fade(behaviour_rule.points, moments, now_ms)
                if behaviour_rule.points > 0
                else behaviour_rule.points * len(moments)
            )
            points = compiled.capped(behaviour_rule, points)
            behaviour_total += points
            contributions.append(
                Contribution(
                    behaviour_rule.id, "behaviour", points, behaviour_rule.reason, len(moments), from_epoch_ms(newest)
                )
            )
        if reset:
            fast_track_seen = False
            contributions.append(compiled.reset_contribution())
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

    def _learn(self, action: str, attributes: str | None) -> BehaviourRule | None:
        """The rule for an action and the store's JSON text of its attributes, remembered for the next row."""
        decoded = json.loads(attributes) if attributes else None
        rule = self.compiled.rule_for(action, decoded if isinstance(decoded, dict) else NO_ATTRIBUTES)
        if len(self._rule_by_text) >= MEMO_LIMIT:
            self._rule_by_text.clear()
        self._rule_by_text[(action, attributes)] = rule
        return rule

    def _epoch_ms(self, now: datetime) -> int:
        held, milliseconds = self._now
        if held is not now:
            milliseconds = to_epoch_ms(now)
            self._now = (now, milliseconds)
        return milliseconds


def _fader(compiled: CompiledModel) -> Callable[[float, list[int], int], float]:
    """Sum a positive rule's points over its event times, each faded by its age, exactly (``math.fsum``)."""
    decay = compiled.model.decay
    faded = compiled.faded

    def general(points: float, moments: list[int], now_ms: int) -> float:
        return math.fsum([faded(points, (now_ms - ms) / MS_PER_DAY) for ms in moments])

    if decay.window_days is not None or decay.half_life_days is None:
        return general
    days = decay.half_life_days

    def halving(points: float, moments: list[int], now_ms: int) -> float:
        if len(moments) == 1:
            single: float = points * 0.5 ** (((now_ms - moments[0]) / MS_PER_DAY) / days)
            return single
        return math.fsum([points * 0.5 ** (((now_ms - ms) / MS_PER_DAY) / days) for ms in moments])

    return halving
