"""One daemon per SQLite file: a second one refuses to start (an OS file lock beside the database, released by the
OS if the daemon dies). PostgreSQL stores need none; replicas share them through the store's per-source leases."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from leadscore.errors import ConfigError
from leadscore.store import Store


def lock_file(database: Path) -> Path:
    """The lock beside a store file: its whole name and a suffix, so that x.db and x.sqlite lock apart."""
    return database.with_name(f"{database.name}.daemon.lock")


class SingleDaemonLock:
    """An exclusive OS lock beside a SQLite store; PostgreSQL stores need none (they use leases)."""

    def __init__(self, store: Store, *, by_sync: bool = False) -> None:
        """``by_sync``: taken by ``leadscore sync --once``, which must not write beside a running daemon."""
        self.handle: IO[str] | None = None
        database = store.sqlite_file()
        if database is None:
            return
        path = lock_file(database)
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            if by_sync:
                raise ConfigError(
                    f"a leadscore daemon (or another sync) is running on {database} (lock {path}) and syncs its "
                    "sources itself; a sync beside it would send every change twice. Stop it first, or leave the "
                    "syncing to it (a dry run, --dry-run, needs no lock)"
                ) from None
            raise ConfigError(
                f"another leadscore daemon is already running on {database} (lock {path}); a SQLite store serves "
                "one daemon. Stop the other one, or use PostgreSQL (LEADSCORE_STATE_URL) to run several replicas"
            ) from None
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
