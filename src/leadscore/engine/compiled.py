"""A model compiled once for scoring: tests per rule, rules per action, and the steps both scorers share.

The reference scorer (score.py) and the fast row scorer (rows.py) differ only in
how they find the fit rules that hold and the rules that take each event; both
hand what they found to :meth:`CompiledModel.finish`, which turns it into points,
a score, a grade, a band and a label. A property test holds the two equal.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from leadscore.engine.conditions import (
    MS_PER_DAY,
    Predicate,
    Test,
    Unreadable,
    coerce,
    compile_condition,
    compile_node,
    is_timed,
    node_fields,
)
from leadscore.engine.model import BehaviourRule, Bounds, FitRule, Grade, ScoringModel
from leadscore.records import Contact, Contribution, FieldProblem, ScoreResult, from_epoch_ms, normalize_email

RESET_RULE_ID = "inactivity_reset"
BASE_RULE_ID = "base"
NO_UNMATCHED: Mapping[str, int] = MappingProxyType({})
NOTHING_UNREADABLE: frozenset[str] = frozenset()
DERIVED = frozenset({"email", "email_domain"})
"""Fit fields computed from the contact rather than read from its profile."""
Fader = Callable[[float, Sequence[int], int], float]
"""Sums a positive rule's points over its event times (epoch ms), each faded by its age as of ``now``."""


@dataclass(frozen=True, slots=True)
class FitCheck:
    rule: FitRule
    holds: Test
    fields: tuple[str, ...]
    timed: bool


@dataclass(frozen=True, slots=True)
class BehaviourCheck:
    rule: BehaviourRule
    filters: tuple[tuple[str, Predicate], ...]
    window_ms: float | None
    stops: bool


@dataclass(frozen=True, slots=True)
class FieldValues:
    """A contact's values for the fields a model reads, coerced to their types, and those that could not be."""

    values: Mapping[str, Any]
    unreadable: frozenset[str]
    problems: tuple[FieldProblem, ...]


def profile_value(contact: Contact, field: str) -> Any:
    """The value a fit rule tests: a profile field, or one derived from the email."""
    if field == "email_domain":
        email = normalize_email(contact.email) or normalize_email(contact.profile.get("email"))
        return email.rsplit("@", 1)[1] if email else None
    if field == "email":
        return contact.email if contact.email is not None else contact.profile.get("email")
    return contact.profile.get(field)


class Found(NamedTuple):
    """What a model's rules found in one contact, before any points: the fields read, the fit rules that hold,
    the event times each behaviour rule took, and the actions no rule took."""

    fields: FieldValues
    fit_held: list[FitRule]
    taken: dict[str, list[int]]
    now_ms: int
    unmatched: Counter[str] | None


class CompiledModel:
    """One model's rules as tests, and how what they matched becomes a score, a grade, a band and a label."""

    def __init__(self, name: str, model: ScoringModel) -> None:
        self.name = name
        self.model = model
        self.fit = tuple(_fit_check(rule, model) for rule in model.fit)
        self.read_fields = tuple(
            dict.fromkeys(
                [name for check in self.fit for name in check.fields]
                + [name for grade in model.grades if grade.when is not None for name in node_fields(grade.when)]
            )
        )
        self._types = {name: model.field_type(name) for name in self.read_fields}
        self._grades: tuple[tuple[Grade, Test | None, tuple[str, ...]], ...] = tuple(
            (
                grade,
                compile_node(grade.when, self._types) if grade.when is not None else None,
                node_fields(grade.when) if grade.when is not None else (),
            )
            for grade in model.grades
        )
        by_action: dict[str, list[BehaviourCheck]] = {}
        for rule in model.behaviour:
            filters = tuple((f.attribute, compile_condition(f)) for f in rule.where)
            window = rule.window_days * MS_PER_DAY if rule.window_days is not None else None
            by_action.setdefault(rule.action, []).append(BehaviourCheck(rule, filters, window, rule.then == "stop"))
        self.by_action = {action: tuple(checks) for action, checks in by_action.items()}
        self.band_order = tuple(band.name for band in model.bands)
        self._band_min = {band.name: band.min for band in model.bands}
        self._stage = {band.name: band.lifecycle_stage for band in model.bands}
        self._labels: dict[tuple[str, str], str] = {}
        self._fade = {rule.id: self._fader(rule) for rule in model.behaviour}
        self._group_of = {rule_id: name for name, group in model.groups.items() for rule_id in group.rules}
        self._position = {rule.id: position for position, rule in enumerate(model.behaviour)}
        self._behaviour = {rule.id: rule for rule in model.behaviour}
        self._fast_track_actions = frozenset(model.fast_track.actions) if model.fast_track is not None else frozenset()
        self._readers = tuple((name, self._types[name], name in DERIVED) for name in self.read_fields)
        self._fit_by_id = {rule.id: rule for rule in model.fit}
        self.matching = _matching_signature(model, self.read_fields, self._types)
        """What decides which fit rules hold and which events each behaviour rule takes, and nothing of what those
        are worth: two models equal here find the same things in a contact, and only their finishing differs."""

    def finish_found(self, contact: Contact, found: Found, previous_band: str | None) -> ScoreResult:
        """:meth:`finish` on what another model of the same :attr:`matching` found: its fit rules are read by id
        here, so this model's points, reasons and disqualifications apply."""
        own = self._fit_by_id
        fit_held = [own[rule.id] for rule in found.fit_held]
        return self.finish(contact, found.fields, fit_held, found.taken, found.now_ms, previous_band, found.unmatched)

    def read(self, contact: Contact) -> FieldValues:
        """The contact's values for every field the model reads, each coerced to its declared type."""
        values: dict[str, Any] = {}
        unreadable: list[str] = []
        problems: list[FieldProblem] = []
        profile = contact.profile
        for name, kind, derived in self._readers:
            raw = profile_value(contact, name) if derived else profile.get(name)
            if kind is None and raw.__class__ is not str:
                values[name] = raw
                continue
            try:
                values[name] = coerce(raw, kind)
            except Unreadable as exc:
                values[name] = None
                unreadable.append(name)
                problems.append(FieldProblem(name, str(exc)))
        if not unreadable:
            return FieldValues(values, NOTHING_UNREADABLE, ())
        return FieldValues(values, frozenset(unreadable), tuple(problems))

    def candidates(self, action: str, attributes: Mapping[str, Any]) -> tuple[BehaviourCheck, ...]:
        """The rules, in file order, whose action matches and whose filters all pass; windows are checked later."""
        found = []
        for check in self.by_action.get(action, ()):
            for name, passes in check.filters:
                if not passes(attributes.get(name)):
                    break
            else:
                found.append(check)
        return tuple(found)

    def take(self, candidates: Sequence[BehaviourCheck], at_ms: int, now_ms: int, taken: dict[str, list[int]]) -> bool:
        """File an event under the first candidate whose window holds it, and the next ones after ``continue``."""
        took = False
        for check in candidates:
            if check.window_ms is not None and now_ms - at_ms > check.window_ms:
                continue
            moments = taken.get(check.rule.id)
            if moments is None:
                taken[check.rule.id] = [at_ms]
            else:
                moments.append(at_ms)
            took = True
            if check.stops:
                break
        return took

    def finish(
        self,
        contact: Contact,
        fields: FieldValues,
        fit_held: Sequence[FitRule],
        taken: Mapping[str, Sequence[int]],
        now_ms: int,
        previous_band: str | None,
        unmatched: Mapping[str, int] | None,
    ) -> ScoreResult:
        """Points from the fit rules that held and the events each behaviour rule took, then the score.

        Score = base + fit + behaviour, rounded half up, clamped to 0..100 (0 when
        disqualified); grade from the first grade whose criteria hold; band by score
        with hysteresis, raised by a fresh fast-track action.
        """
        model = self.model
        contributions: list[Contribution] = []
        disqualified = any(rule.disqualify for rule in fit_held)
        fit_points: dict[str, float] = {}
        for held in fit_held:
            fit_points[held.id] = held.points
            contributions.append(Contribution(held.id, "fit", held.points, held.reason))
        fit_total = self._bounded(fit_points, model.limits.fit, "fit", contributions)

        position = self._position
        in_order = sorted(taken, key=position.__getitem__) if len(taken) > 1 else list(taken)
        rules = [self._behaviour[rule_id] for rule_id in in_order]
        newest_of = [max(taken[rule.id]) for rule in rules]
        engaged = [newest for rule, newest in zip(rules, newest_of, strict=True) if rule.points > 0]
        reset_after = model.decay.reset_after_days
        reset = reset_after is not None and bool(engaged) and (now_ms - max(engaged)) / MS_PER_DAY > reset_after
        behaviour_points: dict[str, float] = {}
        fast_track = model.fast_track
        fast_track_seen = False
        for rule, newest in zip(rules, newest_of, strict=True):
            moments = taken[rule.id]
            if fast_track is not None and not reset and rule.action in self._fast_track_actions:
                fast_track_seen = fast_track_seen or (now_ms - newest) / MS_PER_DAY <= fast_track.within_days
            if reset and rule.points > 0:
                continue
            points = self._rule_points(rule, moments, newest, now_ms)
            behaviour_points[rule.id] = points
            contributions.append(
                Contribution(rule.id, "behaviour", points, rule.reason, len(moments), from_epoch_ms(newest))
            )
        behaviour_total = self._bounded(behaviour_points, model.limits.behaviour, "behaviour", contributions)
        if reset:
            days = model.decay.reset_after_days
            contributions.append(Contribution(RESET_RULE_ID, "note", 0.0, f"no engagement in {days:g}d: reset"))
        if model.base:
            contributions.append(Contribution(BASE_RULE_ID, "base", model.base, "base points"))

        total = model.base + fit_total + behaviour_total
        score = 0 if disqualified else max(0, min(100, math.floor(total + 0.5)))
        grade = model.grades[-1].name if disqualified else self._grade(fit_total, behaviour_total, fields, now_ms)
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
            unmatched_actions=dict(unmatched) if unmatched else NO_UNMATCHED,
            problems=fields.problems,
        )

    def _rule_points(self, rule: BehaviourRule, moments: Sequence[int], newest: int, now_ms: int) -> float:
        """A rule's points from the events it took: faded if positive, then capped; a counted rule's once."""
        if rule.count is not None:
            if len(moments) < rule.count.at_least:
                return 0.0
            return self._fade[rule.id](rule.points, (newest,), now_ms) if rule.points > 0 else rule.points
        points = self._fade[rule.id](rule.points, moments, now_ms) if rule.points > 0 else rule.points * len(moments)
        if rule.cap is None:
            return points
        return min(points, rule.cap) if points > 0 else max(points, -rule.cap)

    def _bounded(
        self, points: Mapping[str, float], limits: Bounds, kind: str, contributions: list[Contribution]
    ) -> float:
        """The sum of one kind's points with each group's bounds, then the kind's limits, applied in that order."""
        if not self._group_of and limits.min is None and limits.max is None:
            return sum(points.values(), 0.0)
        total = 0.0
        by_group: dict[str, float] = {}
        for rule_id, value in points.items():
            group = self._group_of.get(rule_id)
            if group is None:
                total += value
            else:
                by_group[group] = by_group.get(group, 0.0) + value
        for name, value in by_group.items():
            total += _clamp(value, self.model.groups[name], f"group {name}", f"{name}_limit", contributions)
        return _clamp(total, limits, f"{kind} total", f"{kind}_limit", contributions)

    def _fader(self, rule: BehaviourRule) -> Fader:
        """The fading of a rule's points: its group's if the group has one, else the model's."""
        group = self.model.groups.get(self.model.group_of(rule.id) or "")
        fading = group.decay if group is not None and group.decay is not None else self.model.decay
        window, half_life = fading.window_days, fading.half_life_days
        if window is None and half_life is None:
            return lambda points, moments, now_ms: points * len(moments)
        if window is None and half_life is not None:

            def halving(points: float, moments: Sequence[int], now_ms: int) -> float:
                if len(moments) == 1:
                    single: float = points * 0.5 ** (((now_ms - moments[0]) / MS_PER_DAY) / half_life)
                    return single
                return math.fsum([points * 0.5 ** (((now_ms - ms) / MS_PER_DAY) / half_life) for ms in moments])

            return halving

        def faded(points: float, age_days: float) -> float:
            if window is not None and age_days > window:
                return 0.0
            return points if half_life is None else points * 0.5 ** (age_days / half_life)

        return lambda points, moments, now_ms: math.fsum([faded(points, (now_ms - ms) / MS_PER_DAY) for ms in moments])

    def _label(self, grade: str, band: str) -> str:
        label = self._labels.get((grade, band))
        if label is None:
            label = self._labels[(grade, band)] = self.model.label.format(grade=grade, band=band)
        return label

    def _grade(self, fit_total: float, behaviour_total: float, fields: FieldValues, now_ms: int) -> str:
        for grade, when, reads in self._grades[:-1]:
            if grade.min_fit is not None and fit_total < grade.min_fit:
                continue
            if grade.min_behaviour is not None and behaviour_total < grade.min_behaviour:
                continue
            if when is not None and (fields.unreadable.intersection(reads) or not when(fields.values, now_ms)):
                continue
            return grade.name
        return self.model.grades[-1].name

    def _band(self, score: int, previous_band: str | None) -> str:
        band = self.band_order[0]
        for name in self.band_order:
            if score >= self._band_min[name]:
                band = name
        if previous_band in self._band_min and previous_band is not None:
            previous_min = self._band_min[previous_band]
            if previous_min > self._band_min[band] and score >= previous_min - self.model.exit_margin:
                return previous_band
        return band

    def _higher(self, band: str, floor: str) -> str:
        return floor if self._band_min[floor] > self._band_min[band] else band


def _fit_check(rule: FitRule, model: ScoringModel) -> FitCheck:
    condition = rule.condition
    fields = node_fields(condition)
    return FitCheck(
        rule, compile_node(condition, {name: model.field_type(name) for name in fields}), fields, is_timed(condition)
    )


def _clamp(value: float, bounds: Bounds, what: str, rule_id: str, contributions: list[Contribution]) -> float:
    """``value`` within ``bounds``; what the bound took or gave is noted as a limit contribution."""
    bounded = value
    if bounds.max is not None and bounded > bounds.max:
        bounded = bounds.max
    if bounds.min is not None and bounded < bounds.min:
        bounded = bounds.min
    if bounded != value:
        side = f"at most {bounds.max:g}" if bounded < value else f"at least {bounds.min:g}"
        contributions.append(Contribution(rule_id, "limit", bounded - value, f"{what} {side}"))
    return bounded


def _matching_signature(model: ScoringModel, read_fields: Sequence[str], types: Mapping[str, Any]) -> str:
    """The parts of a model that find rules in a contact (conditions, actions, filters, windows, order, the fields
    read and their types), as text; points, reasons, caps, counts' thresholds, decay, grades and bands are left out.
    """
    fit = [
        rule.model_dump(mode="json", by_alias=True, exclude={"points", "reason", "disqualify"}) for rule in model.fit
    ]
    behaviour = [
        rule.model_dump(mode="json", include={"id", "action", "where", "within_days", "then"})
        | {"window_days": rule.window_days}
        for rule in model.behaviour
    ]
    fields = [(name, str(types[name])) for name in read_fields]
    return json.dumps([fit, behaviour, fields], sort_keys=True, default=str)
