"""The typed shape of connectors/salesforce.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivityRule(_Data):
    """A Task, Event or CampaignMember rule; every given test must hold, the first match wins."""

    subtype: str | None = None
    type: str | None = None
    subject_contains: str | None = None
    campaign_type: str | None = None
    status: str | None = None
    action: str


class Limits(_Data):
    collection_size: int = Field(200, gt=0, le=200)
    collections_per_call: int = Field(5, gt=0, le=5)
    bulk_threshold: int = Field(10_000, gt=0)
    daily_reserve_share: float = Field(0.10, ge=0, lt=1)
    bulk_poll_seconds: float = Field(2, ge=0)
    bulk_max_polls: int = Field(300, gt=0)
    request_timeout_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(6, gt=0)
    max_wait_seconds: float = Field(60, gt=0)
    max_retry_seconds: float = Field(600, gt=0)
    lookback_seconds: float = Field(60, ge=0)


class SalesforceMapping(_Data):
    platform: Literal["salesforce"]
    api_version: str = "59.0"
    objects: tuple[Literal["Lead", "Contact"], ...] = ("Lead", "Contact")
    profile: dict[str, dict[str, str]]
    transforms: dict[str, Literal["number_or_range", "words"]] = {}
    writes: dict[str, str] = {}
    manage_fields: bool = False
    campaign_name: str
    member_status: str = "Sent"
    tasks: tuple[ActivityRule, ...] = ()
    events: tuple[ActivityRule, ...] = ()
    campaign_members: tuple[ActivityRule, ...] = ()
    newsletter_campaign_types: tuple[str, ...] = ()
    limits: Limits = Limits()

    def write_name(self, neutral: str) -> str:
        """The field a model's property goes to. One ``writes`` does not list becomes a custom field's API name, as
        the defaults are (``partner_score``: ``Partner_Score__c``): Salesforce names every custom field with
        ``__c``, so a bare name could be neither created nor found. A name already in API form (``__c``, or with
        capitals, as a standard field such as ``Rating``) is kept."""
        if neutral in self.writes:
            return self.writes[neutral]
        if neutral.endswith("__c") or neutral != neutral.lower():
            return neutral
        return "_".join(part.capitalize() for part in neutral.split("_")) + "__c"
