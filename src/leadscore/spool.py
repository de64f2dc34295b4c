"""Contacts and events from JSON-lines files, spilled to a temporary SQLite file and read back grouped by contact.

Offline scoring must take files far larger than memory (ten million events is a
few gigabytes of records as Python objects), and an events file is rarely sorted
by contact. Each line is validated as it is read and written to a throwaway
SQLite file in batches; the contacts are then read back in file order, each with
its events, through one index scan. Memory stays bounded by the batch size.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import groupby
from pathlib import Path
from types import TracebackType

from leadscore.errors import InputError
from leadscore.jsonl import OFFLINE_SOURCE, read_contacts, read_events
from leadscore.records import Contact, Event, from_epoch_ms, to_epoch_ms

BATCH = 5_000
SCHEMA = """
CREATE TABLE contacts (id TEXT PRIMARY KEY, position INTEGER NOT NULL, email TEXT, profile TEXT NOT NULL,
                       copies INTEGER NOT NULL DEFAULT 1);
CREATE TABLE events (contact_id TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL, occurred_ms INTEGER NOT NULL,
                     attributes TEXT NOT NULL);
"""


class Spool(AbstractContextManager["Spool"]):
    """The two files' records in a temporary SQLite file; closing it deletes the file."""

    def __init__(self, contacts_path: Path, events_path: Path | None, on_problem: Callable[[InputError], None]) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="leadscore-spool-")
        self._db = sqlite3.connect(Path(self._directory.name) / "spool.db")
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;" + SCHEMA)
        self.contact_count = 0
        self.event_lines = 0
        try:
            self._load(contacts_path, events_path, on_problem)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _load(self, contacts_path: Path, events_path: Path | None, on_problem: Callable[[InputError], None]) -> None:
        self.contact_count = self._load_contacts(contacts_path, on_problem)
        self.event_lines = self._load_events(events_path, on_problem) if events_path is not None else 0
        self._db.execute("CREATE INDEX events_by_contact ON events (contact_id)")
        self._db.execute("CREATE INDEX contacts_by_position ON contacts (position)")
        for contact_id, copies in self._db.execute("SELECT id, copies FROM contacts WHERE copies > 1"):
            on_problem(
                InputError(str(contacts_path), 0, f"contact id '{contact_id}' appears {copies} times; last wins")
            )

    def _load_contacts(self, path: Path, on_problem: Callable[[InputError], None]) -> int:
        rows: list[tuple[str, int, str | None, str]] = []
        insert = (
            "INSERT INTO contacts (id, position, email, profile) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "position = excluded.position, email = excluded.email, profile = excluded.profile, copies = copies + 1"
        )
        for position, contact in enumerate(read_contacts(path, on_problem)):
            rows.append((contact.id, position, contact.email, json.dumps(dict(contact.profile), default=str)))
            if len(rows) >= BATCH:
                self._db.executemany(insert, rows)
                rows.clear()
        self._db.executemany(insert, rows)
        count: int = self._db.execute("SELECT count(*) FROM contacts").fetchone()[0]
        return count

    def _load_events(self, path: Path, on_problem: Callable[[InputError], None]) -> int:
        rows: list[tuple[str, str, str, int, str]] = []
        lines = 0
        insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?)"
        for event in read_events(path, on_problem):
            lines += 1
            rows.append((event.contact_id, event.id, event.action, to_epoch_ms(event.occurred_at), _attributes(event)))
            if len(rows) >= BATCH:
                self._db.executemany(insert, rows)
                rows.clear()
        self._db.executemany(insert, rows)
        return lines

    def scored_in_order(self) -> Iterator[tuple[Contact, list[Event]]]:
        """Every contact in file order (its last copy), with its events."""
        cursor = self._db.execute(
            "SELECT c.id, c.email, c.profile, e.id, e.action, e.occurred_ms, e.attributes "
            "FROM contacts c LEFT JOIN events e ON e.contact_id = c.id ORDER BY c.position"
        )
        for _, rows in groupby(cursor, key=lambda row: row[0]):
            first = next(rows)
            contact = _contact(first)
            events = [_event(contact.id, row) for row in (first, *rows) if row[3] is not None]
            yield contact, events

    def one(self, contact_id: str) -> tuple[Contact, list[Event]] | None:
        row = self._db.execute("SELECT id, email, profile FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        if row is None:
            return None
        events = self._db.execute(
            "SELECT NULL, NULL, NULL, id, action, occurred_ms, attributes FROM events WHERE contact_id = ?",
            (contact_id,),
        )
        return _contact((*row, None, None, None, None)), [_event(contact_id, event) for event in events]

    def orphans(self) -> tuple[int, int, str | None]:
        """Events naming no contact of the file: (events, distinct ids, an example id)."""
        row = self._db.execute(
            "SELECT count(*), count(DISTINCT contact_id), min(contact_id) FROM events "
            "WHERE contact_id NOT IN (SELECT id FROM contacts)"
        ).fetchone()
        return int(row[0]), int(row[1]), row[2]

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._db.close()
        self._directory.cleanup()


def _attributes(event: Event) -> str:
    return json.dumps(dict(event.attributes), default=str) if event.attributes else ""


def _contact(row: tuple[object, ...]) -> Contact:
    contact_id, email, profile = row[0], row[1], row[2]
    return Contact(OFFLINE_SOURCE, str(contact_id), email if isinstance(email, str) else None, json.loads(str(profile)))


def _event(contact_id: str, row: tuple[object, ...]) -> Event:
    event_id, action, occurred_ms, attributes = row[3], row[4], row[5], row[6]
    decoded = json.loads(attributes) if isinstance(attributes, str) and attributes else {}
    moment = from_epoch_ms(occurred_ms if isinstance(occurred_ms, int) else 0)
    return Event(OFFLINE_SOURCE, str(event_id), contact_id, str(action), moment, decoded)
