"""Leases: which replica syncs a source now, and whether the database answers.

PostgreSQL: a session-level advisory lock per source, held on its own
connection for the length of the cycle; if the holder dies, its connection
drops, the lock goes with it, and another replica takes the source on its next
scheduled run. SQLite serves one daemon (its file lock lives beside the file,
see ``sqlite_file``), so every lease is granted.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, text

from leadscore.errors import CycleInterruptedError, LeaseLostError
from leadscore.store.base import Tables


def lock_key(namespace: str, source: str) -> int:
    """A stable signed 64-bit key per store schema and source (advisory locks take a bigint and are database-wide,
    so two installations in different schemas of one database must not share keys)."""
    digest = hashlib.sha256(f"leadscore:{namespace}:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Lease:
    """A source's lease while a cycle runs. Truthy when held; ``check`` raises LeaseLostError once it is gone.

    On PostgreSQL it is a session-level advisory lock on a connection of its own, kept in autocommit so that it
    never sits idle in a transaction (which would pin VACUUM, and which ``idle_in_transaction_session_timeout``
    ends); when that session ends anyway (``pg_terminate_backend``, a restart), the lock is gone, and ``check``
    says so before the holder writes again.
    """

    def __init__(self, source: str, held: bool, connection: Connection | None = None, key: int = 0) -> None:
        self.source = source
        self.held = held
        self._connection = connection
        self._key = key
        self.pid: int | None = None
        if connection is not None and held:
            self.pid = int(connection.execute(text("select pg_backend_pid()")).scalar_one())

    def __bool__(self) -> bool:
        return self.held

    def check(self) -> None:
        if self._connection is None or not self.held:
            return
        try:
            still = self._connection.execute(
                text(
                    "select count(*) from pg_locks where locktype = 'advisory' and granted "
                    "and pid = pg_backend_pid() and objsubid = 1 "
                    "and ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self._key},
            ).scalar_one()
        except Exception as exc:
            self.held = False
            raise LeaseLostError(self.source, f"its database session ended: {type(exc).__name__}") from None
        if not still:
            self.held = False
            raise LeaseLostError(self.source, "the advisory lock is no longer held")


class LeasesStore(Tables):
    """Per-source leases across replicas, and the database's health."""

    @contextmanager
    def source_lease(self, source: str) -> Iterator[Lease]:
        """Yields the lease, held when this replica may sync ``source`` now; never blocks."""
        with self._advisory(source, lambda: False, wait=False) as lease:
            yield lease

    @contextmanager
    def people_lease(
        self, sources: Sequence[str], should_stop: Callable[[], bool], poll_seconds: float = 0.2
    ) -> Iterator[Lease]:
        """Yields once this replica alone scores the people group of ``sources``; waits while another holds it.

        Two replicas syncing two sources of one group would otherwise score a shared person at once, and the
        older of the two results could be saved last. SQLite serves one daemon, whose threads a process lock
        orders, so there the lease is granted at once. ``should_stop`` ends the wait (CycleInterruptedError).
        """
        with self._advisory("people:" + ",".join(sorted(sources)), should_stop, True, poll_seconds) as lease:
            yield lease

    @contextmanager
    def _advisory(
        self, name: str, should_stop: Callable[[], bool], wait: bool, poll_seconds: float = 0.2
    ) -> Iterator[Lease]:
        """A session-level advisory lock named ``name`` on a connection of its own, released on the way out;
        with ``wait``, tried again every ``poll_seconds`` until held or ``should_stop``."""
        if self._dialect != "postgresql":
            yield Lease(name, True)
            return
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            key = lock_key(str(connection.execute(text("select current_schema()")).scalar()), name)
            held = bool(connection.execute(text("select pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            while wait and not held:
                if should_stop():
                    raise CycleInterruptedError(f"{name}: stopped while another replica held it")
                time.sleep(poll_seconds)
                held = bool(connection.execute(text("select pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            lease = Lease(name, held, connection, key)
            try:
                yield lease
            finally:
                if lease.held:
                    with contextlib.suppress(Exception):
                        connection.execute(text("select pg_advisory_unlock(:key)"), {"key": key})

    def ping(self) -> None:
        """One round trip to the database; raises what the driver raises when it does not answer."""
        with self.db.connect() as connection:
            connection.execute(text("select 1"))

    def sqlite_file(self) -> Path | None:
        """The database file of a SQLite store (None for PostgreSQL or an in-memory database)."""
        database = self.db.url.database
        if self._dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database).resolve()

    def display_url(self) -> str:
        """The store's URL with any password hidden, for logs and messages."""
        return self.db.url.render_as_string(hide_password=True)
