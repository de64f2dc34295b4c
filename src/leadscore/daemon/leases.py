"""One replica syncs a source at a time.

PostgreSQL: a session-level advisory lock per source, held on its own
connection for the length of the cycle; if the holder dies, its connection
drops, the lock goes with it, and another replica takes the source on its next
scheduled run. SQLite: the file belongs to one daemon; a second one refuses to
start (an OS file lock beside the database, released by the OS if we die).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import text

from leadscore.errors import ConfigError
from leadscore.store import SQLStore


def lock_key(namespace: str, source: str) -> int:
    """A stable signed 64-bit key per store schema and source (advisory locks take a bigint and are database-wide,
    so two installations in different schemas of one database must not share keys)."""
    digest = hashlib.sha256(f"leadscore:{namespace}:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def source_lease(store: SQLStore, source: str) -> Iterator[bool]:
    """Yields True when this replica may sync ``source`` now; never blocks."""
    if store.db.dialect.name != "postgresql":
        yield True
        return
    with store.db.connect() as connection:
        key = lock_key(str(connection.execute(text("select current_schema()")).scalar()), source)
        held = bool(connection.execute(text("select pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        try:
            yield held
        finally:
            if held:
                connection.execute(text("select pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


class SingleDaemonLock:
    """An exclusive OS lock beside a SQLite store; PostgreSQL stores need none (they use leases)."""

    def __init__(self, store: SQLStore) -> None:
        self.handle: IO[str] | None = None
        database = store.db.url.database
        if store.db.dialect.name != "sqlite" or not database or database == ":memory:":
            return
        path = Path(database).resolve().with_suffix(".daemon.lock")
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(
                f"another leadscore daemon is already running on {database} (lock {path}); a SQLite store serves "
                "one daemon. Stop the other one, or use PostgreSQL (LEADSCORE_STATE_URL) to run several replicas"
            ) from None
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
