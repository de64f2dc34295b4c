"""Candidate rules for ``calibrate --propose``: the fields and actions a model does not use yet, each value or action
that enough contacts share, as rules of one point a regression can weigh.

A candidate is plain model data, so the proposals a calibration keeps read like the user's own rules: a field
equal to a value, or an action done. Identifiers and free text (names, emails, cities with a handful of leads
each) never reach the support threshold and are not proposed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadscore.records import CONVERTED, PROFILE_FIELDS, Contact, Event

MIN_SUPPORT = 30
"""Contacts a value or an action needs before it is proposed: fewer give a weight that is mostly noise."""
VALUES_PER_FIELD = 8
"""The most common values of a field proposed; rarer ones are left to a person."""
NEVER_PROPOSED = frozenset({"email", "first_name", "last_name", "company", "created_at", "email_domain"})
"""Fields that identify a person rather than describe a fit."""
PROPOSED_PREFIX = "proposed_"


@dataclass(frozen=True, slots=True)
class Candidate:
    section: str
    """fit or behaviour."""
    rule: dict[str, Any]
    support: int
    field_type: tuple[str, str] | None = None
    """(field, type) to declare under ``fields:`` when the model does not know the field yet."""


def candidates(
    raw_model: Mapping[str, Any],
    history: Iterable[tuple[Contact, Sequence[Event]]],
    min_support: int = MIN_SUPPORT,
) -> list[Candidate]:
    """Rules the model lacks, for values and actions at least ``min_support`` contacts have (and not all but
    fewer than that: a value nearly everyone shares ranks no one)."""
    used_fields, used_values, used_actions = _used(raw_model)
    values: dict[str, Counter[str]] = {}
    flags: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    contacts = 0
    for contact, events in history:
        contacts += 1
        for name, value in contact.profile.items():
            if name in NEVER_PROPOSED or value is None:
                continue
            if isinstance(value, bool):
                flags[name] += value
            elif isinstance(value, str) and value.strip():
                values.setdefault(name, Counter())[value.strip().lower()] += 1
        actions.update({event.action for event in events if event.action != CONVERTED})
    declared_types = {
        name: str((spec or {}).get("type", "text")) for name, spec in (raw_model.get("fields") or {}).items()
    }
    declared = set(declared_types)
    found: list[Candidate] = []
    for name, counts in sorted(values.items()):
        if declared_types.get(name, "text") != "text":
            continue
        kept = [(v, n) for v, n in counts.most_common() if min_support <= n <= contacts - min_support]
        for value, support in kept[:VALUES_PER_FIELD]:
            if (name, value) in used_values:
                continue
            rule = {"id": _rule_id(name, value), "field": name, "operator": "equals", "value": value, "points": 1,
                    "reason": f"{name.replace('_', ' ')}: {value}"}  # fmt: skip
            found.append(Candidate("fit", rule, support, _declaration(name, "text", declared, used_fields)))
    for name, support in sorted(flags.items()):
        if name not in used_fields and min_support <= support <= contacts - min_support:
            rule = {"id": _rule_id(name, "true"), "field": name, "operator": "is_true", "points": 1,
                    "reason": name.replace("_", " ")}  # fmt: skip
            found.append(Candidate("fit", rule, support, _declaration(name, "boolean", declared, used_fields)))
    for action, support in sorted(actions.items()):
        if action not in used_actions and min_support <= support <= contacts - min_support:
            rule = {"id": _rule_id(action), "action": action, "points": 1, "cap": 5, "reason": action.replace("_", " ")}
            found.append(Candidate("behaviour", rule, support))
    return found


def with_candidates(raw_model: Mapping[str, Any], found: Sequence[Candidate]) -> dict[str, Any]:
    """The model's data with the candidates appended to their sections, fields declared where needed."""
    data = dict(raw_model)
    fields = dict(data.get("fields") or {})
    for candidate in found:
        if candidate.field_type is not None:
            name, kind = candidate.field_type
            fields.setdefault(name, {"type": kind})
    if fields:
        data["fields"] = fields
    for section in ("fit", "behaviour"):
        data[section] = [*(data.get(section) or ()), *(c.rule for c in found if c.section == section)]
    return data


def _declaration(name: str, kind: str, declared: set[str], used: set[str]) -> tuple[str, str] | None:
    if name in declared or name in PROFILE_FIELDS or name in used:
        return None
    return (name, kind)


def _rule_id(*parts: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", "_".join(parts).lower()).strip("_")
    return PROPOSED_PREFIX + slug[:48]


def _used(raw_model: Mapping[str, Any]) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """Fields any rule or grade tests, (field, value) pairs they compare with, and actions any rule names."""
    fields: set[str] = set()
    values: set[tuple[str, str]] = set()
    actions: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("field"), str):
                name = node["field"]
                fields.add(name)
                compared = node.get("value")
                for value in compared if isinstance(compared, list) else [compared]:
                    if value is not None:
                        values.add((name, str(value).strip().lower()))
            if isinstance(node.get("action"), str):
                actions.add(node["action"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({key: raw_model.get(key) for key in ("fit", "behaviour", "grades", "groups")})
    return fields, values, actions
