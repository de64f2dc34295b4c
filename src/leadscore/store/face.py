"""The store as the pipeline, the rescore and the daemon see it: the units of work and the reads they need.

``SQLStore`` is the one implementation; code above the store types its
parameters with ``Store``, so it depends on these verbs and not on tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from leadscore.protocol import ContactPage, EventPage, PendingChange
from leadscore.records import Change, Contact, EventRow, WrittenState
from leadscore.store.history import HistoryEntry
from leadscore.store.inbox import InboxOutcome
from leadscore.store.leases import Lease
from leadscore.store.outbox import Settlement
from leadscore.store.people import PersonRecords
from leadscore.store.scores import StoredScore, VisibleScore


class Store(Protocol):
    # runs
    def start_run(self, source: str) -> int: ...

    def finish_run(self, run_id: int, status: str, report: dict[str, Any]) -> None: ...

    def last_run(self, source: str) -> tuple[str, dict[str, Any]] | None: ...

    # pulling: one transaction a page
    def cursor(self, source: str, stream: str) -> Any | None: ...

    def save_contact_page(self, source: str, stream: str, page: ContactPage) -> int: ...

    def save_event_page(self, source: str, stream: str, page: EventPage) -> tuple[int, int]: ...

    def receive(self, source: str, body: Any) -> int: ...

    def inbox(self, source: str, limit: int, after: int = 0) -> list[tuple[int, Any]]: ...

    def save_inbox_pages(self, source: str, pages: Sequence[EventPage], inbox_ids: Sequence[int]) -> InboxOutcome: ...

    def forget_list(self, source: str, key: str) -> int: ...

    # scoring: one transaction a scored page
    def forget_gone_in_queue(self, source: str) -> int: ...

    def page_ends(self, source: str, *, only_queued: bool = False, page_size: int = 2000) -> list[str]: ...

    def contacts_with_events(
        self, source: str, *, only_queued: bool = False, page_size: int = 2000, after: str = "", upto: str | None = None
    ) -> Iterator[list[tuple[Contact, list[EventRow]]]]: ...

    def visible_scores(self, source: str, contact_ids: Sequence[str]) -> dict[tuple[str, str], VisibleScore]: ...

    def written_state(self, source: str, contact_ids: Sequence[str]) -> dict[str, WrittenState]: ...

    def expected_state(self, source: str, contact_ids: Sequence[str]) -> dict[str, WrittenState]: ...

    def save_scored_page(
        self,
        source: str,
        scores: Sequence[StoredScore],
        scored_ids: Sequence[str],
        changes: Sequence[Change],
        settled: Sequence[tuple[str, str, int]] = (),
    ) -> None: ...

    # people: records of several sources scored as one person
    def use_identity(self, fold_plus_addressing: bool) -> int: ...

    def scope_changed(self, source: str, fingerprint: str, *, remember: bool = True) -> bool: ...

    def linked_records(self, source: str, contact_ids: Sequence[str], sources: Sequence[str]) -> PersonRecords: ...

    def top_scores(self, source: str, model: str, limit: int) -> list[tuple[StoredScore, str | None]]: ...

    # writing: one transaction an apply
    def pending(
        self, source: str, limit: int, now: datetime | None = None, kind: str | None = None, order: str = "by_list"
    ) -> list[PendingChange]: ...

    def settle(self, settlement: Settlement) -> None: ...

    def outbox_depth(self, source: str, status: str | None = None) -> int: ...

    # the database itself
    def source_lease(self, source: str) -> AbstractContextManager[Lease]: ...

    # score history
    def score_history(
        self, source: str | None, contact_id: str, model: str | None = None, limit: int = 1000
    ) -> list[HistoryEntry]: ...

    def prune_history(self, source: str, before: datetime) -> int: ...

    def people_lease(
        self, sources: Sequence[str], should_stop: Callable[[], bool], poll_seconds: float = 0.2
    ) -> AbstractContextManager[Lease]: ...

    def ping(self) -> None: ...

    def sqlite_file(self) -> Path | None: ...

    def display_url(self) -> str: ...

    def shareable_url(self) -> str | None: ...

    def close(self) -> None: ...
