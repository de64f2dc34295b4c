"""The typed shape of connectors/brevo.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Data):
    contacts_per_second: int = Field(10, gt=0)
    contacts_per_hour: int = Field(36_000, gt=0)
    smtp_per_hour: int = Field(300, gt=0)
    other_per_hour: int = Field(100, gt=0)
    contacts_page: int = Field(1000, gt=0, le=1000)
    lists_page: int = Field(50, gt=0, le=50)
    companies_page: int = Field(50, gt=0, le=100)
    deals_page: int = Field(100, gt=0, le=100)
    batch_update: int = Field(100, gt=0)
    list_members: int = Field(150, gt=0, le=150)
    import_threshold: int = Field(2000, gt=0)
    import_rows: int = Field(25_000, gt=0)
    import_bytes: int = Field(8_000_000, gt=0)
    """An import's body at most: Brevo refuses one over 10 MB and advises 8 MB. A row with leadscore's attributes
    takes about 270 bytes, so ``import_rows`` of them stay within it."""
    smtp_events_page: int = Field(5000, gt=0, le=5000)
    export_page: int = Field(5000, gt=0)
    """Rows of a campaign's recipient export read into one page of events (the file itself streams to disk)."""
    process_poll_seconds: float = Field(2, ge=0)
    process_max_polls: int = Field(60, gt=0)
    request_timeout_seconds: float = Field(30, gt=0)
    max_attempts: int = Field(8, gt=0)
    max_wait_seconds: float = Field(60, gt=0)
    max_retry_seconds: float = Field(600, gt=0)
    contacts_overlap: int = Field(10, ge=0)
    modified_margin_seconds: float = Field(2, ge=0)
    transactional_lookback_days: int = Field(1, ge=0)


class BrevoMapping(_Data):
    platform: Literal["brevo"]
    profile: dict[str, str]
    transforms: dict[str, Literal["number_or_range", "words"]] = {}
    writes: dict[str, str] = {}
    folder_name: str
    list_name: str
    campaign_exports: dict[str, str] = {}
    campaign_backfill_days: int = Field(90, ge=0)
    newsletter_tags: tuple[str, ...] = ()
    transactional_events: dict[str, str] = {}
    webhook_events: dict[str, str] = {}
    custom_events: dict[str, str] = {}
    won_deal_stages: tuple[str, ...] = ()
    """Names of the deal stages that mean won: a deal entering one is a conversion of its linked contacts (the
    outcome a backtest of the store reads). Empty: deals are not read."""
    limits: Limits = Limits()

    def write_name(self, neutral: str) -> str:
        return self.writes.get(neutral, neutral).upper()
