"""The scoring engine: model + contact + events + now -> ScoreResult.

Pure and deterministic: no clock, no I/O, no dependence on the order events
arrive in. Events are de-duplicated by (source, id), and each rule's faded points
are summed exactly (``math.fsum``), so the result is identical however the input
was shuffled.

Rule semantics (README, "How rules match"):
- every fit rule whose condition holds earns its points;
- an event earns at most one behaviour rule: the first, in file order, whose
  action matches and whose filters all pass; later rules never see it;
- positive behaviour points fade with age (half-life, window); negative points
  never fade; a rule's faded sum is then capped at ``cap`` (in magnitude);
- with no positively scored engagement for ``reset_after_days``, positive
  behaviour points drop to zero;
- score = fit + behaviour, rounded half up, clamped to 0..100; a disqualifying
  fit rule forces 0.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from leadscore.engine.conditions import Predicate, compile_condition
from leadscore.engine.model import BehaviourRule, FitRule, ScoringModel
from leadscore.records import (
    Contact,
    Contribution,
    Event,
    EventRow,
    ScoreResult,
    from_epoch_ms,
    normalize_email,
    to_epoch_ms,
)

MS_PER_DAY = 86_400_000.0
RESET_RULE_ID = "inactivity_reset"
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
_NO_UNMATCHED: Mapping[str, int] = MappingProxyType({})
_NOT_LEARNED: Any = object()
_MEMO_LIMIT = 20_000
"""Distinct (action, attributes text) pairs remembered; page URLs can make them unbounded, so forget past this."""


@dataclass(frozen=True, slots=True)
class _FitCheck:
    rule: FitRule
    passes: Predicate
    outcomes: dict[tuple[type, Any], bool]
    """Outcome by (type, value): profile values repeat (seniorities, sizes, domains), predicates need not rerun.
    The type is in the key because 1, 1.0 and True are one dict key but not one profile value."""

    def holds(self, value: Any) -> bool:
        key = (value.__class__, value)
        try:
            return self.outcomes[key]
        except KeyError:
            if len(self.outcomes) >= _MEMO_LIMIT:
                self.outcomes.clear()
            outcome = self.outcomes[key] = self.passes(value)
            return outcome
        except TypeError:
            return self.passes(value)


@dataclass(frozen=True, slots=True)
class _BehaviourCheck:
    rule: BehaviourRule
    filters: tuple[tuple[str, Predicate], ...]


_DERIVED = frozenset({"email", "email_domain"})


def _profile_value(contact: Contact, field: str) -> Any:
    if field == "email_domain":
        email = normalize_email(contact.email) or normalize_email(contact.profile.get("email"))
        return email.rsplit("@", 1)[1] if email else None
    if field == "email":
        return contact.email if contact.email is not None else contact.profile.get("email")
    return contact.profile.get(field)


class Engine:
    """A model compiled once into predicates, then applied to many contacts."""

    def __init__(self, name: str, model: ScoringModel) -> None:
        self.name = name
        self.model = model
        self._fit = tuple(_FitCheck(rule, compile_condition(rule), {}) for rule in model.fit)
        fields = tuple(dict.fromkeys(rule.field for rule in model.fit))
        self._plain_fields = tuple(name for name in fields if name not in _DERIVED)
        self._derived_fields = tuple(name for name in fields if name in _DERIVED)
        by_action: dict[str, list[_BehaviourCheck]] = {}
        for rule in model.behaviour:
            filters = tuple((f.attribute, compile_condition(f)) for f in rule.where)
            by_action.setdefault(rule.action, []).append(_BehaviourCheck(rule, filters))
        self._by_action = {action: tuple(checks) for action, checks in by_action.items()}
        self._band_order = [band.name for band in model.bands]
        self._band_min = {band.name: band.min for band in model.bands}
        self._stage = {band.name: band.lifecycle_stage for band in model.bands}
        self._fade = _fader(model)
        self._labels: dict[tuple[str, str], str] = {}
        self._now: tuple[datetime | None, int] = (None, 0)
        self._rule_by_text: dict[tuple[str, str | None], BehaviourRule | None] = {}

    def __reduce__(self) -> tuple[type[Engine], tuple[str, ScoringModel]]:
        """Pickled as its model: a worker process compiles the predicates again."""
        return (Engine, (self.name, self.model))

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(self._band_order)

    def score(
        self,
        contact: Contact,
        events: Iterable[Event],
        now: datetime,
        previous_band: str | None = None,
    ) -> ScoreResult:
        """Score one contact as of ``now``; ``previous_band`` enables hysteresis."""
        rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), e.attributes) for e in _distinct(events)]
        return self.score_rows(contact, rows, now, previous_band)

    def score_rows(
        self,
        contact: Contact,
        rows: Iterable[EventRow],
        now: datetime,
        previous_band: str | None = None,
    ) -> ScoreResult:
        """Score one contact from event rows whose ids are unique (the store's key ensures it).

        The same result as :meth:`score` on the same events, without building an
        ``Event`` per row: a full rescore reads millions of them.
        """
        contributions: list[Contribution] = []
        fit_total = 0.0
        disqualified = False
        profile = contact.profile
        values = {name: profile.get(name) for name in self._plain_fields}
        for name in self._derived_fields:
            values[name] = _profile_value(contact, name)
        for check in self._fit:
            if check.holds(values[check.rule.field]):
                fit_total += check.rule.points
                disqualified = disqualified or check.rule.disqualify
                contributions.append(Contribution(check.rule.id, "fit", check.rule.points, check.rule.reason))

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
                rule = known.get((action, attributes), _NOT_LEARNED)
                if rule is _NOT_LEARNED:
                    rule = self._learn(action, attributes)
            else:
                rule = self._rule_for(action, attributes)
            if rule is None:
                unmatched = unmatched or Counter()
                unmatched[action] += 1
                continue
            moments = moments_by_rule.get(rule.id)
            if moments is None:
                moments_by_rule[rule.id] = [occurred_ms]
            else:
                moments.append(occurred_ms)

        fast_track = self.model.fast_track
        fast_track_seen = False
        last_engaged_ms: int | None = None
        matched: list[tuple[BehaviourRule, list[int], int]] = []
        for rule in self.model.behaviour:
            moments = moments_by_rule.get(rule.id)
            if moments is None:
                continue
            newest = max(moments)
            matched.append((rule, moments, newest))
            if rule.points > 0 and (last_engaged_ms is None or newest > last_engaged_ms):
                last_engaged_ms = newest
            if fast_track is not None and rule.action in fast_track.actions:
                fast_track_seen = fast_track_seen or (now_ms - newest) / MS_PER_DAY <= fast_track.within_days

        reset_after = self.model.decay.reset_after_days
        inactive_days = None if last_engaged_ms is None else (now_ms - last_engaged_ms) / MS_PER_DAY
        reset = reset_after is not None and inactive_days is not None and inactive_days > reset_after
        behaviour_total = 0.0
        fade = self._fade
        for rule, moments, newest in matched:
            if reset and rule.points > 0:
                continue
            points = fade(rule.points, moments, now_ms) if rule.points > 0 else rule.points * len(moments)
            if rule.cap is not None:
                points = min(points, rule.cap) if points > 0 else max(points, -rule.cap)
            behaviour_total += points
            contributions.append(
                Contribution(rule.id, "behaviour", points, rule.reason, len(moments), from_epoch_ms(newest))
            )
        if reset and reset_after is not None:
            fast_track_seen = False
            contributions.append(
                Contribution(RESET_RULE_ID, "behaviour", 0.0, f"no engagement in {reset_after:g}d: reset")
            )

        score = 0 if disqualified else max(0, min(100, math.floor(fit_total + behaviour_total + 0.5)))
        grade = self.model.grades[-1].name if disqualified else self._grade(fit_total)
        band = self._band(score, previous_band)
        if fast_track is not None and fast_track_seen and not disqualified:
            band = self._higher(band, fast_track.band)
        return ScoreResult(
            contact_id=contact.id,
            model=self.name,
            score=score,
            fit=round(fit_total, 2),
            behaviour=round(behaviour_total, 2),
            grade=grade,
            band=band,
            label=self._label(grade, band),
            lifecycle_stage=self._stage[band],
            contributions=tuple(contributions),
            disqualified=disqualified,
            unmatched_actions=dict(unmatched) if unmatched else _NO_UNMATCHED,
        )

    def _learn(self, action: str, attributes: str | None) -> BehaviourRule | None:
        """The rule for an action and the store's JSON text of its attributes, remembered for the next row."""
        decoded = json.loads(attributes) if attributes else None
        rule = self._rule_for(action, decoded if isinstance(decoded, dict) else _NO_ATTRIBUTES)
        if len(self._rule_by_text) >= _MEMO_LIMIT:
            self._rule_by_text.clear()
        self._rule_by_text[(action, attributes)] = rule
        return rule

    def _rule_for(self, action: str, attributes: Mapping[str, Any]) -> BehaviourRule | None:
        for check in self._by_action.get(action, ()):
            for name, passes in check.filters:
                if not passes(attributes.get(name)):
                    break
            else:
                return check.rule
        return None

    def _epoch_ms(self, now: datetime) -> int:
        """A rescore passes one ``now`` for every contact; converting it once saves a tenth of the fit work."""
        held, milliseconds = self._now
        if held is not now:
            milliseconds = to_epoch_ms(now)
            self._now = (now, milliseconds)
        return milliseconds

    def _label(self, grade: str, band: str) -> str:
        label = self._labels.get((grade, band))
        if label is None:
            label = self._labels[(grade, band)] = self.model.label.format(grade=grade, band=band)
        return label

    def _grade(self, fit_total: float) -> str:
        for grade in self.model.grades[:-1]:
            if grade.min_fit is not None and fit_total >= grade.min_fit:
                return grade.name
        return self.model.grades[-1].name

    def _band(self, score: int, previous_band: str | None) -> str:
        band = self._band_order[0]
        for name in self._band_order:
            if score >= self._band_min[name]:
                band = name
        if previous_band in self._band_min and previous_band is not None:
            previous_min = self._band_min[previous_band]
            if previous_min > self._band_min[band] and score >= previous_min - self.model.exit_margin:
                return previous_band
        return band

    def _higher(self, band: str, floor: str) -> str:
        return floor if self._band_min[floor] > self._band_min[band] else band


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


def _fader(model: ScoringModel) -> Callable[[float, list[int], int], float]:
    """Sum a positive rule's points over its event times, each faded by its age, exactly (``math.fsum``)."""
    half_life = model.decay.half_life_days
    window = model.decay.window_days

    def faded(points: float, age: float) -> float:
        if window is not None and age > window:
            return 0.0
        return points if half_life is None else points * 0.5 ** (age / half_life)

    def general(points: float, moments: list[int], now_ms: int) -> float:
        return math.fsum([faded(points, (now_ms - ms) / MS_PER_DAY) for ms in moments])

    if window is not None or half_life is None:
        return general
    days = half_life

    def halving(points: float, moments: list[int], now_ms: int) -> float:
        """The default model's case, inlined: a function call per event is a tenth of a full rescore."""
        if len(moments) == 1:
            single: float = points * 0.5 ** (((now_ms - moments[0]) / MS_PER_DAY) / days)
            return single
        return math.fsum([points * 0.5 ** (((now_ms - ms) / MS_PER_DAY) / days) for ms in moments])

    return halving
