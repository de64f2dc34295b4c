"""The small protocol every platform connector implements, and the records that cross it.

The pipeline sees only this module: no platform name, no client library.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from leadscore.records import Contact, Event
from leadscore.store import OutboxEntry


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Bad data met in one platform record; reported in the run and never fatal to the rest."""

    record_id: str
    field: str
    problem: str


@dataclass(frozen=True, slots=True)
class ContactPage:
    """Contacts read since a cursor, plus events derived from their counters; commit ``cursor`` with them."""

    contacts: Sequence[Contact]
    cursor: Any
    events: Sequence[Event] = ()
    problems: Sequence[RecordProblem] = ()
    merged: Sequence[tuple[str, str]] = ()
    """(merged-away id, surviving id) pairs the platform reported on these contacts."""
    deleted: Sequence[str] = ()
    """Ids the platform reported deleted: no longer scored or written, their history kept."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events of one stream; those known only by the contact's email wait in ``by_email`` for the store to resolve."""

    events: Sequence[Event]
    cursor: Any
    by_email: Sequence[tuple[str, Event]] = ()
    problems: Sequence[RecordProblem] = ()


@dataclass(frozen=True, slots=True)
class TargetProperty:
    """A property leadscore writes: its neutral name, what it holds, and the values it may take."""

    name: str
    role: Literal["score", "grade", "band", "label", "reasons", "scored_at"]
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteTargets:
    properties: tuple[TargetProperty, ...]
    lists: tuple[str, ...]


OutcomeStatus = Literal["ok", "rejected", "gone", "merged"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one outbox entry: applied, rejected (retry later), gone for good, or merged away."""

    entry_id: int
    status: OutcomeStatus
    reason: str = ""
    survivor_id: str | None = None


@dataclass
class ApiUsage:
    calls: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    retries: int = 0
    daily_remaining: int | None = None


class Connector(Protocol):
    """Four verbs and a little bookkeeping; everything platform-specific stays behind them."""

    source: str
    write_batch: int
    """How many property updates the platform takes in one call."""
    sends_early: bool
    """Whether whole batches of property updates go out while later pages are still being scored (HubSpot,
    paced by a rate limit), or everything waits for the end of scoring, where a contact's changes travel
    together and a large change-set can take the platform's bulk path (Salesforce, Brevo)."""
    write_order: Literal["by_list", "by_contact"]
    """How the outbox hands changes over: one list's members together, or each contact's changes together."""

    def read_contacts(self, cursor: Any | None) -> Iterator[ContactPage]: ...

    def event_streams(self) -> Sequence[str]: ...

    def read_events(self, stream: str, cursor: Any | None) -> Iterator[EventPage]: ...

    def ensure_targets(self, targets: WriteTargets) -> Sequence[str]:
        """Create missing properties and lists; return the keys of lists created empty (members are re-added)."""
        ...

    def apply(self, entries: Sequence[OutboxEntry]) -> list[Outcome]: ...

    def usage(self) -> ApiUsage: ...

    def close(self) -> None: ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """A connector whose platform pushes engagement: the daemon keeps each body, the next cycle parses it."""

    def parse_webhook(self, body: Any) -> EventPage: ...


def list_key(model: str, band: str) -> str:
    """The neutral name of a band's list; connectors turn it into a platform list name."""
    return f"{model}:{band}"


def split_list_key(key: str) -> tuple[str, str]:
    model, _, band = key.partition(":")
    return model, band


def list_display_name(template: str, key: str) -> str:
    """A band list's name on the platform, from a mapping's template such as ``leadscore {model} - {band}``."""
    model, band = split_list_key(key)
    return template.format(model=model, band=band)
