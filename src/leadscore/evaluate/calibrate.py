"""Setting a rule model's points from history, so that it stays a model a person can read.

Each rule's share of a contact's score, divided by the rule's points, is a feature
(1 for a fit rule that held; for a behaviour rule the faded, capped count of what
it took). A regularised logistic regression on the training contacts gives each
rule a weight in log-odds; the weights are rescaled so that the training scores
span 0-100 and rounded to whole points, with a base (intercept) that puts the
lowest training score at 0. Caps keep their ceiling in events (scaled with the
points); grade thresholds keep the share of contacts at or above each one.
Nothing is applied: the result is a new model file for ``plan`` and ``backtest``.

With proposals, candidate rules for the fields and actions the model does not use
(see proposals.py) join the user's rules in an L1-regularised regression first;
the candidates it gives no weight are dropped and listed, the strongest others
kept up to the rule budget, and the user's rules with the kept candidates are
then calibrated as above. A band target moves one band's threshold to a share of
contacts at or above it, or to the lowest score whose leads convert at a rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score

from leadscore.engine import Engine
from leadscore.engine.model import ScoringModel
from leadscore.evaluate.outcomes import known_outcome
from leadscore.evaluate.proposals import Candidate, candidates, with_candidates
from leadscore.records import Contact, Event, ScoreResult

SPAN_QUANTILES = (1.0, 99.0)
"""The training scores between these percentiles are spread over 0-100; the few beyond are clamped."""
SELECTION_STRENGTHS = tuple(float(c) for c in np.logspace(-3, 1, 13))
"""Inverse strengths of the L1 penalty tried by cross-validation when choosing proposals: the one that ranks the
held-back folds best decides which candidates earn a weight."""
MAX_RULES = 40
"""The most rules a calibration with proposals ends with: beyond that a model stops being one a person reads."""


@dataclass(frozen=True, slots=True)
class BandTarget:
    """Where to put one band's threshold: at the score ``share`` of contacts reach, or at the lowest score whose
    leads at or above it convert at ``rate``."""

    band: str
    share: float | None = None
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Example:
    contact: Contact
    events: Sequence[Event]
    converted: bool
    as_of: datetime | None = None
    """The moment this lead is judged at (its events are those before it); None: the calibration's ``now``."""


@dataclass(slots=True)
class Calibration:
    model: dict[str, Any]
    """The new model's data, ready to be written as YAML."""
    points: dict[str, tuple[float, float]]
    """Rule id -> (points before, points after)."""
    no_evidence: list[str] = field(default_factory=list)
    """Rules that never fired in the training contacts: their points are kept as they were."""
    holdout_auc_before: float | None = None
    holdout_auc_after: float | None = None
    holdout_auc_regression: float | None = None
    """The fitted regression itself on the held-out contacts: the most the rounded rule model can reach."""
    train: int = 0
    holdout: int = 0
    proposed: list[str] = field(default_factory=list)
    """Candidate rules kept: they are in the new model."""
    dropped: list[tuple[str, str]] = field(default_factory=list)
    """(candidate rule id, why it was not kept)."""
    holdout_auc_all_inputs: float | None = None
    """A plain regression over the user's rules and every candidate: the reference a rule model is held to."""
    band_moves: list[str] = field(default_factory=list)
    """What a band target changed, in words."""


def examples_from(
    history: Iterable[tuple[Contact, Sequence[Event]]],
    outcomes: Mapping[str, datetime | None] | None,
    lead_as_of: Mapping[str, datetime] | None = None,
) -> list[Example]:
    """Contacts with a known outcome (``outcomes`` None: every contact, its outcome its earliest ``converted``
    event), each with the events before its own as-of moment where it has one; a lead that had converted by then
    is left out, and a ``converted`` event is never an input."""
    own = lead_as_of or {}
    examples = []
    for contact, events in history:
        known, converted_at, inputs = known_outcome(contact.id, events, outcomes)
        if not known:
            continue
        moment = own.get(contact.id)
        if moment is not None:
            if converted_at is not None and converted_at <= moment:
                continue
            inputs = [event for event in inputs if event.occurred_at < moment]
        examples.append(Example(contact, inputs, converted_at is not None, moment))
    return examples


def split(examples: Sequence[Example], holdout: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A stratified random split: the same share of converters on both sides, the same split for the same seed."""
    rng = random.Random(seed)
    train: list[Example] = []
    held: list[Example] = []
    for outcome in (True, False):
        group = sorted((e for e in examples if e.converted is outcome), key=lambda e: e.contact.id)
        rng.shuffle(group)
        cut = round(len(group) * holdout)
        held.extend(group[:cut])
        train.extend(group[cut:])
    return train, held


def activations(result: ScoreResult, rule_ids: Sequence[str], points: dict[str, float]) -> list[float]:
    shares = {c.rule_id: c.points for c in result.contributions if c.kind in ("fit", "behaviour")}
    return [shares.get(rule_id, 0.0) / points[rule_id] for rule_id in rule_ids]


def calibrate(
    engine: Engine,
    raw_model: dict[str, Any],
    examples: Sequence[Example],
    now: Any,
    *,
    holdout: float = 0.3,
    seed: int = 0,
    regularisation: float = 1.0,
    propose: bool = False,
    max_rules: int = MAX_RULES,
    band_target: BandTarget | None = None,
) -> Calibration:
    """Fit the points of ``engine``'s rules (and, with ``propose``, of the candidate rules worth keeping) on a
    training split; measure the model before and after on the held-out split."""
    fitted_engine, fitted_raw = engine, raw_model
    kept: list[Candidate] = []
    dropped: list[tuple[str, str]] = []
    reference = None
    if propose:
        train, held = split(examples, holdout, seed)
        found = candidates(raw_model, ((e.contact, e.events) for e in train))
        budget = max(0, max_rules - len(engine.model.fit) - len(engine.model.behaviour))
        kept, dropped, reference = _select(engine, raw_model, found, train, held, now, budget, regularisation)
        fitted_raw = with_candidates(raw_model, kept)
        fitted_engine = Engine(engine.name, ScoringModel.model_validate(fitted_raw))
    result = _fit(fitted_engine, fitted_raw, examples, now, holdout, seed, regularisation)
    result.proposed = [c.rule["id"] for c in kept]
    result.dropped = dropped
    result.holdout_auc_all_inputs = reference
    if propose:
        _, held = split(examples, holdout, seed)
        if held and 0 < sum(e.converted for e in held) < len(held):
            result.holdout_auc_before = _auc(engine, held, [e.converted for e in held], now)
    if band_target is not None:
        train, _ = split(examples, holdout, seed)
        calibrated = Engine(engine.name, ScoringModel.model_validate(result.model))
        result.model, result.band_moves = _with_band(result.model, calibrated, train, now, band_target)
    return result


def _select(
    engine: Engine,
    raw_model: dict[str, Any],
    found: Sequence[Candidate],
    train: Sequence[Example],
    held: Sequence[Example],
    now: Any,
    budget: int,
    regularisation: float,
) -> tuple[list[Candidate], list[tuple[str, str]], float | None]:
    """The candidates an L1 regression over every rule weighs, the strongest up to ``budget``; the others with
    why; and the held-out AUC of a plain (L2) regression over every rule and candidate, for reference."""
    if not found or not train:
        return [], [], None
    wide = Engine(engine.name, ScoringModel.model_validate(with_candidates(raw_model, found)))
    points = _points_of(wide.model)
    rule_ids = list(points)
    x_train = np.array([activations(wide.score(e.contact, e.events, e.as_of or now), rule_ids, points) for e in train])
    y_train = np.array([e.converted for e in train], dtype=int)
    sparse = LogisticRegressionCV(
        Cs=SELECTION_STRENGTHS,
        l1_ratios=(1.0,),
        solver="liblinear",
        scoring="roc_auc",
        cv=5,
        max_iter=2000,
        use_legacy_attributes=False,
    )
    sparse.fit(x_train, y_train)
    spread = x_train.std(axis=0)
    strength = {
        rule_id: abs(float(w)) * float(sd) for rule_id, w, sd in zip(rule_ids, sparse.coef_[0], spread, strict=True)
    }
    ranked = sorted(found, key=lambda c: -strength[c.rule["id"]])
    kept = [c for c in ranked if strength[c.rule["id"]] > 0][:budget]
    chosen = {c.rule["id"] for c in kept}
    dropped = [
        (
            c.rule["id"],
            "no weight in the regression" if strength[c.rule["id"]] == 0 else f"past the {budget}-rule budget",
        )
        for c in found
        if c.rule["id"] not in chosen
    ]
    reference = None
    if held and 0 < sum(e.converted for e in held) < len(held):
        plain = LogisticRegression(C=regularisation, max_iter=2000).fit(x_train, y_train)
        x_held = np.array(
            [activations(wide.score(e.contact, e.events, e.as_of or now), rule_ids, points) for e in held]
        )
        reference = float(roc_auc_score([e.converted for e in held], plain.decision_function(x_held)))
    return kept, dropped, reference


def _with_band(
    data: dict[str, Any], engine: Engine, train: Sequence[Example], now: Any, target: BandTarget
) -> tuple[dict[str, Any], list[str]]:
    """``target.band``'s threshold set from the calibrated training scores; later bands pushed up if they would
    no longer rise."""
    names = [band.name for band in engine.model.bands]
    if target.band not in names:
        raise ValueError(f"no band named '{target.band}'; bands: {', '.join(names)}")
    position = names.index(target.band)
    if position == 0:
        raise ValueError(f"'{target.band}' is the first band: it starts at 0 and has no threshold to move")
    scored = sorted(
        ((engine.score(e.contact, e.events, e.as_of or now).score, e.converted) for e in train), reverse=True
    )
    if not scored:
        return data, []
    threshold: int | None = None
    if target.share is not None:
        threshold = scored[max(0, math.ceil(len(scored) * target.share) - 1)][0]
        why = f"{target.share:.0%} of contacts at or above it"
    elif target.rate is not None:
        hits = 0
        for count, (score, converted) in enumerate(scored, start=1):
            hits += converted
            at_end = count == len(scored) or scored[count][0] != score
            if at_end and hits / count >= target.rate:
                threshold = score
        why = f"leads at or above it convert at {target.rate:.0%} or better"
    if threshold is None:
        return data, [f"{target.band}: no score reaches the target ({why}); threshold kept"]
    bands = [dict(band) for band in data.get("bands", ())]
    floor = int(bands[position - 1]["min"]) + 1
    moves = [f"{target.band}: {bands[position]['min']} -> {max(threshold, floor)} ({why})"]
    bands[position]["min"] = max(threshold, floor)
    for later in range(position + 1, len(bands)):
        below = bands[later - 1]
        if bands[later]["min"] <= below["min"]:
            raised = int(below["min"]) + 1
            moves.append(f"{bands[later]['name']}: {bands[later]['min']} -> {raised} (kept above {below['name']})")
            bands[later]["min"] = raised
    return {**data, "bands": bands}, moves


def _fit(
    engine: Engine,
    raw_model: dict[str, Any],
    examples: Sequence[Example],
    now: Any,
    holdout: float,
    seed: int,
    regularisation: float,
) -> Calibration:
    """The points of ``engine``'s rules from a regression on the training split, the held-out AUC before and
    after."""
    model = engine.model
    rule_points = _points_of(model)
    rule_ids = list(rule_points)
    train, held = split(examples, holdout, seed)
    x_train = np.array(
        [activations(engine.score(e.contact, e.events, e.as_of or now), rule_ids, rule_points) for e in train]
    )
    y_train = np.array([e.converted for e in train], dtype=int)
    fired = [bool(np.any(x_train[:, j] != 0)) for j in range(len(rule_ids))] if len(train) else []
    used = [j for j, on in enumerate(fired) if on]
    regression = LogisticRegression(C=regularisation, max_iter=2000)
    regression.fit(x_train[:, used], y_train)
    weights = dict(zip([rule_ids[j] for j in used], regression.coef_[0].tolist(), strict=True))
    linear = x_train[:, used] @ regression.coef_[0]
    low, high = (float(np.percentile(linear, q)) for q in SPAN_QUANTILES)
    scale = 100.0 / (high - low) if high > low else 1.0
    new_points = {rule_id: _whole(weights[rule_id] * scale) for rule_id in weights}
    result = Calibration(
        _rewritten(raw_model, model, new_points, -low * scale), {}, train=len(train), holdout=len(held)
    )
    result.points = {
        rule_id: (rule_points[rule_id], new_points.get(rule_id, rule_points[rule_id])) for rule_id in rule_ids
    }
    result.no_evidence = [rule_ids[j] for j, on in enumerate(fired) if not on]
    calibrated = Engine(engine.name, ScoringModel.model_validate(result.model))
    result.model = _with_grades(result.model, model, engine, calibrated, train, now)
    calibrated = Engine(engine.name, ScoringModel.model_validate(result.model))
    if held and 0 < sum(e.converted for e in held) < len(held):
        labels = [e.converted for e in held]
        result.holdout_auc_before = _auc(engine, held, labels, now)
        result.holdout_auc_after = _auc(calibrated, held, labels, now)
        x_held = np.array(
            [activations(engine.score(e.contact, e.events, e.as_of or now), rule_ids, rule_points) for e in held]
        )
        result.holdout_auc_regression = float(roc_auc_score(labels, regression.decision_function(x_held[:, used])))
    return result


def _points_of(model: ScoringModel) -> dict[str, float]:
    points = {rule.id: rule.points for rule in model.fit}
    points.update((rule.id, rule.points) for rule in model.behaviour)
    return points


def _whole(points: float) -> float:
    """Whole points, never 0 (a rule of 0 points is refused): a weight too small to round keeps its sign at 1."""
    rounded = float(round(points))
    return rounded if rounded != 0 else math.copysign(1.0, points)


def _auc(engine: Engine, examples: Iterable[Example], labels: list[bool], now: Any) -> float:
    scores = [engine.score(e.contact, e.events, e.as_of or now).score for e in examples]
    return float(roc_auc_score(labels, scores))


def _rewritten(raw: dict[str, Any], model: ScoringModel, points: dict[str, float], base: float) -> dict[str, Any]:
    """The model's data with the new points, caps scaled to keep their ceiling in events, and the new base."""
    data = dict(raw)
    data["base"] = round(base)
    caps = {rule.id: rule.cap for rule in model.behaviour}
    olds = _points_of(model)
    for section in ("fit", "behaviour"):
        rules = []
        for rule in raw.get(section, ()):
            rule = dict(rule)
            new = points.get(rule["id"])
            if new is not None:
                cap = caps.get(rule["id"])
                if cap is not None:
                    rule["cap"] = max(1, abs(round(cap * new / olds[rule["id"]])))
                rule["points"] = int(new)
            rules.append(rule)
        data[section] = rules
    return data


def _with_grades(
    data: dict[str, Any], model: ScoringModel, before: Engine, after: Engine, train: Sequence[Example], now: Any
) -> dict[str, Any]:
    """Grade thresholds on fit moved so that each keeps the share of training contacts at or above it."""
    if not any(grade.min_fit is not None for grade in model.grades):
        return data
    old_fit = sorted(before.score(e.contact, e.events, e.as_of or now).fit for e in train)
    new_fit = sorted(after.score(e.contact, e.events, e.as_of or now).fit for e in train)
    grades = []
    for grade in data.get("grades", ()):
        grade = dict(grade)
        if grade.get("min_fit") is not None and old_fit:
            share = sum(1 for fit in old_fit if fit >= grade["min_fit"]) / len(old_fit)
            position = min(len(new_fit) - 1, max(0, math.ceil(len(new_fit) * (1 - share))))
            grade["min_fit"] = round(new_fit[position]) if share > 0 else round(new_fit[-1]) + 1
        grades.append(grade)
    thresholds = [g["min_fit"] for g in grades[:-1] if g.get("min_fit") is not None]
    for position in range(1, len(thresholds)):
        thresholds[position] = min(thresholds[position], thresholds[position - 1] - 1)
    numbered = iter(thresholds)
    for grade in grades[:-1]:
        if grade.get("min_fit") is not None:
            grade["min_fit"] = next(numbered)
    return data | {"grades": grades}
