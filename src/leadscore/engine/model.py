"""The scoring model file's schema, as pydantic models.

This is the edge where a revops engineer's YAML meets the engine, so every
constraint lives here and is checked on load; the engine then trusts it.
Checks that span sections (a rule naming an undeclared field, a group naming
an unknown rule) raise :class:`Located` problems, so that the loader can point
at the exact line of the offending key rather than at the model as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from leadscore.records import DERIVED_FIELDS, PROFILE_FIELDS

Operator = Literal[
    "equals",
    "in",
    "contains",
    "regex",
    "between",
    "exists",
    "at_least",
    "at_most",
    "within_days",
    "older_than_days",
    "is_true",
    "is_false",
]
FieldType = Literal["number", "date", "text", "boolean"]
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PropertyName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=100)]
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$", max_length=100)]
Path_ = tuple[str | int, ...]

BUILT_IN_TYPES: dict[str, FieldType | None] = {name: None for name in (*PROFILE_FIELDS, *DERIVED_FIELDS)}
BUILT_IN_TYPES["created_at"] = "date"
"""Built-in fields keep their forgiving reading (numbers written as text compare as numbers) unless declared."""

TIMED_OPERATORS = frozenset({"within_days", "older_than_days"})
OPERATOR_TYPES: dict[str, frozenset[FieldType]] = {
    "at_least": frozenset({"number", "date"}),
    "at_most": frozenset({"number", "date"}),
    "between": frozenset({"number"}),
    "within_days": frozenset({"date"}),
    "older_than_days": frozenset({"date"}),
    "is_true": frozenset({"boolean"}),
    "is_false": frozenset({"boolean"}),
    "regex": frozenset({"text"}),
}
"""For a declared field, the types each operator can test; an operator not listed tests any type."""


class Located(ValueError):
    """Problems found by a cross-section check, each with the path of the key at fault."""

    def __init__(self, problems: list[tuple[Path_, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Condition(_Strict):
    """A test on one value; shared by fit conditions (profile fields) and behaviour filters (attributes)."""

    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        check_value(self.operator, self.value)
        return self


def check_value(op: str, value: Any) -> None:
    """Raise ValueError with an example when ``value`` cannot be what ``op`` compares against."""
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
    if op in ("at_least", "at_most") and not (_is_number(value) or _is_iso_date(value)):
        raise ValueError(f"operator '{op}' needs a number, or an ISO date for a date field, e.g. 50 or 2026-01-31")
    if op in TIMED_OPERATORS and not (_is_number(value) and value > 0):
        raise ValueError(f"operator '{op}' needs a number of days above 0, e.g. 14")
    if op in ("is_true", "is_false") and value is not None:
        raise ValueError(f"operator '{op}' takes no value")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_range(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value) and value[0] <= value[1]


class FieldTest(Condition):
    """One field against one condition: the leaf of a compound condition."""

    field: FieldName


class AllOf(_Strict):
    all: tuple[Node, ...] = Field(min_length=1)


class AnyOf(_Strict):
    any: tuple[Node, ...] = Field(min_length=1)


class NoneOf(_Strict):
    """``not:`` one condition, or a list of which none may hold."""

    not_: Node | tuple[Node, ...] = Field(alias="not")


def _node_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return f"<{key}>"
        return "<field>"
    if isinstance(value, AllOf):
        return "<all>"
    if isinstance(value, AnyOf):
        return "<any>"
    if isinstance(value, NoneOf):
        return "<not>"
    if isinstance(value, FieldTest):
        return "<field>"
    return None


Node = Annotated[
    Annotated[FieldTest, Tag("<field>")]
    | Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[NoneOf, Tag("<not>")],
    Discriminator(_node_kind),
]
"""A condition: a field test, or ``all`` / ``any`` / ``not`` of conditions, nested as deep as needed.

The tags in angle brackets only steer pydantic; the loader drops them from the paths it prints."""


def node_children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, AllOf):
        return node.all
    if isinstance(node, AnyOf):
        return node.any
    if isinstance(node, NoneOf):
        return node.not_ if isinstance(node.not_, tuple) else (node.not_,)
    return ()


def field_tests(node: Node, path: Path_ = ()) -> Iterator[tuple[Path_, FieldTest]]:
    """Every field test in a condition, with its path below the condition."""
    if isinstance(node, FieldTest):
        yield path, node
        return
    key = "all" if isinstance(node, AllOf) else "any" if isinstance(node, AnyOf) else "not"
    children = node_children(node)
    for position, child in enumerate(children):
        step: Path_ = (key, position) if not (isinstance(node, NoneOf) and not isinstance(node.not_, tuple)) else (key,)
        yield from field_tests(child, (*path, *step))


class FitRule(_Strict):
    """Points for what a contact is (profile), independent of what it did.

    ``field``/``operator``/``value`` is the short form of ``all`` with one condition.
    """

    id: RuleId
    field: FieldName | None = None
    operator: Operator | None = None
    value: Any = None
    all: tuple[Node, ...] | None = Field(default=None, min_length=1)
    any: tuple[Node, ...] | None = Field(default=None, min_length=1)
    not_: Node | tuple[Node, ...] | None = Field(default=None, alias="not")
    points: float
    reason: str = Field(min_length=1, max_length=60)
    disqualify: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> FitRule:
        compound = [key for key, given in (("all", self.all), ("any", self.any), ("not", self.not_)) if given]
        if self.field is not None or self.operator is not None:
            if compound:
                raise ValueError(f"give either field/operator/value or {compound[0]}:, not both")
            if self.field is None or self.operator is None:
                raise ValueError(
                    "a single-field rule needs both field and operator, e.g. field: seniority, operator: in"
                )
            check_value(self.operator, self.value)
        elif len(compound) != 1:
            raise ValueError(
                "a fit rule needs a condition: field/operator/value, or exactly one of all:, any:, not:"
                + (f" (got {', '.join(compound)})" if compound else "")
            )
        return self

    @property
    def condition(self) -> Node:
        if self.field is not None and self.operator is not None:
            return FieldTest(field=self.field, operator=self.operator, value=self.value)
        if self.all:
            return AllOf(all=self.all)
        if self.any:
            return AnyOf(any=self.any)
        assert self.not_ is not None
        return NoneOf(not_=self.not_)

    def tests(self) -> Iterator[tuple[Path_, FieldTest]]:
        """Each field test with its path inside this rule (the short form's is the rule itself)."""
        if self.field is not None:
            yield (), FieldTest(field=self.field, operator=self.operator or "exists", value=self.value)
            return
        condition = self.condition
        if isinstance(condition, NoneOf) and not isinstance(condition.not_, tuple):
            yield from field_tests(condition.not_, ("not",))
            return
        yield from field_tests(condition)


class AttributeFilter(Condition):
    """Narrows a behaviour rule to events whose attribute passes the condition."""

    attribute: str = Field(min_length=1)

    @field_validator("operator")
    @classmethod
    def _timeless(cls, op: str) -> str:
        if op in TIMED_OPERATORS:
            raise ValueError(f"'{op}' compares a date with now; to count only recent events give the rule within_days")
        return op


class Count(_Strict):
    """Earn the rule's points once when at least ``at_least`` matching events fall in the last ``within_days``."""

    at_least: int = Field(ge=1)
    within_days: float = Field(gt=0)


class BehaviourRule(_Strict):
    """Points for one kind of engagement, optionally capped, windowed or counted.

    An event is taken by the first rule, in file order, whose action, filters and
    window match; ``then: continue`` lets the next matching rule take it as well.
    """

    id: RuleId
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    where: tuple[AttributeFilter, ...] = ()
    points: float
    cap: float | None = Field(default=None, gt=0)
    within_days: float | None = Field(default=None, gt=0)
    count: Count | None = None
    then: Literal["stop", "continue"] = "stop"
    reason: str = Field(min_length=1, max_length=60)

    @model_validator(mode="after")
    def _coherent(self) -> BehaviourRule:
        if self.points == 0:
            raise ValueError("points must not be 0; delete the rule instead")
        if self.count is not None and self.within_days is not None:
            raise ValueError("give within_days inside count: (count: {at_least: 3, within_days: 14}), not both")
        if self.count is not None and self.cap is not None:
            raise ValueError("a counted rule earns its points once; cap does not apply")
        return self

    @property
    def window_days(self) -> float | None:
        """Only events this recent match the rule; older ones fall through to later rules."""
        return self.count.within_days if self.count is not None else self.within_days


class Decay(_Strict):
    """How behaviour points fade; negative points never fade (a hard bounce stays one).

    ``reset_after_days`` is on (30) unless set to null, even when ``decay`` is left out.
    """

    half_life_days: float | None = Field(default=None, gt=0)
    window_days: float | None = Field(default=None, gt=0)
    reset_after_days: float | None = Field(default=30, gt=0)


class Fading(_Strict):
    """A group's own fading, in place of the model's half-life and window for the group's rules."""

    half_life_days: float | None = Field(default=None, gt=0)
    window_days: float | None = Field(default=None, gt=0)


class Bounds(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Group(Bounds):
    """Rules whose points add up to at most ``max`` (and at least ``min``)."""

    rules: tuple[RuleId, ...] = Field(min_length=1)
    decay: Fading | None = None


class Limits(_Strict):
    fit: Bounds = Bounds()
    behaviour: Bounds = Bounds()


class Grade(_Strict):
    """A grade holds when every criterion it gives holds; grades are tried top to bottom, the last catches all."""

    name: str = Field(min_length=1, max_length=8)
    min_fit: float | None = None
    min_behaviour: float | None = None
    when: Node | None = None

    @property
    def has_criteria(self) -> bool:
        return self.min_fit is not None or self.min_behaviour is not None or self.when is not None


class Band(_Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=32)
    min: int = Field(ge=0, le=100)
    lifecycle_stage: str | None = None


class FastTrack(_Strict):
    """High-intent actions that lift a lead to at least ``band`` while they are recent."""

    actions: tuple[str, ...] = Field(min_length=1)
    band: str
    within_days: float = Field(default=30, gt=0)


class FieldSpec(_Strict):
    type: FieldType


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
    fields: dict[FieldName, FieldSpec] = Field(default_factory=dict)
    base: float = 0
    fit: tuple[FitRule, ...] = ()
    behaviour: tuple[BehaviourRule, ...] = ()
    groups: dict[RuleId, Group] = Field(default_factory=dict)
    limits: Limits = Limits()
    decay: Decay = Decay()
    grades: tuple[Grade, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = Field(min_length=1)
    exit_margin: int = Field(default=0, ge=0, le=50)
    fast_track: FastTrack | None = None
    label: str = "{grade}-{band}"
    top_reasons: int = Field(default=3, ge=1, le=10)

    def field_type(self, name: str) -> FieldType | None:
        """A field's declared type; None for a built-in field read as given."""
        spec = self.fields.get(name)
        return spec.type if spec is not None else BUILT_IN_TYPES.get(name)

    def known_field(self, name: str) -> bool:
        return name in self.fields or name in BUILT_IN_TYPES

    def group_of(self, rule_id: str) -> str | None:
        for name, group in self.groups.items():
            if rule_id in group.rules:
                return name
        return None

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
        self._check_grades()
        if self.fast_track is not None and self.fast_track.band not in mins_by_name(self):
            raise ValueError(
                f"fast_track.band '{self.fast_track.band}' is not a band; allowed: {', '.join(mins_by_name(self))}"
            )
        try:
            self.label.format(grade="A", band="B")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"label may use only {{grade}} and {{band}}: {exc}") from exc
        problems = [*self._field_problems(), *self._group_problems()]
        if problems:
            raise Located(problems)
        return self

    def _check_grades(self) -> None:
        last = self.grades[-1]
        if last.has_criteria:
            raise ValueError("grades: the last grade is the catch-all and must have no min_fit, min_behaviour or when")
        if any(not grade.has_criteria for grade in self.grades[:-1]):
            raise ValueError("grades: every grade but the last needs min_fit, min_behaviour or when")
        if all(g.min_behaviour is None and g.when is None for g in self.grades):
            thresholds = [g.min_fit for g in self.grades[:-1] if g.min_fit is not None]
            if thresholds != sorted(set(thresholds), reverse=True):
                raise ValueError(
                    f"grades: min_fit must fall strictly from the first grade to the last, got {thresholds}"
                )

    def _field_problems(self) -> Iterator[tuple[Path_, str]]:
        located: list[tuple[Path_, FieldTest]] = []
        for position, rule in enumerate(self.fit):
            located.extend(((("fit", position, *path), test) for path, test in rule.tests()))
        for position, grade in enumerate(self.grades):
            if grade.when is not None:
                located.extend(((("grades", position, "when", *path), test) for path, test in field_tests(grade.when)))
        for path, test in located:
            if not self.known_field(test.field):
                declared = ", ".join(self.fields) or "none"
                yield (
                    (*path, "field"),
                    f"unknown field '{test.field}'; declare it under fields: with a type "
                    f"(declared: {declared}; built in: {', '.join(BUILT_IN_TYPES)})",
                )
                continue
            kind = self.field_type(test.field)
            allowed = OPERATOR_TYPES.get(test.operator)
            if kind is not None and allowed is not None and kind not in allowed:
                yield (
                    (*path, "operator"),
                    f"'{test.operator}' cannot test '{test.field}', a {kind} field; "
                    f"it tests {' or '.join(sorted(allowed))} fields",
                )
            elif kind is None and test.operator in ("is_true", "is_false", *TIMED_OPERATORS):
                yield (
                    (*path, "operator"),
                    f"'{test.operator}' needs a typed field; declare '{test.field}' under fields: "
                    f"as {'a date' if test.operator in TIMED_OPERATORS else 'a boolean'}",
                )

    def _group_problems(self) -> Iterator[tuple[Path_, str]]:
        kinds = {rule.id: "fit" for rule in self.fit} | {rule.id: "behaviour" for rule in self.behaviour}
        owner: dict[str, str] = {}
        for name, group in self.groups.items():
            seen: set[str] = set()
            for position, rule_id in enumerate(group.rules):
                where: Path_ = ("groups", name, "rules", position)
                if rule_id not in kinds:
                    yield where, f"group '{name}' names unknown rule '{rule_id}'; rules: {', '.join(kinds)}"
                elif rule_id in owner:
                    yield where, f"rule '{rule_id}' is in groups '{owner[rule_id]}' and '{name}'; a rule may be in one"
                else:
                    owner[rule_id] = name
                    seen.add(kinds[rule_id])
            if len(seen) > 1:
                yield (
                    ("groups", name, "rules"),
                    f"group '{name}' mixes fit and behaviour rules; keep one kind per group",
                )
            if group.decay is not None and seen == {"fit"}:
                yield ("groups", name, "decay"), f"group '{name}' holds fit rules, which do not fade"


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


AllOf.model_rebuild()
AnyOf.model_rebuild()
NoneOf.model_rebuild()
FitRule.model_rebuild()
Grade.model_rebuild()
