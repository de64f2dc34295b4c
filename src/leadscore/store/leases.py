"""Leases: which replica syncs a source now, and whether the database answers.

PostgreSQL: a session-level advisory lock per source, held on its own
connection for the length of the cycle; if the holder dies, its connection
drops, the lock goes with it, and another replica takes the source on its next
scheduled run. SQLite serves one daemon (its file lock lives beside the file,
see ``sqlite_file``), so every lease is granted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from leadscore.store.base import Tables


def lock_key(namespace: str, source: str) -> int:
    """A stable signed 64-bit key per store schema and source (advisory locks take a bigint and are database-wide,
    so two installations in different schemas of one database must not share keys)."""
    digest = hashlib.sha256(f"leadscore:{namespace}:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeasesStore(Tables):
    """Per-source leases across replicas, and the database's health."""

    @contextmanager
    def source_lease(self, source: str) -> Iterator[bool]:
        """Yields True when this replica may sync ``source`` now; never blocks."""
        if self._dialect != "postgresql":
            yield True
            return
        with self.db.connect() as connection:
            key = lock_key(str(connection.execute(text("select current_schema()")).scalar()), source)
            held = bool(connection.execute(text("select pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("select pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

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
