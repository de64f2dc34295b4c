"""The typed shape of connectors/hubspot.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventRule(_Data):
    """Maps a platform event to a canonical action; ``property``/``contains`` narrow it."""

    event_type: str | None = None
    type: str | None = None
    property: str | None = None
    contains: str | None = None
    action: str


class CounterRule(_Data):
    property: str
    action: str


class PropertyGroup(_Data):
    name: str
    label: str


class Limits(_Data):
    per_ten_seconds: int = Field(190, gt=0)
    daily: int = Field(625_000, gt=0)
    daily_reserve_share: float = Field(0.05, ge=0, lt=1)
    search_per_second: int = Field(5, gt=0)
    search_page: int = Field(200, gt=0, le=200)
    search_lookback_seconds: float = Field(300, ge=0)
    """Each incremental read re-reads this window before its cursor: search indexes a change seconds to minutes
    after it is made, so a record can appear behind one already read."""
    recent_kept: int = Field(5_000, gt=0)
    """Records of the look-back window the cursor remembers, so that re-reading the window skips them."""
    list_page: int = Field(100, gt=0, le=100)
    relist_from_records: int = Field(2_000, gt=0)
    """An incremental read of at least this many records goes by the list endpoint when paging the whole portal
    there is quicker at the pace of each (after a large write, HubSpot reports every written record modified)."""
    batch_update: int = Field(100, gt=0, le=100)
    writes_in_flight: int = Field(3, gt=0, le=10)
    """Batch updates sent at once (the call budget still paces them): one call's round trip overlaps the saving of
    the one before, so writes keep HubSpot's pace from far away too. 1 sends one at a time."""
    list_membership: int = Field(10_000, gt=0)
    events_page: int = Field(100, gt=0)
    email_events_page: int = Field(1000, gt=0)
    request_timeout_seconds: float = Field(30, gt=0)
    max_attempts: int = Field(8, gt=0)
    max_wait_seconds: float = Field(60, gt=0)
    max_retry_seconds: float = Field(600, gt=0)
    event_lookback_seconds: int = Field(300, ge=0)


class HubSpotMapping(_Data):
    platform: Literal["hubspot"]
    profile: dict[str, str]
    transforms: dict[str, Literal["number_or_range", "enum_words"]] = {}
    writes: dict[str, str] = {}
    property_group: PropertyGroup
    list_name: str
    web_events: tuple[EventRule, ...] = ()
    web_event_attributes: dict[str, str] = {}
    email_events: tuple[EventRule, ...] = ()
    newsletter_campaign_ids: tuple[int, ...] = ()
    counters: tuple[CounterRule, ...] = ()
    disabled_streams: tuple[Literal["web_events", "email_events"], ...] = ()
    """Event streams not to read at all (a portal without the API, or events not wanted)."""
    limits: Limits = Limits()

    def write_name(self, neutral: str) -> str:
        return self.writes.get(neutral, neutral)
