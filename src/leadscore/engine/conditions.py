"""Turning a rule's operator and value into a fast predicate.

Comparisons are forgiving about how platforms spell things: text is compared
trimmed and case-insensitively, and numbers written as text ("250") compare as
numbers, because a CRM field typed as text is still meant as a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from leadscore.engine.model import Condition

Predicate = Callable[[Any], bool]


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
        if numbers:
            number = as_number(value)
            if number is not None:
                return number in numbers
        return _text(value) in texts

    return check


def compile_condition(condition: Condition) -> Predicate:
    """Build the predicate for one condition; the model validator has vetted the value."""
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
    wanted = target is not False
    return lambda value: _present(value) is wanted
