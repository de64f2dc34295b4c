"""Contacts and persons: pulled pages saved whole, merges, deletions, recipients by email, stream cursors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from leadscore.clock import utcnow
from leadscore.people.identity import identity_key
from leadscore.protocol import ContactPage
from leadscore.records import (
    Contact,
    ensure_utc,
    shows_written,
)
from leadscore.store import schema
from leadscore.store.base import Tables, chunks, last_per_id


@dataclass(frozen=True)
class StoredRow:
    """A stored contact as a pulled one is compared with it: (email, profile, deleted, merged_into) and its person."""

    record: tuple[Any, ...]
    person_id: int | None


class ContactsStore(Tables):
    """Contacts of every source, the persons that link them, and where each stream stands."""

    def save_contacts(self, source: str, contacts: Sequence[Contact], cursor: tuple[str, Any] | None = None) -> int:
        """Upsert contacts (queueing them for rescoring), and set a cursor with them, in one transaction."""
        with self.db.begin() as connection:
            saved = self._save_contacts(connection, source, contacts)
            if cursor is not None:
                self._set_cursor(connection, source, cursor[0], cursor[1])
        return saved

    def save_contact_page(self, source: str, stream: str, page: ContactPage) -> int:
        """One pulled page of contacts as one unit of work: the contacts, the events derived from them, the
        merges and deletions the platform reported, and the stream's cursor, all committed or none.
        A crash replays the page, and a replayed page changes nothing. Returns how many events were new."""
        with self.db.begin() as connection:
            self._save_contacts(connection, source, page.contacts)
            added = self._insert_events(connection, source, page.events)
            for loser, survivor in page.merged:
                self._merge(connection, source, loser, survivor)
            if page.deleted:
                self._mark(connection, source, page.deleted, deleted=True)
            self._set_cursor(connection, source, stream, page.cursor.to_json())
        return added

    def _save_contacts(self, connection: Connection, source: str, contacts: Sequence[Contact]) -> int:
        """Save what a pull changed, and queue for rescoring the records scoring or planning must see again: new or
        revived ones, ones whose email or profile changed, and ones showing leadscore's properties or lists other
        than the store knows it wrote (a hand edit to heal, which also replaces what the store knows).

        Platforms report every record leadscore wrote as modified, so most of a re-read is records showing what
        leadscore wrote: their rows are not written again, and they are not rescored for it."""
        now = utcnow()
        latest = last_per_id(contacts)
        if not latest:
            return 0
        stored = self._stored_contacts(connection, source, [c.id for c in latest])
        after = self._persons_after(connection, latest, stored)
        shown = self._written(connection, [(source, c.id) for c in latest])
        left = [row.person_id for contact_id, row in stored.items() if row.person_id != after.get(contact_id)]
        rescore: list[str] = []
        rows: list[dict[str, Any]] = []
        observed: list[Contact] = []
        for contact in latest:
            row, state = stored.get(contact.id), shown.get((source, contact.id))
            same_record = row is not None and row.record == (contact.email, as_json(contact.profile), False, None)
            lists_moved = contact.lists is not None and (state.lists if state else frozenset()) != frozenset(
                contact.lists
            )
            hand_edited = not _shows_written(state.properties if state else {}, contact.observed) or lists_moved
            if not same_record or hand_edited:
                rescore.append(contact.id)
            if hand_edited:
                observed.append(contact)
            if not same_record or row is None or row.person_id != after.get(contact.id):
                rows.append(
                    {
                        "source": source,
                        "contact_id": contact.id,
                        "person_id": after.get(contact.id),
                        "email": contact.email,
                        "profile": dict(contact.profile),
                        "deleted": False,
                        "merged_into": None,
                        "updated_at": now,
                    }
                )
        if rows:
            connection.execute(self._sql.upsert_contacts, rows)
        self._queue(connection, source, rescore)
        self._observe(connection, source, observed, now)
        self._touch_persons(connection, [person for person in left if person is not None])
        return len(latest)

    def _persons_after(
        self, connection: Connection, contacts: Sequence[Contact], stored: Mapping[str, StoredRow]
    ) -> dict[str, int]:
        """The person each pulled record belongs to. A record showing the email the store holds keeps its person
        (a new identity rule links every record again when it is set), so only new and changed emails are looked
        up: a re-read is mostly records whose email did not change."""
        after: dict[str, int] = {}
        keys: dict[str, str] = {}
        for contact in contacts:
            row = stored.get(contact.id)
            if row is not None and row.person_id is not None and row.record[0] == contact.email:
                after[contact.id] = row.person_id
            elif key := identity_key(contact.email, self._folds_plus(connection)):
                keys[contact.id] = key
        person_ids = self._person_ids(connection, set(keys.values()))
        after.update({contact_id: person_ids[key] for contact_id, key in keys.items()})
        return after

    def _stored_contacts(self, connection: Connection, source: str, contact_ids: Sequence[str]) -> dict[str, StoredRow]:
        stored: dict[str, StoredRow] = {}
        for chunk in chunks(contact_ids, 1000):
            for contact_id, email, profile, deleted, merged_into, person_id in connection.execute(
                self._sql.stored_contacts_of_ids, {"p_source": source, "p_ids": list(chunk)}
            ):
                stored[contact_id] = StoredRow((email, profile, deleted, merged_into), person_id)
        return stored

    def _observe(self, connection: Connection, source: str, contacts: Sequence[Contact], now: datetime) -> None:
        """What a pull saw in leadscore's own properties replaces what acks said: a hand edit is seen and healed.

        List memberships replace the acknowledged ones only where the platform shows them on the contact.
        """
        for with_lists in (False, True):
            rows = [
                {
                    "source": source,
                    "contact_id": c.id,
                    "properties": dict(c.observed),
                    "lists": sorted(c.lists or ()),
                    "written_at": now,
                }
                for c in contacts
                if (c.lists is not None) == with_lists
            ]
            if rows:
                connection.execute(self._sql.upsert_written if with_lists else self._sql.upsert_observed, rows)

    def forget_list(self, source: str, key: str) -> int:
        """A list was (re)created empty on the platform: nobody is in it any more, so its members get planned again."""
        w = schema.written
        with self.db.begin() as connection:
            rows = connection.execute(select(w.c.contact_id, w.c.lists).where(w.c.source == source)).all()
            members = [(contact_id, lists) for contact_id, lists in rows if key in (lists or ())]
            for contact_id, lists in members:
                connection.execute(
                    update(w)
                    .where(w.c.source == source, w.c.contact_id == contact_id)
                    .values(lists=[k for k in lists if k != key])
                )
            ids = [contact_id for contact_id, _ in members]
            self._queue(connection, source, ids)
        return len(ids)

    def mark_contacts(
        self, source: str, contact_ids: Sequence[str], *, deleted: bool = False, merged_into: str | None = None
    ) -> None:
        """Record that contacts were deleted or merged away: they are no longer scored or written."""
        with self.db.begin() as connection:
            self._mark(connection, source, contact_ids, deleted=deleted, merged_into=merged_into)

    def merge_contact(self, source: str, loser: str, survivor: str) -> None:
        """The platform merged ``loser`` into ``survivor``: its history moves over and it is no longer written."""
        with self.db.begin() as connection:
            self._merge(connection, source, loser, survivor)

    def contact_ids_by_email(self, source: str, emails: Sequence[str]) -> dict[str, str]:
        """Live contacts of one source by normalized email (for events that name only a recipient)."""
        with self.db.connect() as connection:
            return self._ids_by_email(connection, source, emails)

    def cursor(self, source: str, stream: str) -> Any | None:
        with self.db.connect() as connection:
            return self._cursor_of(connection, source, stream)

    def set_cursor(self, source: str, stream: str, value: Any) -> None:
        with self.db.begin() as connection:
            self._set_cursor(connection, source, stream, value)

    def cursors(self, source: str) -> list[tuple[str, Any, datetime]]:
        """(stream, saved value, when it last moved) of every stream of the source."""
        c = schema.cursors
        with self.db.connect() as connection:
            rows = connection.execute(
                select(c.c.stream, c.c.value, c.c.updated_at).where(c.c.source == source).order_by(c.c.stream)
            ).all()
        return [(stream, value, ensure_utc(moved)) for stream, value, moved in rows]

    def forget_cursor(self, source: str, stream: str) -> None:
        c = schema.cursors
        with self.db.begin() as connection:
            connection.execute(delete(c).where(c.c.source == source, c.c.stream == stream))


PLAIN_JSON = frozenset({str, int, float, bool, type(None)})
"""Types a JSON column gives back as they went in: a profile of only these needs no round trip to be compared."""


def as_json(values: Mapping[str, Any]) -> Any:
    """``values`` as the store reads them back from a JSON column, for comparing a pulled record with a stored one."""
    if all(type(key) is str and type(value) in PLAIN_JSON for key, value in values.items()):
        return dict(values)
    return json.loads(json.dumps(dict(values), default=str))


def _shows_written(written: Mapping[str, Any], shown: Mapping[str, Any]) -> bool:
    """Whether a pulled record shows every property as leadscore wrote it, and none it did not write.

    A re-read mostly shows values exactly as written (same type, same value); only the others need reading as
    the platform's text (a number as a double, a moment in another notation)."""
    for name in written.keys() | shown.keys():
        wrote, seen = written.get(name), shown.get(name)
        if type(wrote) is type(seen) and wrote == seen:
            continue
        if not shows_written(wrote, seen):
            return False
    return True
