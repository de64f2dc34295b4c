"""A backtest: score every contact as of past moments, then measure how the scores ranked what happened next.

Pure apart from the numbers libraries: the caller hands in the contacts with their
events and the known outcomes. For each as-of moment, a contact is scored from
the events before it only (nothing from the future leaks in), and counts as
converted when its conversion falls within the horizon after it; a contact that
had already converted is left out. Without an as-of moment (a data set with no
dates), every contact is scored as of ``now`` and a known conversion at any time
counts. Profile fields are as they are now, not as they were then: the report
says so, because a field filled in by sales after a conversion leaks the answer.

Outcomes come from a file, or from the history itself: a store synced from the
platforms holds a ``converted`` event where a platform dated a conversion (a
lifecycle stage date, a converted lead, a won deal), and the earliest one is the
contact's outcome. A ``converted`` event is never an input to the score.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from leadscore.engine import Engine
from leadscore.engine.describe import model_notes
from leadscore.engine.model import BehaviourRule, FitRule
from leadscore.evaluate.outcomes import Outcomes, known_outcome
from leadscore.records import CONVERTED, Contact, Event, ScoreResult

MIN_RULE_SUPPORT = 30
"""Hits a rule needs before its sign is judged against its lift."""
BOOTSTRAP_SAMPLES = 200


@dataclass(frozen=True, slots=True)
class Scored:
    contact_id: str
    as_of: datetime
    score: int
    band: str
    grade: str
    converted: bool
    rules: frozenset[str]
    clamped: bool
    converted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    contacts: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.contacts if self.contacts else 0.0


@dataclass(frozen=True, slots=True)
class RuleCheck:
    rule_id: str
    points: float
    hits: int
    converted: int
    lift: float
    warning: str | None


@dataclass(slots=True)
class Backtest:
    model: str
    contacts: int
    converted: int
    as_of: tuple[datetime | None, ...]
    horizon_days: float | None
    roc_auc: float | None = None
    roc_auc_interval: tuple[float, float] | None = None
    pr_auc: float | None = None
    pr_auc_interval: tuple[float, float] | None = None
    by_band: list[Rate] = field(default_factory=list)
    by_grade: list[Rate] = field(default_factory=list)
    calibration: list[Rate] = field(default_factory=list)
    top_decile_lift: float = 0.0
    top_decile_capture: float = 0.0
    top_half_lift: float = 0.0
    top_half_capture: float = 0.0
    rules: list[RuleCheck] = field(default_factory=list)
    share_at_0: float = 0.0
    share_at_100: float = 0.0
    threshold_for_rate: tuple[float, int | None] | None = None
    """(target conversion rate, the lowest score whose contacts at or above it convert at that rate)."""
    threshold_for_capture: tuple[float, int | None] | None = None
    """(share of converters, the score that puts that share of converters at or above it)."""
    warnings: list[str] = field(default_factory=list)
    roc: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    scores_converted: list[int] = field(default_factory=list)
    scores_not_converted: list[int] = field(default_factory=list)
    lift_curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def base_rate(self) -> float:
        return self.converted / self.contacts if self.contacts else 0.0


def score_history(
    engine: Engine,
    history: Iterable[tuple[Contact, Sequence[Event]]],
    outcomes: Outcomes | None,
    as_of: Sequence[datetime],
    now: datetime,
    horizon: timedelta,
    lead_as_of: Mapping[str, datetime] | None = None,
) -> list[Scored]:
    """Every contact with a known outcome, scored at each as-of moment (or at its own, from ``lead_as_of``) from
    the events before it. ``outcomes`` None: every contact counts, its outcome read from its ``converted`` events."""
    moments: Sequence[datetime | None] = as_of or (None,)
    own = lead_as_of or {}
    scored: list[Scored] = []
    for contact, events in history:
        known, converted_at, inputs = known_outcome(contact.id, events, outcomes)
        if not known:
            continue
        lead_moment = own.get(contact.id)
        for moment in (lead_moment,) if lead_moment is not None else moments:
            if moment is None:
                result, converted, at = engine.score(contact, inputs, now), converted_at is not None, now
            else:
                if converted_at is not None and converted_at <= moment:
                    continue
                earlier = [event for event in inputs if event.occurred_at < moment]
                result, at = engine.score(contact, earlier, moment), moment
                converted = converted_at is not None and converted_at <= moment + horizon
            scored.append(_scored(result, at, converted, converted_at))
    return scored


def _scored(result: ScoreResult, at: datetime, converted: bool, converted_at: datetime | None) -> Scored:
    rules = frozenset(c.rule_id for c in result.contributions if c.kind in ("fit", "behaviour") and c.points != 0)
    total = result.fit + result.behaviour
    clamped = not result.disqualified and (total < 0 or total > 100)
    return Scored(
        result.contact_id, at, result.score, result.band, result.grade, converted, rules, clamped, converted_at
    )


def evaluate(
    engine: Engine,
    scored: Sequence[Scored],
    *,
    as_of: Sequence[datetime] = (),
    horizon_days: float | None = None,
    latest_outcome: datetime | None = None,
    target_rate: float | None = None,
    capture_share: float = 0.5,
    seed: int = 0,
) -> Backtest:
    """The metrics of one model's scores against outcomes."""
    converted = sum(s.converted for s in scored)
    report = Backtest(engine.name, len(scored), converted, tuple(as_of) or (None,), horizon_days)
    report.warnings.append(
        "profile fields are as they are now, not as they were at each as-of moment; a field filled in after a "
        "conversion (a deal stage, a lead quality set by sales) leaks the answer into the backtest"
    )
    report.warnings.extend(model_notes(engine.model))
    if not scored:
        report.warnings.append("no contact has a known outcome: nothing to measure")
        return report
    labels = np.array([s.converted for s in scored], dtype=int)
    scores = np.array([s.score for s in scored], dtype=float)
    report.scores_converted = [s.score for s in scored if s.converted]
    report.scores_not_converted = [s.score for s in scored if not s.converted]
    if 0 < converted < len(scored):
        report.roc_auc = float(roc_auc_score(labels, scores))
        report.pr_auc = float(average_precision_score(labels, scores))
        report.roc_auc_interval, report.pr_auc_interval = _bootstrap(labels, scores, seed)
        false_positive, true_positive, _ = roc_curve(labels, scores)
        report.roc = (false_positive.tolist(), true_positive.tolist())
    else:
        report.warnings.append("every contact has the same outcome: ranking metrics are undefined")
    report.by_band = _rates(scored, [band.name for band in engine.model.bands], lambda s: s.band)
    report.by_grade = _rates(scored, [grade.name for grade in engine.model.grades], lambda s: s.grade)
    report.calibration = _rates(scored, [_bucket(low) for low in range(0, 100, 10)], lambda s: _bucket(s.score))
    _ranked(report, scored)
    report.rules = _rule_checks(engine, scored, report.base_rate)
    report.share_at_0 = sum(s.score == 0 for s in scored) / len(scored)
    report.share_at_100 = sum(s.score == 100 for s in scored) / len(scored)
    report.threshold_for_rate = _threshold_for_rate(scored, target_rate or min(1.0, 2 * report.base_rate))
    report.threshold_for_capture = _threshold_for_capture(scored, capture_share)
    _flag(report, engine, as_of, horizon_days, latest_outcome)
    return report


def _bootstrap(labels: np.ndarray, scores: np.ndarray, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of ROC AUC and PR AUC from resampling the contacts with replacement."""
    rng = np.random.default_rng(seed)
    rocs, prs = [], []
    for _ in range(BOOTSTRAP_SAMPLES):
        pick = rng.integers(0, len(labels), len(labels))
        if labels[pick].min() == labels[pick].max():
            continue
        rocs.append(roc_auc_score(labels[pick], scores[pick]))
        prs.append(average_precision_score(labels[pick], scores[pick]))
    return (
        (float(np.percentile(rocs, 2.5)), float(np.percentile(rocs, 97.5))),
        (float(np.percentile(prs, 2.5)), float(np.percentile(prs, 97.5))),
    )


def _bucket(score: int) -> str:
    """Scores by tens, the last bucket holding 90 to 100."""
    low = min(score // 10, 9) * 10
    return f"{low}-{low + 9 if low < 90 else 100}"


def _rates(scored: Sequence[Scored], names: Sequence[str], key: Callable[[Scored], str]) -> list[Rate]:
    contacts: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    for item in scored:
        name = key(item)
        contacts[name] += 1
        converted[name] += item.converted
    return [Rate(name, contacts[name], converted[name]) for name in names]


def _ranked(report: Backtest, scored: Sequence[Scored]) -> None:
    """Lift and capture of the top of the ranking (ties broken by contact id, so the cut is repeatable)."""
    ranked = sorted(scored, key=lambda s: (-s.score, s.contact_id))
    total = report.converted
    base = report.base_rate
    for share in [step / 20 for step in range(1, 21)]:
        top = ranked[: max(1, math.ceil(len(ranked) * share))]
        hits = sum(s.converted for s in top)
        lift = (hits / len(top)) / base if base else 0.0
        capture = hits / total if total else 0.0
        report.lift_curve.append((share, lift))
        if share == 0.1:
            report.top_decile_lift, report.top_decile_capture = lift, capture
        elif share == 0.5:
            report.top_half_lift, report.top_half_capture = lift, capture


def _rule_checks(engine: Engine, scored: Sequence[Scored], base_rate: float) -> list[RuleCheck]:
    checks = []
    rules: list[FitRule | BehaviourRule] = [*engine.model.fit, *engine.model.behaviour]
    for rule in rules:
        hit = [s for s in scored if rule.id in s.rules]
        converted = sum(s.converted for s in hit)
        lift = (converted / len(hit)) / base_rate if hit and base_rate else 0.0
        warning = None
        if len(hit) >= MIN_RULE_SUPPORT and base_rate:
            if rule.points > 0 and lift < 1:
                warning = f"gives +{rule.points:g} but its leads convert at {lift:.2f}x the base rate"
            elif rule.points < 0 and lift > 1:
                warning = f"takes {rule.points:g} but its leads convert at {lift:.2f}x the base rate"
        elif not hit:
            warning = "never earned points in this history"
        checks.append(RuleCheck(rule.id, rule.points, len(hit), converted, lift, warning))
    return checks


def _threshold_for_rate(scored: Sequence[Scored], target: float) -> tuple[float, int | None]:
    """The lowest score held by a contact whose contacts at or above it convert at ``target`` or better."""
    found = None
    for threshold in sorted({s.score for s in scored}, reverse=True):
        above = [s for s in scored if s.score >= threshold]
        if above and sum(s.converted for s in above) / len(above) >= target:
            found = threshold
    return target, found


def _threshold_for_capture(scored: Sequence[Scored], share: float) -> tuple[float, int | None]:
    """The highest score that still has ``share`` of the converters at or above it."""
    converters = sorted((s.score for s in scored if s.converted), reverse=True)
    if not converters:
        return share, None
    return share, converters[max(0, math.ceil(len(converters) * share) - 1)]


def _flag(
    report: Backtest,
    engine: Engine,
    as_of: Sequence[datetime],
    horizon_days: float | None,
    latest_outcome: datetime | None,
) -> None:
    rates = [band.rate for band in report.by_band if band.contacts]
    if any(later < earlier for earlier, later in itertools.pairwise(rates)):
        order = ", ".join(f"{band.name} {band.rate:.0%}" for band in report.by_band if band.contacts)
        report.warnings.append(f"bands are out of order: a higher band converts less ({order})")
    if report.share_at_0 > 0.25:
        report.warnings.append(f"{report.share_at_0:.0%} of contacts score 0: the model cannot rank them")
    if report.share_at_100 > 0.1:
        report.warnings.append(f"{report.share_at_100:.0%} of contacts score 100: the model cannot rank them")
    if as_of and horizon_days is not None and latest_outcome is not None:
        immature = [moment for moment in as_of if moment + timedelta(days=horizon_days) > latest_outcome]
        if immature:
            report.warnings.append(
                f"the horizon after {', '.join(m.date().isoformat() for m in immature)} reaches past the latest "
                f"known outcome ({latest_outcome.date().isoformat()}): conversions still to come count as misses"
            )
    for rule in engine.model.behaviour:
        if rule.action == CONVERTED:
            report.warnings.append(
                f"rule {rule.id} scores the '{CONVERTED}' action, the outcome itself: the backtest leaves those events "
                "out, but live scores include them"
            )
    for check in report.rules:
        if check.warning and check.hits:
            report.warnings.append(f"rule {check.rule_id}: {check.warning}")
