"""The state store on SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

Each job has a module of its own (contacts.py, events.py, scores.py,
outbox.py, inbox.py, runs.py, leases.py); this one opens and migrates the
database and composes them. Every unit of work (a pulled page, a scored page,
what one apply answered) is one transaction, so a crash replays at most one
page and a replayed page changes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, func, make_url, select, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import ArgumentError, OperationalError

from leadscore.errors import StoreError
from leadscore.store import schema
from leadscore.store.contacts import ContactsStore
from leadscore.store.events import EventsStore
from leadscore.store.history import HistoryStore
from leadscore.store.inbox import InboxStore
from leadscore.store.insights import InsightsStore
from leadscore.store.leases import LeasesStore
from leadscore.store.outbox import OutboxStore
from leadscore.store.people import PeopleStore
from leadscore.store.runs import RunsStore
from leadscore.store.scores import ScoresStore

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Revisions:
    """The schema revisions this code's migration scripts know, and the newest."""

    known: frozenset[str]
    head: str


def _migrations_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def _known_revisions() -> Revisions:
    """Read from the migration scripts once per process: a store already at head opens without alembic loading
    them again (a cycle's CLI run, a scoring worker, every test's store)."""
    script = ScriptDirectory.from_config(_migrations_config())
    return Revisions(frozenset(rev.revision for rev in script.walk_revisions()), str(script.get_current_head()))


DEFAULT_URL = "sqlite:///leadscore.db"
MIGRATION_LOCK = 0x6C65_6164_7363_6F72  # "leadscor": one key for schema migrations across replicas


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
WAL_KEPT_BYTES = 64 * 2**20
"""What of the write-ahead log SQLite keeps on disk once it has been copied into the store. A first sync of a large
account grew it to the size of the store itself (677 MB beside a 764 MB store at 100,000 records per source in
bench/people_sync.py), and without a limit the file stays that large."""
SCORING_MEMORY = SQLiteMemory(page_cache_kib=16 * 1024, heap_limit_bytes=24 * 2**20)
"""A scoring worker (a fixed number of them) reads each queued contact's rows at random: a larger cache keeps the
index pages of a large store hot."""


RESUMES = "what was saved is kept, and the next cycle resumes from the last page saved"
FULL_DISK_SQLSTATES = frozenset({"53100", "53200"})
"""PostgreSQL's disk_full and out_of_memory."""


def _store_failure(context: ExceptionContext) -> None:
    """The store failing under a running command (a full disk, a database restart) becomes one StoreError that says
    what happened and what to do, instead of a driver error carrying the SQL; other errors pass as they are.

    A failure of the first connection is left to ``open``, which names the URL."""
    if context.connection is None:
        return
    original = context.original_exception
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    if (
        "database or disk is full" in first
        or "disk I/O error" in first
        or (getattr(original, "sqlstate", None) in FULL_DISK_SQLSTATES)
    ):
        raise StoreError(f"the state store could not be written: {first}", f"free space where it lives; {RESUMES}")
    if context.is_disconnect:
        raise StoreError(
            f"the state store's connection was lost: {first}",
            f"the database restarted or went away; run again once it answers: {RESUMES}",
        )


def _sqlite_pragmas(memory: SQLiteMemory, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA cache_size=-{memory.page_cache_kib}")
    cursor.execute(f"PRAGMA soft_heap_limit={memory.heap_limit_bytes}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    cursor.close()


def normalize_url(url: str) -> str:
    """Accept the URL forms users paste (``postgres://``, ``postgresql://``) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class SQLStore(
    ContactsStore,
    EventsStore,
    ScoresStore,
    OutboxStore,
    InboxStore,
    RunsStore,
    LeasesStore,
    PeopleStore,
    HistoryStore,
    InsightsStore,
):
    """Tables of record for one leadscore installation (any number of sources)."""

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, migrate: bool = True, sqlite_memory: SQLiteMemory = DAEMON_MEMORY
    ) -> SQLStore:
        """Connect, and bring the schema to the version this code expects."""
        url = normalize_url(url)
        fix = "set LEADSCORE_STATE_URL (or --state) to sqlite:///path/to/leadscore.db or postgresql://user@host/db"
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise StoreError(f"'{url}' is not a store URL", fix) from None
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(f"leadscore keeps its state in SQLite or PostgreSQL, not {backend}", fix)
        engine = create_engine(url, future=True, hide_parameters=True)
        event.listen(engine, "handle_error", _store_failure)
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
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.db.dispose()

    def _alembic_config(self, connection: Connection) -> Config:
        config = _migrations_config()
        config.attributes["connection"] = connection
        return config

    def schema_revision(self) -> str | None:
        with self.db.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self) -> str | None:
        """Refuse a database migrated by a newer leadscore rather than misread it; the store's revision."""
        current = self.schema_revision()
        if current is not None and current not in _known_revisions().known:
            raise StoreError(
                f"the state store is at schema revision {current}, which this leadscore does not know",
                "upgrade leadscore to the version that created this store",
            )
        return current

    def migrate(self) -> None:
        """Bring the schema to head in one transaction, so a start killed mid-migration leaves the store as it was;
        replicas starting together take turns (a transaction-level advisory lock).

        Python's sqlite3 opens a transaction only before a data change, so on its own every CREATE TABLE of a
        first start would commit by itself; an explicit BEGIN holds them all (SQLite's DDL is transactional).
        """
        if self.check_schema() == _known_revisions().head:
            return
        with self.db.begin() as connection:
            if self._dialect == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            if self._dialect == "postgresql":
                connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(self._alembic_config(connection), "head")

    def count(self, table: str, source: str | None = None) -> int:
        target = schema.metadata.tables[table]
        query = select(func.count()).select_from(target)
        if source is not None:
            query = query.where(target.c.source == source)
        with self.db.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def shareable_url(self) -> str | None:
        """The store's URL with its password, when another process can open the same database (not in-memory
        SQLite): what a scoring worker opens."""
        url = self.db.url
        if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
            return None
        return url.render_as_string(hide_password=False)
