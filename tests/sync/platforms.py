"""One face for every platform's sandbox, so the cycle suite runs unchanged against each.

An adapter knows how to seed its sandbox, build its connector, read back what a
salesperson would see (leadscore's fields and list members per contact), make a
contact show high intent, hand-edit a score, and count write calls.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from leadscore.connectors.brevo import BrevoConnector
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.salesforce import SalesforceConnector
from leadscore.engine import engines, load_model_file
from leadscore.protocol import Connector, WriteTargets
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from leadscore.sync.plan import write_targets
from leadscore_sandbox._http import SandboxServer
from leadscore_sandbox.brevo import BrevoSandbox
from leadscore_sandbox.brevo import Limits as BrevoLimits
from leadscore_sandbox.brevo_seed import seed_brevo
from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot import Limits as HubSpotLimits
from leadscore_sandbox.hubspot_seed import NEWSLETTER_CAMPAIGN, seed_hubspot
from leadscore_sandbox.salesforce import SalesforceSandbox, stamp
from leadscore_sandbox.salesforce_seed import seed_salesforce
from tests.conftest import DEFAULT_MODEL, TARGETS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000
FIELDS = ("score", "grade", "band", "label", "reasons")
BREVO_FAST = BrevoLimits(
    contacts_per_second=100_000,
    contacts_per_hour=10**8,
    smtp_per_hour=10**6,
    other_per_hour=10**6,
    process_polls_until_done=0,
)
BREVO_CONNECTOR_FAST = {"limits": {"process_poll_seconds": 0, "max_wait_seconds": 0.2}}


class Platform(Protocol):
    name: str
    throttles_with_429: bool
    """Salesforce has no 429: its sandbox injects 503 SERVER_UNAVAILABLE instead."""
    sandbox: SandboxServer

    def connector(self, targets: WriteTargets = TARGETS, **overrides: Any) -> Connector: ...

    def seed(self, contacts: int, seed: int) -> None: ...

    def contact_ids(self) -> list[str]: ...

    def shown(self, contact_id: str) -> dict[str, str | None]: ...

    def members(self, band: str, model: str = "lead") -> set[str]: ...

    def high_intent(self, contact_id: str, store: SQLStore) -> None: ...

    def hand_edit(self, contact_id: str, score: str) -> None: ...

    def write_calls(self) -> int: ...

    def source(self) -> dict[str, Any]:
        """The sources-file entry that points leadscore at this sandbox."""
        ...

    def add_odd(self) -> tuple[str, str]:
        """Two records with data real accounts hold: (no usable email, a company size that is not a number)."""
        ...

    def add_with_fields(self, email: str, seats: Any, industry: str) -> str:
        """A person with a custom number field (seats) whose company (an associated record) has an industry."""
        ...

    def field_mapping(self) -> dict[str, Any]:
        """The mapping overrides that feed the model fields ``seats`` and ``company.industry``."""
        ...

    def add_person(self, email: str, **profile: str) -> str:
        """A record of someone who may also be in another platform; ``profile`` in leadscore's field names
        (industry, job_title, country)."""
        ...


class HubSpotPlatform:
    name = "hubspot"
    throttles_with_429 = True

    def __init__(self) -> None:
        self.sandbox = HubSpotSandbox(limits=HubSpotLimits(per_ten_seconds=100_000, search_per_second=100_000)).start()
        ticks = itertools.count(NOW_MS)
        self.sandbox.clock_ms = lambda: next(ticks)

    def connector(self, targets: WriteTargets = TARGETS, **overrides: Any) -> Connector:
        mapping = {"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN], **overrides}
        return HubSpotConnector("hubspot", self.sandbox.url, "sandbox-token", targets, mapping, clock_ms=lambda: NOW_MS)

    def seed(self, contacts: int, seed: int) -> None:
        seed_hubspot(self.sandbox, contacts, seed=seed, now_ms=NOW_MS - DAY_MS)

    def contact_ids(self) -> list[str]:
        return [str(c.id) for c in self.sandbox.live_contacts()]

    def shown(self, contact_id: str) -> dict[str, str | None]:
        properties = self.sandbox.contacts[int(contact_id)].properties
        return {f: _text(properties.get(f"leadscore_{f}")) for f in FIELDS}

    def members(self, band: str, model: str = "lead") -> set[str]:
        found = self.sandbox.list_named(f"leadscore {model} - {band}")
        return {str(m) for m in found.members} if found else set()

    def high_intent(self, contact_id: str, store: SQLStore) -> None:
        for number in range(3):
            at = NOW_MS - number * 1000
            self.sandbox.add_web_event(int(contact_id), "e_submitted_form", at, hs_form_id=f"quote-{number}")
            self.sandbox.add_web_event(
                int(contact_id), "e_visited_page", at, hs_url=f"https://x.example/pricing?{number}"
            )

    def hand_edit(self, contact_id: str, score: str) -> None:
        self.sandbox.touch(int(contact_id), leadscore_score=score)

    def add_odd(self) -> tuple[str, str]:
        nameless = self.sandbox.add_contact({"email": "not-an-email", "firstname": "Nameless"})
        sizeless = self.sandbox.add_contact({"email": "big@corp.example", "numemployees": "lots"})
        return str(nameless), str(sizeless)

    def add_with_fields(self, email: str, seats: Any, industry: str) -> str:
        contact_id = self.sandbox.add_contact({"email": email, "num_seats": seats})
        self.sandbox.associate(contact_id, self.sandbox.add_company({"name": "Firm", "industry": industry}))
        return str(contact_id)

    def field_mapping(self) -> dict[str, Any]:
        return {"profile": {"seats": "num_seats", "company.industry": "company.industry"}}

    def add_person(self, email: str, **profile: str) -> str:
        names = {"industry": "industry", "job_title": "jobtitle", "country": "country"}
        return str(self.sandbox.add_contact({"email": email, **{names[k]: v for k, v in profile.items()}}))

    def source(self) -> dict[str, Any]:
        mapping = {"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]}
        return {"name": self.name, "platform": "hubspot", "base_url": self.sandbox.url, "token": "sandbox-token",
                "mapping": mapping}  # fmt: skip

    def write_calls(self) -> int:
        calls = self.sandbox.log.calls
        return (
            calls["POST /crm/v3/objects/contacts/batch/update"] + calls["PUT /crm/v3/lists/memberships/add-and-remove"]
        )


class BrevoPlatform:
    name = "brevo"
    throttles_with_429 = True

    def __init__(self, **sandbox: Any) -> None:
        self.sandbox = BrevoSandbox(limits=sandbox.pop("limits", BREVO_FAST), **sandbox).start()

    def connector(self, targets: WriteTargets = TARGETS, **overrides: Any) -> Connector:
        mapping = {**BREVO_CONNECTOR_FAST, **overrides}
        return BrevoConnector("brevo", self.sandbox.api_url, "sandbox-key", targets, mapping, clock=lambda: NOW)

    def seed(self, contacts: int, seed: int) -> None:
        seed_brevo(self.sandbox, contacts, seed=seed, now_ms=NOW_MS - DAY_MS)

    def contact_ids(self) -> list[str]:
        return [str(i) for i in sorted(self.sandbox.contacts)]

    def shown(self, contact_id: str) -> dict[str, str | None]:
        attributes = self.sandbox.contacts[int(contact_id)].attributes
        names = {"score": "SCORE", "grade": "GRADE"}
        return {f: _text(attributes.get(names.get(f, f"LEADSCORE_{f.upper()}"))) for f in FIELDS}

    def members(self, band: str, model: str = "lead") -> set[str]:
        found = self.sandbox.list_named(f"leadscore {model} - {band}")
        return {str(m) for m in found["members"]} if found else set()

    def high_intent(self, contact_id: str, store: SQLStore) -> None:
        """Custom events as an automation forwards them to the daemon's webhook endpoint, which keeps them."""
        email = self.sandbox.contacts[int(contact_id)].email
        for number in range(3):
            at = (NOW_MS - number * 1000) // 1000
            store.receive("brevo", {"event": "quote_request", "email": email, "ts_event": at})
            store.receive(
                "brevo",
                {"event": "page_view", "email": email, "ts_event": at, "properties": {"url": f"/pricing?{number}"}},
            )

    def hand_edit(self, contact_id: str, score: str) -> None:
        self.sandbox.touch(int(contact_id), SCORE=float(score))

    def add_odd(self) -> tuple[str, str]:
        # Brevo refuses a malformed address, but holds contacts known only by their SMS number.
        nameless = self.sandbox.add_contact(None, {"FIRSTNAME": "Nameless", "SMS": "33612345678"})
        sizeless = self.sandbox.add_contact("big@corp.example", {"COMPANY_SIZE": "lots"})
        return str(nameless), str(sizeless)

    def add_with_fields(self, email: str, seats: Any, industry: str) -> str:
        self.sandbox.add_attribute("SEATS", "float")
        contact_id = self.sandbox.add_contact(email, {"SEATS": seats})
        self.sandbox.add_company({"name": "Firm", "industry": industry}, [contact_id])
        return str(contact_id)

    def field_mapping(self) -> dict[str, Any]:
        return {"profile": {"seats": "SEATS", "company.industry": "company.industry"}}

    def add_person(self, email: str, **profile: str) -> str:
        names = {"industry": "INDUSTRY", "job_title": "JOB_TITLE", "country": "COUNTRY"}
        return str(self.sandbox.add_contact(email, {names[k]: v for k, v in profile.items()}))

    def source(self) -> dict[str, Any]:
        return {"name": self.name, "platform": "brevo", "base_url": self.sandbox.api_url, "token": "sandbox-key",
                "mapping": BREVO_CONNECTOR_FAST}  # fmt: skip

    def write_calls(self) -> int:
        calls = self.sandbox.log.calls
        return (
            calls["POST /v3/contacts/batch"]
            + sum(n for name, n in calls.items() if name.startswith("POST /v3/contacts/lists/{listId}/contacts/"))
            + calls["POST /v3/contacts/import"]
        )


def shown_everywhere(platform: Platform) -> dict[str, Any]:
    """What a salesperson would see: leadscore's fields on every live record, and each band list's members."""
    return {
        "records": {c: platform.shown(c) for c in platform.contact_ids()},
        "lists": {band: sorted(platform.members(band)) for band in ("New", "Warm", "MQL", "SQL")},
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SalesforcePlatform:
    name = "salesforce"
    throttles_with_429 = False

    def __init__(self, **sandbox: Any) -> None:
        self.sandbox = SalesforceSandbox(**sandbox).start()

    def connector(self, targets: WriteTargets = TARGETS, **overrides: Any) -> Connector:
        mapping = {"limits": {"bulk_poll_seconds": 0}} | overrides
        return SalesforceConnector(
            "salesforce", self.sandbox.url, targets, "sandbox-session", mapping_overrides=mapping
        )

    def seed(self, contacts: int, seed: int) -> None:
        seed_salesforce(self.sandbox, contacts, seed=seed, now_ms=NOW_MS - DAY_MS)

    def contact_ids(self) -> list[str]:
        return [
            record_id
            for sobject in ("Lead", "Contact")
            for record_id, record in self.sandbox.records[sobject].items()
            if not record["IsDeleted"] and not record.get("IsConverted")
        ]

    def shown(self, contact_id: str) -> dict[str, str | None]:
        record = self.sandbox.find(contact_id) or {}
        names = {"score": "Score", "grade": "Grade", "band": "Band", "label": "Label", "reasons": "Reasons"}
        return {f: _text(record.get(f"Leadscore_{names[f]}__c")) for f in FIELDS}

    def members(self, band: str, model: str = "lead") -> set[str]:
        campaign = self.sandbox.campaign_named(f"leadscore {model} - {band}")
        return self.sandbox.members(campaign) if campaign else set()

    def high_intent(self, contact_id: str, store: SQLStore) -> None:
        """Demo-request tasks done just before NOW; Salesforce stamps SystemModstamp itself, at write time."""
        for number in range(3):
            at = NOW_MS - number * 1000
            self.sandbox.add("Task", WhoId=contact_id, Subject=f"Demo {number}", Type="Demo", TaskSubtype="Task",
                             CreatedDate=stamp(at), CompletedDateTime=stamp(at))  # fmt: skip

    def hand_edit(self, contact_id: str, score: str) -> None:
        self.sandbox.touch(contact_id, Leadscore_Score__c=float(score))

    def add_odd(self) -> tuple[str, str]:
        nameless = self.sandbox.add("Lead", Email=None, LastName="Nameless", Company="?")
        sizeless = self.sandbox.add("Lead", Email="big@corp.example", LastName="Big", NumberOfEmployees="lots")
        return nameless, sizeless

    def add_with_fields(self, email: str, seats: Any, industry: str) -> str:
        for sobject in ("Lead", "Contact"):
            self.sandbox.custom_fields[sobject]["Seats__c"] = "double"
        account = self.sandbox.add("Account", Name="Firm", Industry=industry)
        return self.sandbox.add("Contact", Email=email, LastName="Fields", AccountId=account, Seats__c=seats)

    def field_mapping(self) -> dict[str, Any]:
        return {
            "profile": {
                "Contact": {"seats": "Seats__c", "company.industry": "Account.Industry"},
                "Lead": {"seats": "Seats__c", "company.industry": "Industry"},
            }
        }

    def add_person(self, email: str, **profile: str) -> str:
        names = {"industry": "Industry", "job_title": "Title", "country": "Country"}
        fields = {names[k]: v for k, v in profile.items()}
        return self.sandbox.add("Lead", Email=email, LastName="Person", Company="Firm", **fields)

    def source(self) -> dict[str, Any]:
        return {"name": self.name, "platform": "salesforce", "base_url": self.sandbox.url, "token": "sandbox-session",
                "mapping": {"limits": {"bulk_poll_seconds": 0}}}  # fmt: skip

    def write_calls(self) -> int:
        prefix = "/services/data/v59.0"
        calls = self.sandbox.log.calls
        return (
            sum(calls[f"{verb} {prefix}/composite/sobjects"] for verb in ("PATCH", "POST", "DELETE"))
            + calls[f"POST {prefix}/composite"]
            + calls[f"POST {prefix}/jobs/ingest"]
        )


PLATFORMS: dict[str, Callable[..., Platform]] = {
    "hubspot": HubSpotPlatform,
    "brevo": BrevoPlatform,
    "salesforce": SalesforcePlatform,
}


@dataclass
class PlatformRig:
    platform: Platform
    store: SQLStore
    pipeline: Pipeline

    @property
    def connector(self) -> Connector:
        return self.pipeline.connector

    def close(self) -> None:
        """Close the store and the connector, and stop the platform's sandbox."""
        self.store.close()
        self.connector.close()
        self.platform.sandbox.stop()


def build_rig(
    platform: Platform,
    tmp_path: Path,
    name: str,
    contacts: int,
    seed: int,
    model: Path = DEFAULT_MODEL,
    **overrides: Any,
) -> PlatformRig:
    platform.seed(contacts, seed)
    store = SQLStore.open(f"sqlite:///{tmp_path / name}")
    compiled = engines(load_model_file(model))
    pipeline = Pipeline(store, platform.connector(write_targets(compiled), **overrides), compiled, clock=lambda: NOW)
    return PlatformRig(platform, store, pipeline)


def two_models(folder: Path, base: str | None = None, name: str = "two-models.yaml") -> Path:
    """A model file (``base``'s text, else the default model's) with a second model, ``partner``, beside ``lead``:
    the same rules, its own properties and band lists."""
    model = yaml.safe_load(DEFAULT_MODEL.read_text() if base is None else base)
    partner = copy.deepcopy(model["models"]["lead"])
    partner["writes"] = {"score": "partner_score", "grade": "partner_grade", "band": "partner_band"}
    model["models"]["partner"] = partner
    path = folder / name
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return path


def stop_after_saved_pages(pipeline: Pipeline, store: SQLStore, stream: str, pages: int) -> Callable[[], None]:
    """Ask ``pipeline`` to stop once ``pages`` pages of ``stream`` are saved with their cursor, as a SIGTERM
    arriving then would. The cycle reads ahead, so the page after them may have been read already; returns what
    puts the store's own method back."""
    real = store.save_event_page
    saved = itertools.count(1)

    def save_event_page(source: str, name: str, page: Any) -> tuple[int, int]:
        outcome = real(source, name, page)
        if name == stream and next(saved) == pages:
            pipeline.stop.set()
        return outcome

    store.save_event_page = save_event_page  # type: ignore[method-assign]

    def restore() -> None:
        del store.save_event_page

    return restore
