"""Persons: the records of every source that share an email, read together so that they score as one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, update

from leadscore.clock import utcnow
from leadscore.people.identity import identity_key
from leadscore.people.person import LinkedRecord
from leadscore.records import EventRow, ensure_utc
from leadscore.store import schema
from leadscore.store.base import EMPTY, IDENTITY_CURSOR, Tables, chunks

SCOPE_STREAM = "_people"
"""The cursor row (per source) that remembers the people group the source was last scored in."""
PULLED_STREAM = "_pulled"
"""The cursor row (per source) that remembers when a cycle of the source first read every stream to its end."""


@dataclass(frozen=True, slots=True)
class PersonRecords:
    """The records a page's contacts share a person with: who is whose person, and each person's records.
    A record of the page itself is listed without events (the page has them)."""

    person_of: dict[str, int]
    records: dict[int, list[LinkedRecord]]
    marks: dict[tuple[str, str], int] = field(default_factory=dict)
    """(source, id) -> the version of the record's rescore mark, read before its data, for records not on the
    page: the person's score computed from this read settles the mark if it has not changed since."""


@dataclass(frozen=True, slots=True)
class RecordOfPerson:
    """One record of a person as ``leadscore person`` shows it: the record with its events, and its last scores."""

    record: LinkedRecord
    live: bool
    scores: dict[str, tuple[int, str, str, str]]
    """Model -> (score, grade, band, reasons) as last stored."""

    @property
    def source(self) -> str:
        return self.record.source

    @property
    def contact_id(self) -> str:
        return self.record.contact_id


class PeopleStore(Tables):
    def use_identity(self, fold_plus_addressing: bool) -> int:
        """Link records by this rule from now on. When it differs from the rule the store last used, every
        record is linked again in one transaction, and each record whose person changed is queued with its
        old and new persons. Returns how many records changed person."""
        with self.db.begin() as connection:
            if self._folds_plus(connection) == fold_plus_addressing:
                return 0
            c = schema.contacts
            rows = connection.execute(
                select(c.c.source, c.c.contact_id, c.c.email, c.c.person_id).where(c.c.email.is_not(None))
            ).all()
            keys = {(s, i): identity_key(e, fold_plus_addressing) for s, i, e, _ in rows}
            person_ids = self._person_ids(connection, {k for k in keys.values() if k})
            moved: dict[str, list[str]] = {}
            touched: set[int] = set()
            for source, contact_id, _, old in rows:
                key = keys[(source, contact_id)]
                new = person_ids.get(key) if key else None
                if new == old:
                    continue
                connection.execute(
                    update(c).where(c.c.source == source, c.c.contact_id == contact_id).values(person_id=new)
                )
                moved.setdefault(source, []).append(contact_id)
                touched.update(p for p in (old, new) if p is not None)
            self._touch_persons(connection, touched)
            source, stream = IDENTITY_CURSOR
            self._set_cursor(connection, source, stream, {"fold_plus_addressing": fold_plus_addressing})
            self._fold_plus = fold_plus_addressing
            return sum(len(ids) for ids in moved.values())

    def scope_changed(self, source: str, fingerprint: str, *, remember: bool = True) -> bool:
        """Whether the people group of ``source`` changed since it was last scored; when it did, every live
        record of the source is queued and the new group remembered, in one transaction (a source that joins or
        leaves a group scores differently, and moves lists accordingly, on its next cycle). ``remember=False``
        only tells."""
        c, q = schema.contacts, schema.rescore_queue
        with self.db.begin() as connection:
            stored = self._cursor_of(connection, source, SCOPE_STREAM)
            if stored is None and fingerprint == "":
                return False
            if isinstance(stored, dict) and stored.get("fingerprint") == fingerprint:
                return False
            if not remember:
                return True
            live = select(c.c.source, c.c.contact_id).where(
                c.c.source == source, c.c.deleted.is_(False), c.c.merged_into.is_(None)
            )
            queued = select(q.c.contact_id).where(q.c.source == source)
            connection.execute(
                q.insert().from_select(["source", "contact_id"], live.where(c.c.contact_id.not_in(queued)))
            )
            self._set_cursor(connection, source, SCOPE_STREAM, {"fingerprint": fingerprint, "at": utcnow().isoformat()})
            return True

    def mark_pulled(self, source: str) -> None:
        """Remember that a cycle read every stream of ``source`` once; the first time is kept. Only that first time
        writes: every later cycle just reads the mark."""
        with self.db.connect() as connection:
            if self._cursor_of(connection, source, PULLED_STREAM) is not None:
                return
        with self.db.begin() as connection:
            if self._cursor_of(connection, source, PULLED_STREAM) is None:
                self._set_cursor(connection, source, PULLED_STREAM, {"at": utcnow().isoformat()})

    def never_pulled(self, sources: Sequence[str]) -> list[str]:
        """Those of ``sources`` no cycle has read to the end yet. A source with a stored score counts as read (it
        was, before the store remembered reads)."""
        cursors = schema.cursors
        with self.db.connect() as connection:
            pulled = set(
                connection.execute(
                    select(cursors.c.source).where(
                        cursors.c.source.in_(list(sources)), cursors.c.stream == PULLED_STREAM
                    )
                ).scalars()
            )
            return [name for name in sources if name not in pulled and not self._has_scores(connection, name)]

    def has_scores(self, source: str) -> bool:
        with self.db.connect() as connection:
            return self._has_scores(connection, source)

    def _has_scores(self, connection: Connection, source: str) -> bool:
        scores = schema.scores
        return (
            connection.execute(select(scores.c.contact_id).where(scores.c.source == source).limit(1)).first()
            is not None
        )

    def linked_records(self, source: str, contact_ids: Sequence[str], sources: Sequence[str]) -> PersonRecords:
        """For a page of ``source``'s contacts, the live records of their persons in ``sources`` (the page's own
        included), with the event rows of every record not on the page."""
        c = schema.contacts
        with self.db.connect() as connection:
            person_of = self._persons_of(connection, source, contact_ids)
            records: dict[int, list[LinkedRecord]] = {}
            if not person_of:
                return PersonRecords(person_of, records)
            on_page = set(contact_ids)
            marks = self._marks_of_persons(connection, sorted(set(person_of.values())), sources)
            found: list[tuple[int, str, str, str | None, dict[str, object] | None, object]] = []
            for chunk in chunks(sorted(set(person_of.values())), 1000):
                found.extend(
                    row
                    for row in connection.execute(
                        select(c.c.person_id, c.c.source, c.c.contact_id, c.c.email, c.c.profile, c.c.updated_at)
                        .where(c.c.person_id.in_(chunk))
                        .where(c.c.deleted.is_(False), c.c.merged_into.is_(None))
                    )
                    if row[1] in sources
                )
            elsewhere: dict[str, list[str]] = {}
            for _, other_source, contact_id, *_unused in found:
                if other_source != source or contact_id not in on_page:
                    elsewhere.setdefault(other_source, []).append(contact_id)
            events = self._events_of(connection, elsewhere)
        per_person: dict[int, int] = {}
        for person_id, *_rest in found:
            per_person[person_id] = per_person.get(person_id, 0) + 1
        persons_with_others = {person_id for person_id, count in per_person.items() if count > 1}
        for person_id, other_source, contact_id, email, profile, updated_at in found:
            if person_id not in persons_with_others:
                continue
            records.setdefault(person_id, []).append(
                LinkedRecord(
                    other_source,
                    contact_id,
                    email,
                    profile or EMPTY,
                    ensure_utc(updated_at),  # type: ignore[arg-type]
                    events.get((other_source, contact_id), ()),
                )
            )
        marks = {key: version for key, version in marks.items() if key[0] != source or key[1] not in on_page}
        return PersonRecords({k: v for k, v in person_of.items() if v in records}, records, marks)

    def _marks_of_persons(
        self, connection: Connection, person_ids: Sequence[int], sources: Sequence[str]
    ) -> dict[tuple[str, str], int]:
        """The rescore marks (with their versions) of these persons' records; read before the records themselves,
        so that anything that changed a record after this read also changed its mark.

        This read and the records' filter by person only, and leave other sources' records out here: asked for
        the group's sources too, SQLite reads them through the sources' index, every record of the group a page."""
        c, q = schema.contacts, schema.rescore_queue
        found: dict[tuple[str, str], int] = {}
        for chunk in chunks(list(person_ids), 1000):
            rows = connection.execute(
                select(q.c.source, q.c.contact_id, q.c.version)
                .join(c, (c.c.source == q.c.source) & (c.c.contact_id == q.c.contact_id))
                .where(c.c.person_id.in_(chunk), q.c.version.is_not(None))
            )
            found.update({(source, contact_id): version for source, contact_id, version in rows if source in sources})
        return found

    def _events_of(self, connection: Connection, ids: dict[str, list[str]]) -> dict[tuple[str, str], list[EventRow]]:
        grouped: dict[tuple[str, str], list[EventRow]] = {}
        for source, contact_ids in ids.items():
            for chunk in chunks(sorted(set(contact_ids)), 1000):
                rows = connection.execute(self._sql.events_of_ids, {"p_source": source, "p_ids": list(chunk)})
                for contact_id, event_id, action, occurred_ms, attributes in rows:
                    grouped.setdefault((source, contact_id), []).append((event_id, action, occurred_ms, attributes))
        return grouped

    def shared_people(self, sources: Sequence[str], limit: int) -> list[str]:
        """Emails (person keys) of people with live records in at least two of ``sources``."""
        c, p = schema.contacts, schema.persons
        query = (
            select(p.c.email)
            .join(c, c.c.person_id == p.c.id)
            .where(c.c.source.in_(list(sources)), c.c.deleted.is_(False), c.c.merged_into.is_(None))
            .group_by(p.c.id, p.c.email)
            .having(func.count(func.distinct(c.c.source)) >= 2)
            .order_by(p.c.email)
            .limit(limit)
        )
        with self.db.connect() as connection:
            return [email for (email,) in connection.execute(query)]

    def person_records(self, email: str) -> list[RecordOfPerson]:
        """Every record (live or not) of the person an email names, in every source, with its events and last
        scores."""
        p = schema.persons
        with self.db.connect() as connection:
            key = identity_key(email, self._folds_plus(connection))
            person_id = connection.execute(select(p.c.id).where(p.c.email == key)).scalar_one_or_none() if key else None
            if person_id is None:
                return []
            return self._records_where(connection, schema.contacts.c.person_id == person_id)

    def records_of(self, source: str, contact_id: str) -> list[RecordOfPerson]:
        """The record and every other record of its person (only the record, when it has no email); empty when
        the store does not know it."""
        c = schema.contacts
        with self.db.connect() as connection:
            person_id = connection.execute(
                select(c.c.person_id).where(c.c.source == source, c.c.contact_id == contact_id)
            ).first()
            if person_id is None:
                return []
            if person_id[0] is None:
                return self._records_where(connection, (c.c.source == source) & (c.c.contact_id == contact_id))
            return self._records_where(connection, c.c.person_id == person_id[0])

    def _records_where(self, connection: Connection, condition: Any) -> list[RecordOfPerson]:
        c, s = schema.contacts, schema.scores
        rows = connection.execute(
            select(c.c.source, c.c.contact_id, c.c.email, c.c.profile, c.c.updated_at, c.c.deleted, c.c.merged_into)
            .where(condition)
            .order_by(c.c.source, c.c.contact_id)
        ).all()
        ids: dict[str, list[str]] = {}
        for row in rows:
            ids.setdefault(row[0], []).append(row[1])
        events = self._events_of(connection, ids)
        scores: dict[tuple[str, str], dict[str, tuple[int, str, str, str]]] = {}
        for source, contact_ids in ids.items():
            for contact_id, model, score, grade, band, reasons in connection.execute(
                select(s.c.contact_id, s.c.model, s.c.score, s.c.grade, s.c.band, s.c.reasons).where(
                    s.c.source == source, s.c.contact_id.in_(contact_ids)
                )
            ):
                scores.setdefault((source, contact_id), {})[model] = (score, grade, band, reasons)
        return [
            RecordOfPerson(
                LinkedRecord(
                    source,
                    contact_id,
                    record_email,
                    profile or EMPTY,
                    ensure_utc(updated_at),
                    events.get((source, contact_id), ()),
                ),
                not deleted and merged_into is None,
                scores.get((source, contact_id), {}),
            )
            for source, contact_id, record_email, profile, updated_at, deleted, merged_into in rows
        ]
