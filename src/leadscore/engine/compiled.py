"""A model compiled once for scoring: predicates per rule, rules per action, and the steps both scorers share.

The reference scorer (score.py) and the fast row scorer (rows.py) read rules
through this, and finish a score here, so they can differ only in how they
find each event's rule and add up its points; a property test holds them equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from leadscore.engine.conditions import Predicate, compile_condition
from leadscore.engine.model import BehaviourRule, FitRule, ScoringModel
from leadscore.records import Contact, Contribution, ScoreResult, normalize_email

MS_PER_DAY = 86_400_000.0
RESET_RULE_ID = "inactivity_reset"
NO_UNMATCHED: Mapping[str, int] = MappingProxyType({})
DERIVED = frozenset({"email", "email_domain"})
"""Fit fields computed from the contact rather than read from its profile."""


@dataclass(frozen=True, slots=True)
class FitCheck:
    rule: FitRule
    passes: Predicate


@dataclass(frozen=True, slots=True)
class BehaviourCheck:
    rule: BehaviourRule
    filters: tuple[tuple[str, Predicate], ...]


def profile_value(contact: Contact, field: str) -> Any:
    """The value a fit rule tests: a profile field, or one derived from the email."""
    if field == "email_domain":
        email = normalize_email(contact.email) or normalize_email(contact.profile.get("email"))
        return email.rsplit("@", 1)[1] if email else None
    if field == "email":
        return contact.email if contact.email is not None else contact.profile.get("email")
    return contact.profile.get(field)


class CompiledModel:
    """One model's rules as predicates, and how a total becomes a score, a grade, a band and a label."""

    def __init__(self, name: str, model: ScoringModel) -> None:
        self.name = name
        self.model = model
        self.fit = tuple(FitCheck(rule, compile_condition(rule)) for rule in model.fit)
        by_action: dict[str, list[BehaviourCheck]] = {}
        for rule in model.behaviour:
            filters = tuple((f.attribute, compile_condition(f)) for f in rule.where)
            by_action.setdefault(rule.action, []).append(BehaviourCheck(rule, filters))
        self.by_action = {action: tuple(checks) for action, checks in by_action.items()}
        self.band_order = tuple(band.name for band in model.bands)
        self._band_min = {band.name: band.min for band in model.bands}
        self._stage = {band.name: band.lifecycle_stage for band in model.bands}
        self._labels: dict[tuple[str, str], str] = {}

    def rule_for(self, action: str, attributes: Mapping[str, Any]) -> BehaviourRule | None:
        """The first rule, in file order, whose action matches and whose filters all pass."""
        for check in self.by_action.get(action, ()):
            for name, passes in check.filters:
                if not passes(attributes.get(name)):
                    break
            else:
                return check.rule
        return None

    def faded(self, points: float, age_days: float) -> float:
        """A positive event's points at its age: zero past the window, halved every half-life."""
        decay = self.model.decay
        if decay.window_days is not None and age_days > decay.window_days:
            return 0.0
        return points if decay.half_life_days is None else points * 0.5 ** (age_days / decay.half_life_days)

    def capped(self, rule: BehaviourRule, points: float) -> float:
        if rule.cap is None:
            return points
        return min(points, rule.cap) if points > 0 else max(points, -rule.cap)

    def reset_contribution(self) -> Contribution:
        days = self.model.decay.reset_after_days
        return Contribution(RESET_RULE_ID, "behaviour", 0.0, f"no engagement in {days:g}d: reset")

    def result(
        self,
        contact: Contact,
        fit_total: float,
        behaviour_total: float,
        contributions: list[Contribution],
        *,
        disqualified: bool,
        fast_track_seen: bool,
        previous_band: str | None,
        unmatched: Mapping[str, int] | None,
    ) -> ScoreResult:
        """Score = fit + behaviour, rounded half up, clamped to 0..100 (0 when disqualified); grade from fit;
        band by score with hysteresis, raised by a fresh fast-track action."""
        score = 0 if disqualified else max(0, min(100, math.floor(fit_total + behaviour_total + 0.5)))
        grade = self.model.grades[-1].name if disqualified else self._grade(fit_total)
        band = self._band(score, previous_band)
        fast_track = self.model.fast_track
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
        )

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
