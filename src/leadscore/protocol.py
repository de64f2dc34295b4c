"""The protocol every platform connector implements, and every value that crosses it.

It imports nothing but the canonical records, so a connector needs nothing of the
store, the engine or the pipeline, and the pipeline needs nothing of a platform.

A connector is built with everything it will ever need to read or write (its
settings and the models' write targets), so what it reads never depends on an
earlier call having run: a dry run and a real run read exactly the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from leadscore.records import Change, Contact, Event

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]
SavedCursor = Mapping[str, Any]
"""A stream's position as the store keeps it: the JSON object a ``Cursor.to_json`` returned."""


class Cursor(Protocol):
    """A stream's position: a frozen dataclass of the connector's own, saved as JSON with the page it ends.

    Each stream's cursor type has a ``from_json`` that reads what ``to_json`` wrote;
    the pipeline never looks inside, it only hands the saved object back.
    """

    def to_json(self) -> JsonObject: ...


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Bad data met in one platform record; reported in the run and never fatal to the rest."""

    record_id: str
    field: str
    problem: str


@dataclass(frozen=True, slots=True)
class ContactPage:
    """One pulled page of contacts and all it implies; the store saves it whole, with its cursor, or not at all."""

    contacts: Sequence[Contact]
    cursor: Cursor
    events: Sequence[Event] = ()
    """Events derived from the contacts' own fields (counters, dates)."""
    problems: Sequence[RecordProblem] = ()
    merged: Sequence[tuple[str, str]] = ()
    """(merged-away id, surviving id) pairs the platform reported on these contacts."""
    deleted: Sequence[str] = ()
    """Ids the platform reported deleted: no longer scored or written, their history kept."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events of one stream; those known only by the contact's email wait in ``by_email`` for the store to resolve."""

    events: Sequence[Event]
    cursor: Cursor | None
    """None for a page with no position of its own (a webhook body)."""
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
    """Every property and band list the models write; a connector is built with them."""

    properties: tuple[TargetProperty, ...]
    lists: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A change waiting to be sent, as the connector receives it; its outcome names it by ``key``."""

    key: int
    change: Change
    attempts: int = 0
    email: str | None = None
    """The contact's email as last read, for platforms whose bulk path keys records by email."""

    @property
    def contact_id(self) -> str:
        return self.change.contact_id


OutcomeStatus = Literal["ok", "rejected", "gone", "merged", "held"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one pending change: applied, rejected (retry later), gone for good, merged away, or held by a
    gathering connector for its bulk path (its outcome comes from ``Gathering.release``)."""

    key: int
    status: OutcomeStatus
    reason: str = ""
    survivor_id: str | None = None


@dataclass(frozen=True, slots=True)
class WritePolicy:
    """Everything the pipeline needs to know about how a platform takes writes.

    ``batch``: how many property updates one call carries.
    ``sends_early``: whether whole batches of property updates go out while later
    pages are still being scored (right for a platform paced by a rate limit,
    where sending waits and scoring computes), or everything waits for the end of
    scoring, so that one contact's changes travel together and a large change-set
    can take the platform's bulk path.
    ``order``: how pending changes are handed over: one list's members together
    (``by_list``, where one call moves many members of one list) or in the order
    they were planned (``by_key``, which keeps a record's changes together, where one
    call carries a record's changes).
    """

    batch: int
    sends_early: bool
    order: Literal["by_list", "by_key"]


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """What the pipeline needs to know about how a platform is read.

    ``concurrent_streams``: the connector's event streams may be read at once, one
    thread each, because its client shares one locked call budget and counters
    between threads. A stream that spends most of its time waiting on the rate limit
    then lends that time to another stream's saving, so the reads end near the
    rate-limit floor instead of at the floor plus the slowest stream's own work.
    """

    concurrent_streams: bool = False


@dataclass
class ApiUsage:
    """A connector's calls per endpoint, retries and 429s, counted from any thread that calls the platform."""

    calls: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    retries: int = 0
    daily_remaining: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def count_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1


Progress = Callable[[Sequence[Outcome]], None]
"""Hears the outcomes of one platform call of an ``apply``, before the next call is sent."""


class Connector(Protocol):
    """Read pages, ensure write targets, apply changes; everything platform-specific stays behind these."""

    source: str
    policy: WritePolicy
    read_policy: ReadPolicy

    def read_contacts(self, cursor: SavedCursor | None) -> Iterator[ContactPage]: ...

    def event_streams(self) -> Sequence[str]: ...

    def read_events(self, stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]: ...

    def ensure_targets(self) -> Sequence[str]:
        """Create missing properties and lists; return the keys of lists created empty (members are re-added)."""
        ...

    def apply(self, changes: Sequence[PendingChange], progress: Progress | None = None) -> list[Outcome]:
        """Send the changes; one outcome per change. ``progress``, when given, hears the final outcomes of each
        platform call as soon as it is answered, so that the caller saves them before the next call and an
        interruption re-sends only what no call answered; the returned list still holds every outcome."""
        ...

    def usage(self) -> ApiUsage: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One finding of ``leadscore check``: ``status`` is ok, warn (works, or will once a sync creates something)
    or fail (a sync would stop); ``fix`` says what to do about anything but ok."""

    what: str
    status: str
    detail: str
    fix: str = ""


OK, WARN, FAIL = "ok", "warn", "fail"


@runtime_checkable
class Checkable(Protocol):
    """A connector that can say, without writing anything, whether a sync would work: credentials and scopes,
    each stream, the write targets, and the limits the platform reports."""

    def check(self) -> list[CheckItem]: ...


@runtime_checkable
class Gathering(Protocol):
    """A connector whose bulk path gains from a change-set larger than one apply: a platform that imports a list's
    arrivals in one call takes a whole drain's arrivals in as few calls as its body limit allows.

    The pipeline drains such a connector's outbox once a cycle, after scoring, so that what other sources planned
    for it and what its own scoring planned go together. Between ``gather`` and ``release``, an apply answers what
    it sends at once and answers "held" for what it keeps for its bulk path (on disk, not in memory); ``release``
    sends what was held and hands the outcomes of each call to ``progress`` as it is answered. Held changes stay in
    the outbox until then, so a drain cut short sends them again; ``gather`` forgets what an earlier drain held.
    """

    def gather(self) -> None: ...

    def release(self, progress: Progress) -> None: ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """A connector whose platform pushes engagement: the daemon keeps each body, the next cycle parses it."""

    def parse_webhook(self, body: Any) -> EventPage: ...


@dataclass(frozen=True, slots=True)
class WriteWork:
    """Writes a plan would make on one source: records whose properties change, and moves per list key."""

    properties: int
    list_adds: Mapping[str, int] = field(default_factory=dict)
    list_removes: Mapping[str, int] = field(default_factory=dict)
    lone_adds: Mapping[str, int] = field(default_factory=dict)
    lone_removes: Mapping[str, int] = field(default_factory=dict)
    """Of the moves, those of records whose properties do not change: a platform that carries a record's moves in
    its update sends these by themselves."""
    entering_with_update: int | None = None
    """Records whose update comes with a move into a list (with two models, a record may enter two lists); None
    where unknown, taken as one record per such move."""


@dataclass(frozen=True, slots=True)
class WriteCost:
    """The fewest API calls some writes take on a platform, and the time they take at its rate limit.

    ``seconds`` is None where the platform paces by a daily allowance rather than a rate; ``note`` says which.
    """

    calls: int
    seconds: float | None
    note: str


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
