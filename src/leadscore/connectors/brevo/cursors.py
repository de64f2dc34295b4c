"""Where each Brevo stream stands, saved with the page it ends (see connector.py for how each is read)."""

from __future__ import annotations

from dataclasses import dataclass

from leadscore.protocol import JsonObject, SavedCursor


@dataclass(frozen=True, slots=True)
class ContactsPass:
    """A pass over contacts modified since ``since`` (Brevo's clock); ``offset`` and ``pass_started`` while one is
    under way (the next pass starts from when this one did)."""

    since: str | None = None
    offset: int = 0
    pass_started: str | None = None

    def to_json(self) -> JsonObject:
        if self.pass_started is None:
            return {"since": self.since}
        return {"since": self.since, "offset": self.offset, "pass_started": self.pass_started}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> ContactsPass:
        saved = saved or {}
        since, started = saved.get("since"), saved.get("pass_started")
        return cls(
            None if since is None else str(since),
            int(saved.get("offset") or 0),
            None if started is None else str(started),
        )


@dataclass(frozen=True, slots=True)
class ReportDay:
    """The transactional event report was read through this ISO day; mid-report, ``offset`` is the next page's
    offset and ``reading`` the (first, last) days of the report being read."""

    day: str | None = None
    offset: int = 0
    reading: tuple[str, str] | None = None

    def to_json(self) -> JsonObject:
        if self.reading is not None:
            return {"day": self.day, "offset": self.offset, "reading": list(self.reading)}
        return {"day": self.day} if self.day else {}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> ReportDay:
        saved = saved or {}
        day, reading = saved.get("day"), saved.get("reading")
        days = (str(reading[0]), str(reading[1])) if isinstance(reading, list) and len(reading) == 2 else None
        return cls(None if day is None else str(day), int(saved.get("offset") or 0), days)


@dataclass(frozen=True, slots=True)
class CampaignExports:
    """Which recipient types of which campaigns are exported and stored."""

    done: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def has(self, campaign: str, recipients: str) -> bool:
        return recipients in dict(self.done).get(campaign, ())

    def with_done(self, campaign: str, recipients: str) -> CampaignExports:
        done = dict(self.done)
        done[campaign] = (*done.get(campaign, ()), recipients)
        return CampaignExports(tuple(done.items()))

    def to_json(self) -> JsonObject:
        return {"done": {campaign: list(types) for campaign, types in self.done}}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> CampaignExports:
        done = (saved or {}).get("done") or {}
        return cls(tuple((str(k), tuple(str(t) for t in v)) for k, v in done.items()))


@dataclass(frozen=True, slots=True)
class DealsPass:
    """The won deals were read through this ISO day; mid-read, ``offset`` is the next page's offset. Deals are
    re-read whole (a deal moves stage without a modified-since filter to find it), at most once a day."""

    day: str | None = None
    offset: int = 0
    reading: bool = False

    def to_json(self) -> JsonObject:
        if self.reading:
            return {"day": self.day, "offset": self.offset, "reading": True}
        return {"day": self.day} if self.day else {}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> DealsPass:
        saved = saved or {}
        day = saved.get("day")
        return cls(None if day is None else str(day), int(saved.get("offset") or 0), bool(saved.get("reading")))
