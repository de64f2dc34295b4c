"""What every part of the store shares: the engine, the prebuilt statements, and the steps several units of
work take inside their one transaction (queueing for a rescore, moving a cursor, marking, merging, resolving
recipients, inserting events)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from leadscore.clock import utcnow
from leadscore.protocol import EventPage
from leadscore.records import (
    LIST_ADD,
    LIST_REMOVE,
    Change,
    Contact,
    Event,
    WrittenState,
    to_epoch_ms,
)
from leadscore.store import schema
from leadscore.store.statements import (
    Statements,
    statements_for,
)
from leadscore.store.tallies import forget_scores

EMPTY: dict[str, Any] = {}
IDENTITY_CURSOR = ("_people", "identity")
"""Where the store keeps how emails become person keys, so that every process links records alike."""


class Tables:
    """The store's connection to its database; each job's methods live in a module of their own."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine
        self._dialect = engine.dialect.name
        self._sql: Statements = statements_for(self._dialect)
        self._fold_plus: bool | None = None

    def _folds_plus(self, connection: Connection) -> bool:
        """Whether person keys fold plus-addressing (``jane+x@`` is ``jane@``), as the store was last told."""
        if self._fold_plus is None:
            source, stream = IDENTITY_CURSOR
            value = connection.execute(
                select(schema.cursors.c.value).where(
                    schema.cursors.c.source == source, schema.cursors.c.stream == stream
                )
            ).scalar_one_or_none()
            self._fold_plus = bool(isinstance(value, dict) and value.get("fold_plus_addressing"))
        return self._fold_plus

    def _person_ids(self, connection: Connection, emails: set[str]) -> dict[str, int]:
        if not emails:
            return {}
        ordered = sorted(emails)
        connection.execute(self._sql.insert_persons, [{"email": email} for email in ordered])
        found: dict[str, int] = {}
        for chunk in chunks(ordered, 1000):
            result = connection.execute(self._sql.persons_of_emails, {"p_emails": list(chunk)})
            found.update({email: person_id for email, person_id in result})
        return found

    def _persons_of(self, connection: Connection, source: str, contact_ids: Sequence[str]) -> dict[str, int]:
        """The person each of these records belongs to, where it has one."""
        c = schema.contacts
        found: dict[str, int] = {}
        for chunk in chunks(sorted(set(contact_ids)), 1000):
            rows = connection.execute(
                select(c.c.contact_id, c.c.person_id).where(
                    c.c.source == source, c.c.contact_id.in_(chunk), c.c.person_id.is_not(None)
                )
            )
            found.update({contact_id: person_id for contact_id, person_id in rows})
        return found

    def _touch_persons(self, connection: Connection, person_ids: Iterable[int]) -> None:
        """Queue every live record of these persons, in every source: who a person is changed (an email
        changed, a record was deleted or merged away), so each of their records may score differently."""
        c = schema.contacts
        by_source: dict[str, list[str]] = {}
        for chunk in chunks(sorted(set(person_ids)), 1000):
            rows = connection.execute(
                select(c.c.source, c.c.contact_id).where(
                    c.c.person_id.in_(chunk), c.c.deleted.is_(False), c.c.merged_into.is_(None)
                )
            )
            for source, contact_id in rows:
                by_source.setdefault(source, []).append(contact_id)
        for source, ids in by_source.items():
            self._queue(connection, source, ids)

    def _written(self, connection: Connection, keys: Any) -> dict[tuple[str, str], WrittenState]:
        """What the store knows each (source, record) shows of leadscore's properties and lists."""
        found: dict[tuple[str, str], WrittenState] = {}
        by_source: dict[str, list[str]] = {}
        for source, contact_id in keys:
            by_source.setdefault(source, []).append(contact_id)
        for source, ids in by_source.items():
            for chunk in chunks(ids, 1000):
                rows = connection.execute(self._sql.written_of_ids, {"p_source": source, "p_ids": list(chunk)})
                for contact_id, properties, lists in rows:
                    found[(source, contact_id)] = WrittenState(properties or EMPTY, frozenset(lists or ()))
        return found

    def _queue(self, connection: Connection, source: str, contact_ids: Iterable[str]) -> None:
        version = secrets.randbits(62)
        rows = [
            {"source": source, "contact_id": contact_id, "version": version} for contact_id in sorted(set(contact_ids))
        ]
        if rows:
            connection.execute(self._sql.enqueue_rescore, rows)

    def _unqueue(self, connection: Connection, source: str, contact_ids: Iterable[str]) -> None:
        for chunk in chunks(sorted(set(contact_ids)), 1000):
            connection.execute(self._sql.unqueue, {"p_source": source, "p_ids": list(chunk)})

    def _cursor_of(self, connection: Connection, source: str, stream: str) -> Any | None:
        cursors = schema.cursors
        return connection.execute(
            select(cursors.c.value).where(cursors.c.source == source, cursors.c.stream == stream)
        ).scalar_one_or_none()

    def _set_cursor(self, connection: Connection, source: str, stream: str, value: Any) -> None:
        connection.execute(
            self._sql.upsert_cursor, {"source": source, "stream": stream, "value": value, "updated_at": utcnow()}
        )

    def _mark(
        self,
        connection: Connection,
        source: str,
        contact_ids: Sequence[str],
        *,
        deleted: bool = False,
        merged_into: str | None = None,
    ) -> None:
        persons = self._persons_of(connection, source, contact_ids) if deleted or merged_into is not None else {}
        for chunk in chunks(list(contact_ids), 1000):
            connection.execute(
                update(schema.contacts)
                .where(schema.contacts.c.source == source, schema.contacts.c.contact_id.in_(chunk))
                .values(deleted=deleted, merged_into=merged_into)
            )
        if deleted or merged_into is not None:
            self._unqueue(connection, source, contact_ids)
            forget_scores(connection, self._dialect, source, contact_ids)
            self._touch_persons(connection, persons.values())

    def _merge(self, connection: Connection, source: str, loser: str, survivor: str) -> None:
        persons = self._persons_of(connection, source, [loser])
        connection.execute(
            update(schema.events)
            .where(schema.events.c.source == source, schema.events.c.contact_id == loser)
            .values(contact_id=survivor)
        )
        connection.execute(
            update(schema.contacts)
            .where(schema.contacts.c.source == source, schema.contacts.c.contact_id == loser)
            .values(merged_into=survivor)
        )
        self._unqueue(connection, source, [loser])
        forget_scores(connection, self._dialect, source, [loser])
        self._queue(connection, source, [survivor])
        self._touch_persons(connection, persons.values())

    def _ids_by_email(self, connection: Connection, source: str, emails: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(sorted(set(emails)), 1000):
            rows = connection.execute(self._sql.live_contacts_of_emails, {"p_source": source, "p_emails": list(chunk)})
            found.update({email: contact_id for email, contact_id in rows})
        return found

    def _owners(self, connection: Connection, source: str, pages: Sequence[EventPage]) -> dict[str, str]:
        """The live contact of each email these pages' events name (one lookup for all of them)."""
        emails = [email for page in pages for email, _ in page.by_email]
        return self._ids_by_email(connection, source, emails) if emails else {}

    def _insert_events(self, connection: Connection, source: str, events: Sequence[Event]) -> int:
        rows = [
            {
                "source": source,
                "event_id": e.id,
                "contact_id": e.contact_id,
                "action": e.action,
                "occurred_at_ms": to_epoch_ms(e.occurred_at),
                "attributes": dict(e.attributes) or None,
            }
            for e in events
        ]
        if not rows:
            return 0
        inserted = 0
        touched: set[str] = set()
        for chunk in chunks(rows, 500):
            result = connection.execute(
                self._sql.insert_events, chunk, execution_options={"insertmanyvalues_page_size": 500}
            )
            new_ids = [row[0] for row in result]
            inserted += len(new_ids)
            touched.update(new_ids)
        self._queue(connection, source, touched)
        return inserted

    def _enqueue(self, connection: Connection, changes: Sequence[Change]) -> list[int]:
        if not changes:
            return []
        now = utcnow()
        result = connection.execute(
            self._sql.insert_outbox,
            [
                {
                    "source": ch.source,
                    "contact_id": ch.contact_id,
                    "kind": ch.kind,
                    "payload": dict(ch.payload),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "target": str(ch.payload.get("list")) if ch.kind in (LIST_ADD, LIST_REMOVE) else None,
                }
                for ch in changes
            ],
        )
        return [row[0] for row in result]


def last_per_id(contacts: Sequence[Contact]) -> list[Contact]:
    """A page may repeat a contact (ties re-read at a window edge); the last copy is the newest."""
    return list({c.id: c for c in contacts}.values())


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def with_owners(page: EventPage, owners: Mapping[str, str]) -> tuple[list[Event], int]:
    """The page's events, those known only by email given the contact ``owners`` names; and how many it names
    none for."""
    events = list(page.events)
    unresolved = 0
    for email, event_ in page.by_email:
        owner = owners.get(email)
        if owner is None:
            unresolved += 1
            continue
        events.append(Event(event_.source, event_.id, owner, event_.action, event_.occurred_at, event_.attributes))
    return events, unresolved
