"""Canonical records shared by every part of leadscore.

Connectors translate platform payloads into these; the engine, the store and the
pipeline only ever see these. They are frozen so that a record read once cannot
be mutated behind the engine's back, which is what makes scoring repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

PROFILE_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "job_title",
    "seniority",
    "department",
    "company",
    "company_size",
    "industry",
    "country",
    "region",
    "lifecycle_stage",
    "created_at",
)
"""The profile vocabulary every connector maps platform properties onto."""

DERIVED_FIELDS: tuple[str, ...] = ("email_domain",)
"""Fields the engine computes from the profile, usable in fit rules."""

KNOWN_ACTIONS: frozenset[str] = frozenset(
    {
        "page_view",
        "form_submit",
        "content_download",
        "email_open",
        "email_click",
        "newsletter_signup",
        "social_follow",
        "social_engagement",
        "webinar_attended",
        "event_attended",
        "meeting_booked",
        "contact_sales",
        "quote_request",
        "demo_request",
        "unsubscribe",
        "hard_bounce",
        "converted",
    }
)
"""The action vocabulary. Other actions are accepted but earn nothing unless a rule names them."""

CONVERTED = "converted"
"""The action a connector records when the platform says a lead became a customer (a lifecycle date, a converted
lead, a won deal); a backtest of a store reads its earliest one as the contact's outcome."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def property_text(value: object) -> str:
    """A platform property's value as text, the form every platform shows it in: a number a platform stores as a
    double (19.0) reads as the 19 leadscore wrote, and an absent value as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shows_written(written: object, shown: object) -> bool:
    """Whether a platform showing ``shown`` still shows what leadscore wrote as ``written``.

    Beyond the same text, a platform may show a written moment in its own form: another notation of the same
    instant (``+0000`` for ``Z``), or only its day where the field holds a date.
    """
    written_text, shown_text = property_text(written), property_text(shown)
    if written_text == shown_text:
        return True
    moment, seen = _moment(written_text), _moment(shown_text)
    if moment is None or seen is None:
        return False
    if len(shown_text) == len("2026-01-31"):
        return ensure_utc(moment).date() == seen.date()
    return ensure_utc(moment) == ensure_utc(seen)


def _moment(text: str) -> datetime | None:
    if len(text) < len("2026-01-31") or not text[:4].isdigit() or text[4:5] != "-":
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def normalize_email(raw: object) -> str | None:
    """Lower-case and trim an email so that one person has one key across platforms."""
    if not isinstance(raw, str):
        return None
    cleaned = raw.strip().lower()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        return None
    return cleaned


def to_epoch_ms(moment: datetime) -> int:
    """The store's and the engine's one reading of a moment, so both compute the same ages (naive means UTC)."""
    return int(ensure_utc(moment).timestamp() * 1000)


def from_epoch_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def ensure_utc(moment: datetime) -> datetime:
    """Treat a naive timestamp as UTC: platforms that omit the zone mean UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Contact:
    """A person as one source knows them.

    ``observed`` holds the values this read saw in leadscore's own properties on
    the platform, so that the planner can tell drift (a hand edit) from agreement;
    ``lists`` does the same for list memberships where the platform shows them.
    """

    source: str
    id: str
    email: str | None = None
    profile: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    observed: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    lists: frozenset[str] | None = None
    """Keys of leadscore's lists the platform says the contact is in; None where a read does not tell."""


@dataclass(frozen=True, slots=True)
class Event:
    """One engagement of a contact, identified by its source's own event id."""

    source: str
    id: str
    contact_id: str
    action: str
    occurred_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


EventRow = tuple[str, str, int, Any]
"""An event as the store holds it: (event id, action, occurred at in epoch ms, attributes).

The attributes are a mapping or the store's JSON text; the text is decoded once per
distinct value, because most events of one action carry the same few attributes.
"""


class Contribution(NamedTuple):
    """One rule's share of a score, with the sentence a person reads on the record.

    A named tuple rather than a frozen dataclass: a full rescore builds one per
    rule that fired for every contact, and a tuple is built several times faster.
    """

    rule_id: str
    kind: str
    """fit, behaviour, base, limit (a group's or a total's bound taking points back) or note (e.g. a reset)."""
    points: float
    reason: str
    events: int = 0
    last_seen: datetime | None = None
    sources: tuple[str, ...] = ()
    """Where a person's events for this rule came from, named as reasons show them; empty for one source."""


class FieldProblem(NamedTuple):
    """A profile value the model could not read as its field's declared type; rules that read it do not match."""

    field: str
    problem: str


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Everything leadscore knows about why a contact scores what it does."""

    contact_id: str
    model: str
    score: int
    fit: float
    behaviour: float
    grade: str
    band: str
    label: str
    lifecycle_stage: str | None
    contributions: tuple[Contribution, ...]
    disqualified: bool = False
    unmatched_actions: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    problems: tuple[FieldProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class WrittenState:
    """What leadscore knows to be on the platform for one contact, from acknowledged writes and reads."""

    properties: Mapping[str, Any]
    lists: frozenset[str]


@dataclass(frozen=True, slots=True)
class Change:
    """One absolute write to a platform record: set properties, or add/remove a list membership.

    Every change sets a value rather than adjusting one, so sending it twice is harmless.
    """

    source: str
    contact_id: str
    kind: str
    payload: Mapping[str, Any]


SET_PROPERTIES = "set_properties"
LIST_ADD = "list_add"
LIST_REMOVE = "list_remove"
