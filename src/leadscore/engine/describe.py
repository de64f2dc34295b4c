"""Rules in words, for ``explain`` and ``validate``: what a rule tests and what a valid model may not mean.

A compound condition reads back as one line ("company_size at least 1000 and
department in [it, engineering]"), so that an explain table shows why a rule held
without the model file beside it.
"""

from __future__ import annotations

from typing import Any

from leadscore.engine.model import (
    AllOf,
    AnyOf,
    BehaviourRule,
    Condition,
    FieldTest,
    FitRule,
    Node,
    NoneOf,
    ScoringModel,
    node_children,
)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _test(subject: str, condition: Condition) -> str:
    op, value = condition.operator, condition.value
    words = {
        "equals": f"{subject} = {_value(value)}",
        "in": f"{subject} in {_value(value)}",
        "contains": f"{subject} contains {_value(value)}",
        "regex": f"{subject} matches /{value}/",
        "between": f"{subject} {_value(value[0]) if isinstance(value, list) else ''}"
        f"-{_value(value[1]) if isinstance(value, list) else ''}",
        "exists": f"{subject} {'is set' if value is not False else 'is empty'}",
        "at_least": f"{subject} at least {_value(value)}",
        "at_most": f"{subject} at most {_value(value)}",
        "within_days": f"{subject} within {_value(value)}d",
        "older_than_days": f"{subject} over {_value(value)}d ago",
        "is_true": f"{subject} is true",
        "is_false": f"{subject} is false",
    }
    return words[op]


def describe_condition(node: Node) -> str:
    if isinstance(node, FieldTest):
        return _test(node.field, node)
    parts = [describe_condition(child) for child in node_children(node)]
    if isinstance(node, AllOf):
        return " and ".join(_grouped(part) for part in parts)
    if isinstance(node, AnyOf):
        return " or ".join(_grouped(part) for part in parts)
    assert isinstance(node, NoneOf)
    return "not " + _grouped(" or ".join(_grouped(part) for part in parts))


def _grouped(text: str) -> str:
    return f"({text})" if " and " in text or " or " in text else text


def describe_rule(rule: FitRule | BehaviourRule) -> str:
    """What a rule tests, in one line."""
    if isinstance(rule, FitRule):
        return describe_condition(rule.condition)
    text = rule.action
    if rule.where:
        text += " where " + " and ".join(_test(f.attribute, f) for f in rule.where)
    if rule.count is not None:
        text += f", {rule.count.at_least}+ in {_value(rule.count.within_days)}d"
    elif rule.within_days is not None:
        text += f", within {_value(rule.within_days)}d"
    if rule.cap is not None:
        text += f", at most {_value(rule.cap)}"
    if rule.then == "continue":
        text += ", then continue"
    return text


def model_notes(model: ScoringModel) -> list[str]:
    """What a valid model does that its author may not expect."""
    notes = []
    reset = model.decay.reset_after_days
    if reset is not None:
        notes.append(
            f"positive behaviour points drop to 0 after {_value(reset)}d without engagement "
            "(decay.reset_after_days; null turns the reset off, leaving decay out does not)"
        )
    for position, rule in enumerate(model.behaviour):
        if rule.count is None or rule.then == "continue":
            continue
        later = [other.id for other in model.behaviour[position + 1 :] if other.action == rule.action]
        if later:
            notes.append(
                f"behaviour rule '{rule.id}' takes every {rule.action} event it counts, also while the count is "
                f"short, so {', '.join(later)} never see them; add then: continue to let them"
            )
    return notes
