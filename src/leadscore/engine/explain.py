"""The short "why" text written on each record, e.g. ``+30 pricing page (3d) · +15 VP · -10 free mail``.

A salesperson reads it in a narrow CRM field, so it carries only the largest
contributions, each with the age of its latest event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from leadscore.records import Contribution, ScoreResult

SEPARATOR = " · "
RULE_KINDS = frozenset({"fit", "behaviour"})
_POINTS = r"[+-]\d+(?:\.\d)?"


@dataclass(frozen=True, slots=True)
class Reasons:
    """The text written on a record, with the shape of each of its parts.

    Ages and faded points change the text every day while naming the same rules;
    ``shape`` matches every text those rules could have shown, so a planner can
    tell a text that only aged from one that names other rules or was edited,
    without reading the text back into parts.
    """

    text: str
    shape: str
    """A regular expression that every rendering of the same parts matches in full."""

    def same_parts(self, other: str) -> bool:
        return _compiled(self.shape).fullmatch(other) is not None


@lru_cache(maxsize=4096)
def _compiled(shape: str) -> re.Pattern[str]:
    """A store holds few distinct combinations of top rules; compiling each once keeps a rescore's planning fast."""
    return re.compile(shape)


def format_points(points: float) -> str:
    rounded = round(points)
    if abs(points - rounded) < 0.05:
        return f"{rounded:+d}"
    return f"{points:+.1f}"


def describe(contribution: Contribution, now: datetime) -> str:
    if contribution.points == 0:
        return contribution.reason
    text = f"{format_points(contribution.points)} {contribution.reason}"
    notes = list(contribution.sources)
    if contribution.last_seen is not None:
        notes.append(f"{max(0, int((now - contribution.last_seen).total_seconds() // 86_400))}d")
    return f"{text} ({', '.join(notes)})" if notes else text


def top_contributions(result: ScoreResult, limit: int) -> list[Contribution]:
    """The rules that moved the score most (ties keep model order), then notes such as a reset.

    Base points and what a limit took back are left to ``explain``: they say nothing about this lead.
    """
    scoring = [c for c in result.contributions if c.kind in RULE_KINDS and abs(c.points) >= 0.5]
    notes = [c for c in result.contributions if c.kind == "note"]
    return (sorted(scoring, key=lambda c: -abs(c.points)) + notes)[:limit]


def render_reasons(result: ScoreResult, now: datetime, limit: int = 3) -> Reasons:
    if result.disqualified:
        disqualifying = [c for c in result.contributions if c.kind == "fit" and c.points < 0]
        worst = min(disqualifying, key=lambda c: c.points) if disqualifying else None
        text = f"disqualified: {worst.reason}" if worst else "disqualified"
        return Reasons(text, re.escape(text))
    top = top_contributions(result, limit)
    if not top:
        return Reasons("no scoring activity", re.escape("no scoring activity"))
    text = SEPARATOR.join(describe(c, now) for c in top)
    return Reasons(text, re.escape(SEPARATOR).join(_shape(c) for c in top))


def reasons_text(result: ScoreResult, now: datetime, limit: int = 3) -> str:
    return render_reasons(result, now, limit).text


def _shape(contribution: Contribution) -> str:
    """What ``describe`` gives for this contribution at any points of its sign and any age."""
    if contribution.points == 0:
        return re.escape(contribution.reason)
    notes = [re.escape(source) for source in contribution.sources]
    if contribution.last_seen is not None:
        notes.append(r"\d+d")
    tail = rf" \({re.escape(', ').join(notes)}\)" if notes else ""
    return rf"{_POINTS} {re.escape(contribution.reason)}{tail}"
