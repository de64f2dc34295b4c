"""The scoring model file's schema, as pydantic models.

This is the edge where a revops engineer's YAML meets the engine, so every
constraint lives here and is checked on load; the engine then trusts it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.records import DERIVED_FIELDS, PROFILE_FIELDS

Operator = Literal["equals", "in", "contains", "regex", "between", "exists"]
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PropertyName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """A test on one value; shared by fit rules (profile fields) and behaviour filters (attributes)."""

    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        op, value = self.operator, self.value
        if op == "in" and not (isinstance(value, list) and value):
            raise ValueError("operator 'in' needs a non-empty list as value, e.g. [vp, director]")
        if op == "between" and not _is_range(value):
            raise ValueError("operator 'between' needs [low, high] numbers with low <= high, e.g. [50, 1000]")
        if op == "regex":
            if not isinstance(value, str):
                raise ValueError("operator 'regex' needs a regular expression string as value")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"value is not a valid regular expression: {exc}") from exc
        if op in ("equals", "contains") and (value is None or isinstance(value, list | dict)):
            raise ValueError(f"operator '{op}' needs a single text or number value")
        if op == "exists" and not isinstance(value, bool | None):
            raise ValueError("operator 'exists' takes value true (default) or false")
        return self


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1]
    )


class FitRule(Condition):
    """Points for what a contact is (profile), independent of what it did."""

    id: RuleId
    field: str
    points: float
    reason: str = Field(min_length=1, max_length=60)
    disqualify: bool = False

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        allowed = PROFILE_FIELDS + DERIVED_FIELDS
        if name not in allowed:
            raise ValueError(f"unknown profile field '{name}'; allowed: {', '.join(allowed)}")
        return name


class AttributeFilter(Condition):
    """Narrows a behaviour rule to events whose attribute passes the condition."""

    attribute: str = Field(min_length=1)


class BehaviourRule(_Strict):
    """Points for one kind of engagement, optionally capped so it cannot dominate."""

    id: RuleId
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    where: tuple[AttributeFilter, ...] = ()
    points: float
    cap: float | None = Field(default=None, gt=0)
    reason: str = Field(min_length=1, max_length=60)

    @model_validator(mode="after")
    def _nonzero(self) -> BehaviourRule:
        if self.points == 0:
            raise ValueError("points must not be 0; delete the rule instead")
        return self


class Decay(_Strict):
    """How behaviour points fade; negative points never fade (a hard bounce stays one)."""

    half_life_days: float | None = Field(default=None, gt=0)
    window_days: float | None = Field(default=None, gt=0)
    reset_after_days: float | None = Field(default=30, gt=0)


class Grade(_Strict):
    name: str = Field(min_length=1, max_length=8)
    min_fit: float | None = None


class Band(_Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=32)
    min: int = Field(ge=0, le=100)
    lifecycle_stage: str | None = None


class FastTrack(_Strict):
    """High-intent actions that lift a lead to at least ``band`` while they are recent."""

    actions: tuple[str, ...] = Field(min_length=1)
    band: str
    within_days: float = Field(default=30, gt=0)


class Writes(_Strict):
    """The platform-neutral names of what this model writes; connectors map them to properties."""

    score: PropertyName
    grade: PropertyName
    band: PropertyName
    label: PropertyName | None = None
    reasons: PropertyName | None = None
    scored_at: PropertyName | None = None


class ScoringModel(_Strict):
    """One named score (e.g. a lead score or a loyalty score) and what it writes."""

    description: str = ""
    writes: Writes
    fit: tuple[FitRule, ...] = ()
    behaviour: tuple[BehaviourRule, ...] = ()
    decay: Decay = Decay()
    grades: tuple[Grade, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = Field(min_length=1)
    exit_margin: int = Field(default=0, ge=0, le=50)
    fast_track: FastTrack | None = None
    label: str = "{grade}-{band}"
    top_reasons: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _consistent(self) -> ScoringModel:
        _check_unique("fit rule id", [r.id for r in self.fit])
        _check_unique("behaviour rule id", [r.id for r in self.behaviour])
        _check_unique("band name", [b.name for b in self.bands])
        _check_unique("grade name", [g.name for g in self.grades])
        if self.bands[0].min != 0:
            raise ValueError("bands: the first band must start at min 0 so that every score has a band")
        mins = [b.min for b in self.bands]
        if mins != sorted(set(mins)):
            raise ValueError(f"bands: mins must rise strictly from the first band to the last, got {mins}")
        thresholds = [g.min_fit for g in self.grades[:-1]]
        if self.grades[-1].min_fit is not None:
            raise ValueError("grades: the last grade is the catch-all and must not have min_fit")
        if any(t is None for t in thresholds):
            raise ValueError("grades: every grade but the last needs min_fit")
        numeric = [t for t in thresholds if t is not None]
        if numeric != sorted(set(numeric), reverse=True):
            raise ValueError(f"grades: min_fit must fall strictly from the first grade to the last, got {numeric}")
        if self.fast_track is not None and self.fast_track.band not in mins_by_name(self):
            raise ValueError(
                f"fast_track.band '{self.fast_track.band}' is not a band; allowed: {', '.join(mins_by_name(self))}"
            )
        try:
            self.label.format(grade="A", band="B")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"label may use only {{grade}} and {{band}}: {exc}") from exc
        return self


def mins_by_name(model: ScoringModel) -> dict[str, int]:
    return {band.name: band.min for band in model.bands}


def _check_unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} '{name}'; each must be unique")
        seen.add(name)


class ModelFile(_Strict):
    """A model file: one or more named models that run side by side."""

    version: Literal[1] = 1
    models: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ScoringModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_writes(self) -> ModelFile:
        owner: dict[str, str] = {}
        for name, model in self.models.items():
            for prop in model.writes.model_dump(exclude_none=True).values():
                if prop in owner:
                    raise ValueError(
                        f"models '{owner[prop]}' and '{name}' both write '{prop}'; give each model its own properties"
                    )
                owner[prop] = name
        return self
