"""One daemon per SQLite file: a second one refuses to start (an OS file lock beside the database, released by the
OS if the daemon dies). PostgreSQL stores need none; replicas share them through the store's per-source leases."""

from __future__ import annotations

import fcntl
from typing import IO

from leadscore.errors import ConfigError
from leadscore.store import Store


class SingleDaemonLock:
    """An exclusive OS lock beside a SQLite store; PostgreSQL stores need none (they use leases)."""

    def __init__(self, store: Store) -> None:
        self.handle: IO[str] | None = None
        database = store.sqlite_file()
        if database is None:
            return
        path = database.with_suffix(".daemon.lock")
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
