"""Turning a rule's conditions into fast predicates, and reading typed field values.

Comparisons are forgiving about how platforms spell things: text is compared
trimmed and case-insensitively, and numbers written as text ("250") compare as
numbers, because a CRM field typed as text is still meant as a number. A field
declared with a type is coerced once per contact (:func:`coerce`); a value that
cannot be read as its type is reported and fails every rule that reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from leadscore.engine.model import AllOf, AnyOf, Condition, FieldTest, FieldType, Node, NoneOf, node_children
from leadscore.records import to_epoch_ms

Predicate = Callable[[Any], bool]
"""A test of one value that does not depend on the time: behaviour filters and most field tests."""
Test = Callable[[Mapping[str, Any], int], bool]
"""A test of a contact's field values as of ``now`` (epoch ms): fit conditions and grade criteria."""
MS_PER_DAY = 86_400_000

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "f"})


class Unreadable(ValueError):
    """A field value that cannot be read as its declared type."""


def as_number(value: Any) -> float | None:
    """Read a number from a number or a plain numeric string; anything else is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_epoch_ms(value: Any) -> int | None:
    """Read a moment from a datetime, a date, an ISO text, or epoch milliseconds (as platforms send dates)."""
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, date):
        return to_epoch_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            return to_epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def coerce(value: Any, kind: FieldType | None) -> Any:
    """A field value as its declared type (None when absent); raises Unreadable when it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind is None:
        return value
    if kind == "number":
        number = as_number(value)
        if number is None:
            raise Unreadable(f"{value!r} is not a number")
        return number
    if kind == "date":
        moment = as_epoch_ms(value)
        if moment is None:
            raise Unreadable(f"{value!r} is not a date (ISO 8601 or epoch milliseconds)")
        return moment
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise Unreadable(f"{value!r} is not a boolean (true/false, yes/no, 1/0)")
    return value if isinstance(value, list | tuple) else str(value)


def _text(value: Any) -> str:
    return str(value).strip().lower()


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _one_of(expected: list[Any]) -> Predicate:
    """Equality against any of ``expected``, precomputed as sets: this runs once per rule per contact."""
    texts = frozenset(_text(item) for item in expected)
    numbers = frozenset(n for n in (as_number(item) for item in expected) if n is not None)

    def check(value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return value in {item for item in expected if isinstance(item, bool)}
        if numbers:
            number = as_number(value)
            if number is not None:
                return number in numbers
        return _text(value) in texts

    return check


def _ordered(target: Any, kind: FieldType | None) -> Callable[[Any], float | None]:
    """How a value is read for at_least/at_most: as a moment for dates, else as a number."""
    if kind == "date" or (isinstance(target, str) and as_number(target) is None):
        return lambda value: None if value is None else (float(m) if (m := as_epoch_ms(value)) is not None else None)
    return as_number


def compile_condition(condition: Condition, kind: FieldType | None = None) -> Predicate:
    """Build the predicate for one timeless condition; the model validator has vetted the value."""
    op, target = condition.operator, condition.value
    if op == "equals":
        return _one_of([target])
    if op == "in":
        return _one_of(target)
    if op == "contains":
        needle = _text(target)
        member = _one_of([target])

        def contains(value: Any) -> bool:
            if isinstance(value, list | tuple | set | frozenset):
                return any(member(item) for item in value)
            return value is not None and needle in str(value).lower()

        return contains
    if op == "regex":
        pattern = re.compile(target, re.IGNORECASE)
        return lambda value: _present(value) and pattern.search(str(value)) is not None
    if op == "between":
        low, high = float(target[0]), float(target[1])

        def between(value: Any) -> bool:
            number = as_number(value)
            return number is not None and low <= number <= high

        return between
    if op in ("at_least", "at_most"):
        read = _ordered(target, kind)
        bound = read(target)
        assert bound is not None
        if op == "at_least":
            return lambda value: (number := read(value)) is not None and number >= bound
        return lambda value: (number := read(value)) is not None and number <= bound
    if op == "is_true":
        return lambda value: value is True
    if op == "is_false":
        return lambda value: value is False
    wanted = target is not False
    return lambda value: _present(value) is wanted


def compile_node(node: Node, types: Mapping[str, FieldType | None]) -> Test:
    """Build the test of a (possibly compound) condition over field values."""
    if isinstance(node, FieldTest):
        return _compile_field_test(node, types.get(node.field))
    tests = tuple(compile_node(child, types) for child in node_children(node))
    if isinstance(node, AllOf):
        return lambda values, now_ms: all(test(values, now_ms) for test in tests)
    if isinstance(node, AnyOf):
        return lambda values, now_ms: any(test(values, now_ms) for test in tests)
    assert isinstance(node, NoneOf)
    return lambda values, now_ms: not any(test(values, now_ms) for test in tests)


def _compile_field_test(test: FieldTest, kind: FieldType | None) -> Test:
    name = test.field
    if test.operator in ("within_days", "older_than_days"):
        span = float(test.value) * MS_PER_DAY
        if test.operator == "within_days":
            return lambda values, now_ms: (at := values.get(name)) is not None and 0 <= now_ms - at <= span
        return lambda values, now_ms: (at := values.get(name)) is not None and now_ms - at > span
    passes = compile_condition(test, kind)
    return lambda values, now_ms: passes(values.get(name))


def is_timed(node: Node) -> bool:
    """Whether a condition's outcome depends on ``now``."""
    if isinstance(node, FieldTest):
        return node.operator in ("within_days", "older_than_days")
    return any(is_timed(child) for child in node_children(node))


def node_fields(node: Node) -> tuple[str, ...]:
    if isinstance(node, FieldTest):
        return (node.field,)
    return tuple(dict.fromkeys(name for child in node_children(node) for name in node_fields(child)))
