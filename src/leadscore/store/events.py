"""Events: stored once each by (source, event id), a pulled page with its cursor in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadscore.protocol import EventPage
from leadscore.records import (
    Event,
)
from leadscore.store.base import Tables, with_owners


class EventsStore(Tables):
    """The de-duplicated engagement history."""

    def save_events(self, source: str, events: Sequence[Event], cursor: tuple[str, Any] | None = None) -> int:
        """Insert events once each (by source + event id), mark their contacts, advance the cursor.

        Returns how many were new, so a replayed page reports 0.
        """
        with self.db.begin() as connection:
            inserted = self._insert_events(connection, source, events)
            if cursor is not None:
                self._set_cursor(connection, source, cursor[0], cursor[1])
        return inserted

    def save_event_page(self, source: str, stream: str, page: EventPage) -> tuple[int, int]:
        """One pulled page of events as one unit of work: those known by email get their contact, then the
        events and the cursor are committed together. Returns (new events, events whose recipient is unknown)."""
        with self.db.begin() as connection:
            events, unresolved = with_owners(page, self._owners(connection, source, [page]))
            added = self._insert_events(connection, source, events)
            if page.cursor is not None:
                self._set_cursor(connection, source, stream, page.cursor.to_json())
        return added, unresolved
