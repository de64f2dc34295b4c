"""Where each HubSpot stream stands, saved with the page it ends (see connector.py for how each is read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadscore.protocol import JsonObject, SavedCursor


@dataclass(frozen=True, slots=True)
class Backfill:
    """The first run's pass over the list endpoint: when it began, and the paging token to go on from."""

    started_ms: int
    after: str | None = None

    def to_json(self) -> JsonObject:
        return {"backfill": {"started_ms": self.started_ms, "after": self.after}}


@dataclass(frozen=True, slots=True)
class Modified:
    """Everything modified before ``ts`` (epoch ms), and everything at ``ts`` with an id up to ``after_id``, is read;
    ``recent`` holds (id, modified ms) of the records read in the look-back window before ``ts``, so re-reading the
    window (search's index lags) hands on only what was not read yet."""

    ts: int
    after_id: str | None = None
    recent: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> JsonObject:
        return {"ts": self.ts, "after_id": self.after_id, "recent": [list(pair) for pair in self.recent]}


ContactsCursor = Backfill | Modified


def contacts_cursor(saved: SavedCursor | None) -> ContactsCursor | None:
    if not saved:
        return None
    if "ts" in saved:
        recent = tuple((str(pair[0]), int(pair[1])) for pair in saved.get("recent") or () if len(pair) == 2)
        return Modified(int(saved["ts"]), _text(saved.get("after_id")), recent)
    backfill = saved.get("backfill") or {}
    if "started_ms" not in backfill:
        return None
    return Backfill(int(backfill["started_ms"]), _text(backfill.get("after")))


@dataclass(frozen=True, slots=True)
class WebEvents:
    """Web-analytics events after ``occurred_after`` (ISO; None: from the start) are still to read; mid-stream,
    ``after`` is the next page's token and ``newest`` the newest event time read so far, so an interrupted read
    goes on from the next page instead of from the first."""

    occurred_after: str | None = None
    after: str | None = None
    newest: str | None = None

    def to_json(self) -> JsonObject:
        if self.after is None:
            return {"occurred_after": self.occurred_after}
        return {"occurred_after": self.occurred_after, "after": self.after, "newest": self.newest}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> WebEvents:
        saved = saved or {}
        return cls(_text(saved.get("occurred_after")), _text(saved.get("after")), _text(saved.get("newest")))


@dataclass(frozen=True, slots=True)
class EmailEvents:
    """Email events created at or after ``start_ms`` (epoch ms) are still to read; mid-stream, ``offset`` is the
    next page's token and ``newest_ms`` the newest creation time read so far."""

    start_ms: int = 0
    offset: str | None = None
    newest_ms: int = 0

    def to_json(self) -> JsonObject:
        if self.offset is None:
            return {"start_ms": self.start_ms}
        return {"start_ms": self.start_ms, "offset": self.offset, "newest_ms": self.newest_ms}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> EmailEvents:
        saved = saved or {}
        return cls(int(saved.get("start_ms") or 0), _text(saved.get("offset")), int(saved.get("newest_ms") or 0))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
