"""Error resolution tables: what a platform's answer means for the caller, one row per (status, code).

Each platform keeps its table beside its client (Airbyte's error-resolution idea):
the first row whose status and platform code match an answer decides the action,
so what leadscore does with a 403 or a 503 is read off one table, and tested row
by row, instead of being spread over the client's branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    RETRY = "retry"
    """Transient (a 5xx, a timeout): retry with backoff."""
    WAIT = "wait"
    """Rate limited: wait for the window the platform names, then retry."""
    REFRESH = "refresh"
    """The session or token expired: renew it once and replay; refused again, the credentials are wrong."""
    PAUSE = "pause"
    """A daily or hourly budget is spent: stop this source until the platform's window frees calls."""
    CREDENTIALS = "credentials"
    """The credentials or their scopes are refused: nothing retries this; the user must fix them."""
    SPLIT = "split"
    """One bad record refused a whole batch: split the batch until the bad one stands alone."""
    READ = "read"
    """An answer the caller reads itself (a 400 or 404 some calls expect, a partial-success 207)."""
    FAIL = "fail"
    """Anything else: fail with the platform's own message."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """One row: answers with a status in ``statuses`` (empty: any) and a ``code`` (None: any), on an endpoint
    ending with ``endpoint_suffix`` (empty: any), resolve to ``action``."""

    statuses: tuple[int, ...]
    code: str | None
    action: Action
    why: str
    endpoint_suffix: str = ""

    def matches(self, status: int, code: str, endpoint: str) -> bool:
        return (
            (not self.statuses or status in self.statuses)
            and (self.code is None or self.code == code)
            and endpoint.endswith(self.endpoint_suffix)
        )


SERVER_ERRORS = tuple(range(500, 600))


def resolve(table: Sequence[Resolution], status: int, code: str = "", endpoint: str = "") -> Resolution:
    """The first row that matches; a table ends with a catch-all row, so there always is one."""
    for row in table:
        if row.matches(status, code, endpoint):
            return row
    raise LookupError(f"no row for status {status} code {code!r}: the table needs a catch-all last row")
