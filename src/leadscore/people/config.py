"""The ``people:`` section of the sources file: which sources share people, and how their records combine.

    people:
      sources: [crm-main, newsletter-main, website-main]
      profile_precedence:
        job_title: [crm-main, website-main]
      fold_plus_addressing: false
      first_pull_wait_minutes: 30
      same_action:
        - actions: [email_click]
          within_seconds: 600
          match: [url]

Sources outside the list keep per-source scoring.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore.errors import ConfigError


class SameAction(BaseModel):
    """One real-world action that two platforms may both report (a click the mailing platform tracks and the CRM
    imports): events of these actions from different sources within ``within_seconds`` of each other, equal on every
    ``match`` attribute, count once."""

    model_config = ConfigDict(extra="forbid")

    actions: list[str] = Field(min_length=1)
    within_seconds: int = Field(ge=1, le=7 * 86_400)
    match: list[str] = []


class PeopleGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(min_length=2)
    profile_precedence: dict[str, list[str]] = {}
    """Per profile field, the sources to take it from, first one with a value first; a field not listed (or
    without a value in any listed source) comes from the most recently updated record that has one."""
    fold_plus_addressing: bool = False
    same_action: list[SameAction] = []
    first_pull_wait_minutes: int = Field(30, ge=0)
    """How long a source's first scoring waits for the others' first pull (0: not at all); see PeopleScope."""


@dataclass(frozen=True, slots=True)
class Fold:
    actions: frozenset[str]
    within_ms: int
    match: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeopleScope:
    """A people group as scoring uses it: plain data, so that it pickles into scoring workers."""

    sources: tuple[str, ...]
    precedence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    folds: tuple[Fold, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    """How reasons name each source (the platform's title); the source's own name where none is given."""
    fold_plus_addressing: bool = False
    first_pull_wait: timedelta = timedelta(minutes=30)
    """A source scores for the first time once every other source of the group has been read once, or after
    this long: scored earlier, a shared person would first be written with part of their history (and may join a
    band list, firing its workflows, only to leave it), then written again. A source that is down holds the others
    back no longer than this."""

    def label(self, source: str) -> str:
        return self.labels.get(source, source)

    def fingerprint(self) -> str:
        """Changes whenever a change of the group could change a score, so that its sources rescore."""
        text = json.dumps(
            {
                "sources": sorted(self.sources),
                "precedence": {k: list(v) for k, v in sorted(self.precedence.items())},
                "folds": [[sorted(f.actions), f.within_ms, list(f.match)] for f in self.folds],
                "labels": dict(sorted(self.labels.items())),
                "plus": self.fold_plus_addressing,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def of(cls, group: PeopleGroup, labels: Mapping[str, str] | None = None) -> PeopleScope:
        return cls(
            sources=tuple(group.sources),
            precedence={name: tuple(order) for name, order in group.profile_precedence.items()},
            folds=tuple(
                Fold(frozenset(rule.actions), rule.within_seconds * 1000, tuple(rule.match))
                for rule in group.same_action
            ),
            labels=dict(labels or {}),
            fold_plus_addressing=group.fold_plus_addressing,
            first_pull_wait=timedelta(minutes=group.first_pull_wait_minutes),
        )


def load_people(path: Path, source_names: Sequence[str], labels: Mapping[str, str] | None = None) -> PeopleScope | None:
    """The sources file's people group, checked against its sources; None when the file has no ``people:``."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the people section: {exc}") from None
    raw = data.get("people") if isinstance(data, dict) else None
    if raw is None:
        return None
    try:
        group = PeopleGroup.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"people.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    known = set(source_names)
    unknown = [name for name in group.sources if name not in known]
    if unknown:
        raise ConfigError(
            f"{path}: people.sources names {', '.join(unknown)}, not a source of this file "
            f"(sources: {', '.join(source_names)}); fix the name or add the source"
        )
    repeated = sorted({name for name in group.sources if group.sources.count(name) > 1})
    if repeated:
        raise ConfigError(f"{path}: people.sources lists {', '.join(repeated)} twice; list each source once")
    for field_name, order in group.profile_precedence.items():
        outside = [name for name in order if name not in group.sources]
        if outside:
            raise ConfigError(
                f"{path}: people.profile_precedence.{field_name} names {', '.join(outside)}, which is not in "
                "people.sources; a field can only come from a source that shares people"
            )
    return PeopleScope.of(group, {k: v for k, v in (labels or {}).items() if k in group.sources})
