"""The state store on SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

Every method that takes records and a cursor commits both in one transaction,
so a crash replays at most one page and a replayed page changes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.exc import OperationalError

from leadscore.clock import utcnow
from leadscore.errors import StoreError
from leadscore.protocol import ContactPage, EventPage, PendingChange
from leadscore.records import (
    LIST_ADD,
    LIST_REMOVE,
    SET_PROPERTIES,
    Change,
    Contact,
    Event,
    EventRow,
    WrittenState,
    ensure_utc,
    to_epoch_ms,
)
from leadscore.store import schema
from leadscore.store.statements import (
    Statements,
    contacts_page,
    page_ends,
    pending_query,
    score_columns,
    statements_for,
)

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///leadscore.db"
MIGRATION_LOCK = 0x6C65_6164_7363_6F72  # "leadscor": one key for schema migrations across replicas
_EMPTY: dict[str, Any] = {}


class JsonOnUse(Mapping[str, Any]):
    """A stored JSON object decoded the first time it is read: a rescore reads a million and uses few."""

    __slots__ = ("_decoded", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._decoded: dict[str, Any] | None = None

    def _value(self) -> dict[str, Any]:
        if self._decoded is None:
            loaded = json.loads(self._text)
            self._decoded = loaded if isinstance(loaded, dict) else {}
        return self._decoded

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __repr__(self) -> str:
        return repr(self._value())


@dataclass(frozen=True, slots=True)
class StoredScore:
    """What the store remembers of a contact's last score: enough for hysteresis and explain."""

    contact_id: str
    model: str
    score: int
    fit: float
    behaviour: float
    grade: str
    band: str
    label: str
    reasons: str
    scored_at: datetime


class VisibleScore(NamedTuple):
    """What a person sees of a stored score on the record. A rescore reads only this of the last score (for
    hysteresis, and to save a score only when it shows differently): reading whole stored scores, their timestamps
    parsed, was a twelfth of a full rescore."""

    score: int
    grade: str
    band: str
    label: str
    reasons: str


@dataclass(slots=True)
class Settlement:
    """The store's side of one apply: what to fold in, what to retry later (key, reason, not before), what is gone,
    and what was merged into which survivor."""

    acknowledged: list[PendingChange] = field(default_factory=list)
    set_aside: list[tuple[int, str, datetime]] = field(default_factory=list)
    gone: list[PendingChange] = field(default_factory=list)
    merged: list[tuple[PendingChange, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SQLiteMemory:
    """SQLite's memory in one process: each pooled connection's page cache, and a soft limit on all of SQLite's
    memory in the process together. Without the limit every connection's cache grows with the store file, and the
    process's memory with the account."""

    page_cache_kib: int
    heap_limit_bytes: int


DAEMON_MEMORY = SQLiteMemory(page_cache_kib=8 * 1024, heap_limit_bytes=8 * 2**20)
"""The daemon pulls pages, plans and writes, which gain little from a large cache. Bounded low, its memory stays
flat as the account grows: a first sync cycle peaked at 130 MB for 10,000 contacts and 137 MB for 100,000, against
144 and 158 MB with the scoring workers' setting, in the same time (bench/RESULTS.md)."""
SCORING_MEMORY = SQLiteMemory(page_cache_kib=16 * 1024, heap_limit_bytes=24 * 2**20)
"""A scoring worker (a fixed number of them) reads each queued contact's rows at random: a larger cache keeps the
index pages of a large store hot."""


def _sqlite_pragmas(memory: SQLiteMemory, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA cache_size=-{memory.page_cache_kib}")
    cursor.execute(f"PRAGMA soft_heap_limit={memory.heap_limit_bytes}")
    cursor.close()


def normalize_url(url: str) -> str:
    """Accept the URL forms users paste (``postgres://``, ``postgresql://``) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class SQLStore:
    """Tables of record for one leadscore installation (any number of sources)."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine
        self._dialect = engine.dialect.name
        self._sql: Statements = statements_for(self._dialect)

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, migrate: bool = True, sqlite_memory: SQLiteMemory = DAEMON_MEMORY
    ) -> SQLStore:
        """Connect, and bring the schema to the version this code expects."""
        url = normalize_url(url)
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", functools.partial(_sqlite_pragmas, sqlite_memory))
        store = cls(engine)
        try:
            if migrate:
                store.migrate()
            else:
                store.check_schema()
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open the state store at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
                "check LEADSCORE_STATE_URL and that the database is running",
            ) from None
        return store

    def close(self) -> None:
        self.db.dispose()

    def _alembic_config(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def schema_revision(self) -> str | None:
        with self.db.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self) -> None:
        """Refuse a database migrated by a newer leadscore rather than misread it."""
        current = self.schema_revision()
        with self.db.connect() as connection:
            script = ScriptDirectory.from_config(self._alembic_config(connection))
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"the state store is at schema revision {current}, which this leadscore does not know",
                "upgrade leadscore to the version that created this store",
            )

    def migrate(self) -> None:
        """Bring the schema to head; replicas starting together take turns (a transaction-level advisory lock)."""
        self.check_schema()
        with self.db.begin() as connection:
            if self._dialect == "postgresql":
                connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(self._alembic_config(connection), "head")

    # ingest -----------------------------------------------------------------

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

    def save_event_page(self, source: str, stream: str, page: EventPage) -> tuple[int, int]:
        """One pulled page of events as one unit of work: those known by email get their contact, then the
        events and the cursor are committed together. Returns (new events, events whose recipient is unknown)."""
        with self.db.begin() as connection:
            events, unresolved = self._resolve(connection, source, page)
            added = self._insert_events(connection, source, events)
            if page.cursor is not None:
                self._set_cursor(connection, source, stream, page.cursor.to_json())
        return added, unresolved

    def _save_contacts(self, connection: Connection, source: str, contacts: Sequence[Contact]) -> int:
        now = utcnow()
        latest = _last_per_id(contacts)
        person_ids = self._person_ids(connection, {c.email for c in contacts if c.email})
        rows = [
            {
                "source": source,
                "contact_id": c.id,
                "person_id": person_ids.get(c.email) if c.email else None,
                "email": c.email,
                "profile": dict(c.profile),
                "written": dict(c.written),
                "deleted": False,
                "merged_into": None,
                "updated_at": now,
            }
            for c in latest
        ]
        if rows:
            connection.execute(self._sql.upsert_contacts, rows)
            self._queue(connection, source, [c.id for c in latest])
            self._observe(connection, source, latest, now)
        return len(rows)

    def _observe(self, connection: Connection, source: str, contacts: Sequence[Contact], now: datetime) -> None:
        """What a pull saw in leadscore's own properties replaces what acks said: a hand edit is seen and healed.

        List memberships replace the acknowledged ones only where the platform shows them on the contact.
        """
        for with_lists in (False, True):
            rows = [
                {
                    "source": source,
                    "contact_id": c.id,
                    "properties": dict(c.written),
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

    def _person_ids(self, connection: Connection, emails: set[str]) -> dict[str, int]:
        if not emails:
            return {}
        ordered = sorted(emails)
        connection.execute(self._sql.insert_persons, [{"email": email} for email in ordered])
        found: dict[str, int] = {}
        for chunk in _chunks(ordered, 1000):
            result = connection.execute(self._sql.persons_of_emails, {"p_emails": list(chunk)})
            found.update({email: person_id for email, person_id in result})
        return found

    def mark_contacts(
        self, source: str, contact_ids: Sequence[str], *, deleted: bool = False, merged_into: str | None = None
    ) -> None:
        """Record that contacts were deleted or merged away: they are no longer scored or written."""
        with self.db.begin() as connection:
            self._mark(connection, source, contact_ids, deleted=deleted, merged_into=merged_into)

    def _mark(
        self,
        connection: Connection,
        source: str,
        contact_ids: Sequence[str],
        *,
        deleted: bool = False,
        merged_into: str | None = None,
    ) -> None:
        for chunk in _chunks(list(contact_ids), 1000):
            connection.execute(
                update(schema.contacts)
                .where(schema.contacts.c.source == source, schema.contacts.c.contact_id.in_(chunk))
                .values(deleted=deleted, merged_into=merged_into)
            )
        if deleted or merged_into is not None:
            self._unqueue(connection, source, contact_ids)

    def merge_contact(self, source: str, loser: str, survivor: str) -> None:
        """The platform merged ``loser`` into ``survivor``: its history moves over and it is no longer written."""
        with self.db.begin() as connection:
            self._merge(connection, source, loser, survivor)

    def _merge(self, connection: Connection, source: str, loser: str, survivor: str) -> None:
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
        self._queue(connection, source, [survivor])

    def contact_ids_by_email(self, source: str, emails: Sequence[str]) -> dict[str, str]:
        """Live contacts of one source by normalized email (for events that name only a recipient)."""
        with self.db.connect() as connection:
            return self._ids_by_email(connection, source, emails)

    def _ids_by_email(self, connection: Connection, source: str, emails: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(emails)), 1000):
            rows = connection.execute(self._sql.live_contacts_of_emails, {"p_source": source, "p_emails": list(chunk)})
            found.update({email: contact_id for email, contact_id in rows})
        return found

    def _resolve(self, connection: Connection, source: str, page: EventPage) -> tuple[list[Event], int]:
        """The page's events, with those known only by email given their contact where the store knows it."""
        events = list(page.events)
        unresolved = 0
        if page.by_email:
            owners = self._ids_by_email(connection, source, [email for email, _ in page.by_email])
            for email, event_ in page.by_email:
                owner = owners.get(email)
                if owner is None:
                    unresolved += 1
                    continue
                events.append(
                    Event(event_.source, event_.id, owner, event_.action, event_.occurred_at, event_.attributes)
                )
        return events, unresolved

    def save_events(self, source: str, events: Sequence[Event], cursor: tuple[str, Any] | None = None) -> int:
        """Insert events once each (by source + event id), mark their contacts, advance the cursor.

        Returns how many were new, so a replayed page reports 0.
        """
        with self.db.begin() as connection:
            inserted = self._insert_events(connection, source, events)
            if cursor is not None:
                self._set_cursor(connection, source, cursor[0], cursor[1])
        return inserted

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
        for chunk in _chunks(rows, 500):
            result = connection.execute(
                self._sql.insert_events, chunk, execution_options={"insertmanyvalues_page_size": 500}
            )
            new_ids = [row[0] for row in result]
            inserted += len(new_ids)
            touched.update(new_ids)
        self._queue(connection, source, touched)
        return inserted

    def mark_for_rescore(self, source: str, contact_ids: Iterable[str]) -> None:
        """Queue contacts for the next incremental rescore (new data is queued by the store itself)."""
        with self.db.begin() as connection:
            self._queue(connection, source, contact_ids)

    def forget_gone_in_queue(self, source: str) -> int:
        """Drop queued ids whose contact is deleted or merged away (an event can arrive for one after it went):
        they are never scored, so nothing else would take them off. Returns how many were dropped."""
        with self.db.begin() as connection:
            return int(connection.execute(self._sql.unqueue_gone, {"p_source": source}).rowcount)

    def _queue(self, connection: Connection, source: str, contact_ids: Iterable[str]) -> None:
        rows = [{"source": source, "contact_id": contact_id} for contact_id in sorted(set(contact_ids))]
        if rows:
            connection.execute(self._sql.enqueue_rescore, rows)

    def _unqueue(self, connection: Connection, source: str, contact_ids: Iterable[str]) -> None:
        for chunk in _chunks(sorted(set(contact_ids)), 1000):
            connection.execute(self._sql.unqueue, {"p_source": source, "p_ids": list(chunk)})

    def cursor(self, source: str, stream: str) -> Any | None:
        with self.db.connect() as connection:
            return connection.execute(
                select(schema.cursors.c.value).where(
                    schema.cursors.c.source == source, schema.cursors.c.stream == stream
                )
            ).scalar_one_or_none()

    def set_cursor(self, source: str, stream: str, value: Any) -> None:
        with self.db.begin() as connection:
            self._set_cursor(connection, source, stream, value)

    def _set_cursor(self, connection: Connection, source: str, stream: str, value: Any) -> None:
        connection.execute(
            self._sql.upsert_cursor, {"source": source, "stream": stream, "value": value, "updated_at": utcnow()}
        )

    # scoring ------------------------------------------------------------------

    def page_ends(self, source: str, *, only_queued: bool = False, page_size: int = 2000) -> list[str]:
        """The contact id that ends each full page of live contacts (with ``only_queued``, of queued contacts).

        Splitting the id range at these ids gives pages of ``page_size`` that
        separate processes can score without reading each other's pages.
        """
        with self.db.connect() as connection:
            rows = connection.execute(page_ends(only_queued), {"p_source": source, "p_size": page_size})
            return [row[0] for row in rows]

    def contacts_with_events(
        self,
        source: str,
        *,
        only_queued: bool = False,
        page_size: int = 2000,
        after: str = "",
        upto: str | None = None,
    ) -> Iterator[list[tuple[Contact, list[EventRow]]]]:
        """Stream live contacts with their event rows, a page at a time, so memory follows the page, not the account.

        Only ids above ``after`` and up to ``upto`` (when given) are read. Rows carry
        the attributes as the stored JSON text: the engine decodes each distinct
        text once instead of once per event.
        """
        page_query = contacts_page(only_queued, upto is not None)
        while True:
            with self.db.connect() as connection:
                contact_rows = connection.execute(
                    page_query, {"p_source": source, "p_after": after, "p_upto": upto, "p_limit": page_size}
                ).all()
                if not contact_rows:
                    return
                first, last = contact_rows[0][0], contact_rows[-1][0]
                if only_queued:
                    event_query = self._sql.events_of_ids
                    parameters = {"p_source": source, "p_ids": [row[0] for row in contact_rows]}
                else:
                    event_query = self._sql.events_in_range
                    parameters = {"p_source": source, "p_first": first, "p_last": last}
                grouped: dict[str, list[EventRow]] = {}
                for contact_id, event_id, action, occurred_ms, attributes in connection.execute(
                    event_query, parameters
                ).all():
                    bucket = grouped.get(contact_id)
                    if bucket is None:
                        bucket = grouped[contact_id] = []
                    bucket.append((event_id, action, occurred_ms, attributes))
            yield [
                (
                    Contact(source, contact_id, email, profile or _EMPTY, JsonOnUse(written) if written else _EMPTY),
                    grouped.get(contact_id, []),
                )
                for contact_id, email, profile, written in contact_rows
            ]
            after = last

    def save_scores(self, source: str, scores: Sequence[StoredScore], scored_ids: Sequence[str] = ()) -> None:
        """Remember changed scores and clear the rescore mark of every contact scored."""
        self.save_scored_page(source, scores, scored_ids, ())

    def save_scored_page(
        self, source: str, scores: Sequence[StoredScore], scored_ids: Sequence[str], changes: Sequence[Change]
    ) -> None:
        """One scored page as one unit of work: the changes planned from it enter the outbox, changed scores are
        remembered, and every contact scored (``scored_ids`` also names those whose stored score is unchanged)
        leaves the rescore queue, all committed or none."""
        with self.db.begin() as connection:
            self._enqueue(connection, changes)
            if scores:
                connection.execute(
                    self._sql.upsert_scores,
                    [
                        {
                            "source": source,
                            "contact_id": s.contact_id,
                            "model": s.model,
                            "score": s.score,
                            "fit": s.fit,
                            "behaviour": s.behaviour,
                            "grade": s.grade,
                            "band": s.band,
                            "label": s.label,
                            "reasons": s.reasons,
                            "scored_at": s.scored_at,
                        }
                        for s in scores
                    ],
                )
            self._unqueue(connection, source, [s.contact_id for s in scores] + list(scored_ids))

    def visible_scores(self, source: str, contact_ids: Sequence[str]) -> dict[tuple[str, str], VisibleScore]:
        """Last scores by (contact id, model name), as the record shows them."""
        found: dict[tuple[str, str], VisibleScore] = {}
        with self.db.connect() as connection:
            for chunk in _chunks(list(contact_ids), 1000):
                rows = connection.execute(self._sql.visible_scores_of_ids, {"p_source": source, "p_ids": list(chunk)})
                for contact_id, model, score, grade, band, label, reasons in rows.all():
                    found[(contact_id, model)] = VisibleScore(score, grade, band, label, reasons)
        return found

    def top_scores(self, source: str, model: str, limit: int) -> list[tuple[StoredScore, str | None]]:
        """The highest scores of one model, with each contact's email, for summaries."""
        s, c = schema.scores, schema.contacts
        query = (
            select(*score_columns(), c.c.email)
            .join(c, (c.c.source == s.c.source) & (c.c.contact_id == s.c.contact_id))
            .where(s.c.source == source, s.c.model == model, c.c.deleted.is_(False), c.c.merged_into.is_(None))
            .order_by(s.c.score.desc(), s.c.contact_id)
            .limit(limit)
        )
        with self.db.connect() as connection:
            return [(_stored_score(row), row[10]) for row in connection.execute(query)]

    def count(self, table: str, source: str | None = None) -> int:
        target = schema.metadata.tables[table]
        query = select(func.count()).select_from(target)
        if source is not None:
            query = query.where(target.c.source == source)
        with self.db.connect() as connection:
            return int(connection.execute(query).scalar_one())

    # outbox and written state ---------------------------------------------------

    def enqueue(self, changes: Sequence[Change]) -> list[int]:
        """Persist changes before any is sent; a crash then resumes from here."""
        with self.db.begin() as connection:
            return self._enqueue(connection, changes)

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

    def pending(
        self,
        source: str,
        limit: int,
        now: datetime | None = None,
        kind: str | None = None,
        order: str = "by_list",
    ) -> list[PendingChange]:
        """Changes due for sending, oldest first within a group; set-aside changes wait for their backoff to pass.

        ``by_list`` groups by kind and list (one call carries one list's members);
        ``by_contact`` keeps a contact's changes together (one call carries them all).
        """
        query = pending_query(order, kind is not None)
        parameters = {"p_source": source, "p_now": now or utcnow(), "p_limit": limit, "p_kind": kind}
        with self.db.connect() as connection:
            return [
                PendingChange(row[0], Change(source, row[1], row[2], row[3]), row[4], row[5])
                for row in connection.execute(query, parameters)
            ]

    def outbox_depth(self, source: str, status: str | None = None) -> int:
        o = schema.outbox
        query = select(func.count()).select_from(o).where(o.c.source == source)
        if status is not None:
            query = query.where(o.c.status == status)
        with self.db.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def acknowledge(self, entries: Sequence[PendingChange]) -> None:
        """The platform confirmed these changes: fold them into written state and drop them from the outbox."""
        self.settle(Settlement(acknowledged=list(entries)))

    def settle(self, settlement: Settlement) -> None:
        """What the platform answered to one apply, saved in one transaction: acknowledged changes fold into
        written state and leave the outbox, rejected ones wait out their backoff, gone and merged records are
        recorded as such and their changes dropped."""
        with self.db.begin() as connection:
            self._acknowledge(connection, settlement.acknowledged)
            for key, reason, not_before in settlement.set_aside:
                connection.execute(
                    update(schema.outbox)
                    .where(schema.outbox.c.id == key)
                    .values(
                        status="set_aside",
                        last_error=reason,
                        not_before=not_before,
                        attempts=schema.outbox.c.attempts + 1,
                    )
                )
            dropped = [entry.key for entry in settlement.gone] + [entry.key for entry, _ in settlement.merged]
            for chunk in _chunks(dropped, 1000):
                connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})
            for entry in settlement.gone:
                self._mark(connection, entry.change.source, [entry.contact_id], deleted=True)
            for entry, survivor in settlement.merged:
                self._merge(connection, entry.change.source, entry.contact_id, survivor)

    def _acknowledge(self, connection: Connection, entries: Sequence[PendingChange]) -> None:
        if not entries:
            return
        now = utcnow()
        by_contact: dict[tuple[str, str], list[Change]] = {}
        for entry in entries:
            by_contact.setdefault((entry.change.source, entry.change.contact_id), []).append(entry.change)
        current = self._written(connection, by_contact.keys())
        rows = []
        for key, changes in by_contact.items():
            state = current.get(key, WrittenState(_EMPTY, frozenset()))
            properties, lists = dict(state.properties), set(state.lists)
            for change in changes:
                if change.kind == SET_PROPERTIES:
                    properties.update(change.payload)
                elif change.kind == LIST_ADD:
                    lists.add(str(change.payload["list"]))
                elif change.kind == LIST_REMOVE:
                    lists.discard(str(change.payload["list"]))
            rows.append(
                {
                    "source": key[0],
                    "contact_id": key[1],
                    "properties": properties,
                    "lists": sorted(lists),
                    "written_at": now,
                }
            )
        self._upsert_written(connection, rows)
        for chunk in _chunks([entry.key for entry in entries], 1000):
            connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})

    def set_aside(self, entry_id: int, reason: str, not_before: datetime) -> None:
        """A record the platform rejected: keep it with its reason and retry it later, not in a loop."""
        self.settle(Settlement(set_aside=[(entry_id, reason, not_before)]))

    def discard(self, entry_ids: Sequence[int]) -> None:
        """Drop outbox entries that can never apply (their record is gone for good)."""
        with self.db.begin() as connection:
            for chunk in _chunks(list(entry_ids), 1000):
                connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})

    def set_aside_entries(self, source: str) -> list[tuple[PendingChange, str]]:
        o = schema.outbox
        query = (
            select(o.c.id, o.c.contact_id, o.c.kind, o.c.payload, o.c.attempts, o.c.last_error)
            .where(o.c.source == source, o.c.status == "set_aside")
            .order_by(o.c.id)
        )
        with self.db.connect() as connection:
            return [
                (PendingChange(row[0], Change(source, row[1], row[2], row[3]), row[4]), row[5] or "")
                for row in connection.execute(query)
            ]

    def written_state(self, source: str, contact_ids: Sequence[str]) -> dict[str, WrittenState]:
        with self.db.connect() as connection:
            found = self._written(connection, [(source, contact_id) for contact_id in contact_ids])
        return {key[1]: state for key, state in found.items()}

    def _written(self, connection: Connection, keys: Any) -> dict[tuple[str, str], WrittenState]:
        found: dict[tuple[str, str], WrittenState] = {}
        by_source: dict[str, list[str]] = {}
        for source, contact_id in keys:
            by_source.setdefault(source, []).append(contact_id)
        for source, ids in by_source.items():
            for chunk in _chunks(ids, 1000):
                rows = connection.execute(self._sql.written_of_ids, {"p_source": source, "p_ids": list(chunk)})
                for contact_id, properties, lists in rows:
                    found[(source, contact_id)] = WrittenState(properties or _EMPTY, frozenset(lists or ()))
        return found

    def _upsert_written(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            connection.execute(self._sql.upsert_written, rows)

    # runs -------------------------------------------------------------------------

    # webhook inbox --------------------------------------------------------------

    def receive(self, source: str, body: Any) -> int:
        """Keep a webhook body until the next cycle turns it into events; the sender gets 200 only after this."""
        with self.db.begin() as connection:
            result = connection.execute(
                schema.inbox.insert()
                .values(source=source, received_at=utcnow(), body=body)
                .returning(schema.inbox.c.id)
            )
            return int(result.scalar_one())

    def inbox(self, source: str, limit: int) -> list[tuple[int, Any]]:
        i = schema.inbox
        with self.db.connect() as connection:
            rows = connection.execute(
                select(i.c.id, i.c.body).where(i.c.source == source).order_by(i.c.id).limit(limit)
            )
            return [(int(row[0]), row[1]) for row in rows]

    def save_inbox_pages(self, source: str, pages: Sequence[EventPage], inbox_ids: Sequence[int]) -> tuple[int, int]:
        """Store the events parsed from some webhook bodies and drop those bodies, in one transaction.
        Returns (new events, events whose recipient is unknown)."""
        added = unresolved = 0
        with self.db.begin() as connection:
            for page in pages:
                events, missing = self._resolve(connection, source, page)
                added += self._insert_events(connection, source, events)
                unresolved += missing
            connection.execute(delete(schema.inbox).where(schema.inbox.c.id.in_(list(inbox_ids))))
        return added, unresolved

    def start_run(self, source: str) -> int:
        with self.db.begin() as connection:
            result = connection.execute(
                schema.runs.insert().returning(schema.runs.c.id),
                {"source": source, "started_at": utcnow(), "status": "running"},
            )
            return int(result.scalar_one())

    def finish_run(self, run_id: int, status: str, report: Mapping[str, Any]) -> None:
        with self.db.begin() as connection:
            connection.execute(
                update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(status=status, report=dict(report), finished_at=utcnow())
            )

    def last_run(self, source: str) -> tuple[str, dict[str, Any]] | None:
        r = schema.runs
        with self.db.connect() as connection:
            row = connection.execute(
                select(r.c.status, r.c.report).where(r.c.source == source).order_by(r.c.id.desc()).limit(1)
            ).first()
        return None if row is None else (row[0], row[1] or {})


def _stored_score(row: Any) -> StoredScore:
    contact_id, model, score, fit, behaviour, grade, band, label, reasons, scored_at = row[:10]
    return StoredScore(contact_id, model, score, fit, behaviour, grade, band, label, reasons, ensure_utc(scored_at))


def _last_per_id(contacts: Sequence[Contact]) -> list[Contact]:
    """A page may repeat a contact (ties re-read at a window edge); the last copy is the newest."""
    return list({c.id: c for c in contacts}.values())


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
