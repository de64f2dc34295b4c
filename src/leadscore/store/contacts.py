"""Contacts and persons: pulled pages saved whole, merges, deletions, recipients by email, stream cursors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from leadscore.clock import utcnow
from leadscore.people.identity import identity_key
from leadscore.protocol import ContactPage
from leadscore.records import (
    Contact,
    ensure_utc,
    property_text,
    shows_written,
)
from leadscore.store import schema
from leadscore.store.base import Tables, chunks, last_per_id


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
        now = utcnow()
        latest = last_per_id(contacts)
        fold = self._folds_plus(connection)
        keys = {c.id: identity_key(c.email, fold) for c in latest}
        person_ids = self._person_ids(connection, {key for key in keys.values() if key})
        before = self._persons_of(connection, source, [c.id for c in latest])
        after = {contact_id: person_ids[key] for contact_id, key in keys.items() if key}
        left = [person for contact_id, person in before.items() if after.get(contact_id) != person]
        rows = [
            {
                "source": source,
                "contact_id": c.id,
                "person_id": after.get(c.id),
                "email": c.email,
                "profile": dict(c.profile),
                "written": dict(c.observed),
                "deleted": False,
                "merged_into": None,
                "updated_at": now,
            }
            for c in latest
        ]
        if rows:
            changed = self._needing_rescore(connection, source, latest)
            connection.execute(self._sql.upsert_contacts, rows)
            self._queue(connection, source, changed)
            self._observe(connection, source, latest, now)
            self._touch_persons(connection, left)
        return len(rows)

    def _needing_rescore(self, connection: Connection, source: str, contacts: Sequence[Contact]) -> list[str]:
        """The pulled contacts that scoring or planning must see again: new or revived ones, ones whose email or
        profile changed, and ones showing leadscore's properties or lists other than the store knows it wrote (a
        hand edit to heal). A record the platform reports only because leadscore wrote its score is none of these,
        and is not rescored for it."""
        c = schema.contacts
        stored: dict[str, tuple[Any, ...]] = {}
        for chunk in chunks([contact.id for contact in contacts], 1000):
            stored.update(
                (row[0], tuple(row[1:]))
                for row in connection.execute(
                    select(c.c.contact_id, c.c.email, c.c.profile, c.c.deleted, c.c.merged_into).where(
                        c.c.source == source, c.c.contact_id.in_(list(chunk))
                    )
                )
            )
        shown = self._written(connection, [(source, contact.id) for contact in contacts])
        changed = []
        for contact in contacts:
            state = shown.get((source, contact.id))
            if (
                stored.get(contact.id) != (contact.email, as_json(contact.profile), False, None)
                or not _shows_written(state.properties if state else {}, contact.observed)
                or (contact.lists is not None and (state.lists if state else frozenset()) != frozenset(contact.lists))
            ):
                changed.append(contact.id)
        return changed

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


def as_json(values: Mapping[str, Any]) -> Any:
    """``values`` as the store reads them back from a JSON column, for comparing a pulled record with a stored one."""
    return json.loads(json.dumps(dict(values), default=str))


def _shows_written(written: Mapping[str, Any], shown: Mapping[str, Any]) -> bool:
    """Whether a pulled record shows every property as leadscore wrote it, and none it did not write."""
    names = {name for values in (written, shown) for name, value in values.items() if property_text(value)}
    return all(shows_written(written.get(name), shown.get(name)) for name in names)
