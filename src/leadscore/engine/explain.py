"""The short "why" text written on each record, e.g. ``+30 pricing page (3d) · +15 VP · -10 free mail``.

A salesperson reads it in a narrow CRM field, so it carries only the largest
contributions, each with the age of its latest event.
"""

from __future__ import annotations

from datetime import datetime

from leadscore.records import Contribution, ScoreResult

SEPARATOR = " · "
RULE_KINDS = frozenset({"fit", "behaviour"})


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


def reasons_text(result: ScoreResult, now: datetime, limit: int = 3) -> str:
    if result.disqualified:
        disqualifying = [c for c in result.contributions if c.kind == "fit" and c.points < 0]
        worst = min(disqualifying, key=lambda c: c.points) if disqualifying else None
        return f"disqualified: {worst.reason}" if worst else "disqualified"
    parts = [describe(c, now) for c in top_contributions(result, limit)]
    return SEPARATOR.join(parts) if parts else "no scoring activity"
