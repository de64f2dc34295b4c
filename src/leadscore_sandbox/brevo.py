"""A stateful imitation of the Brevo API v3 calls leadscore makes, served on loopback.

Shapes follow ../shared/specs/brevo/brevo-api-v3.swagger.yaml and
connectors/brevo.md: contact pages of at most 1,000 with
``modifiedSince`` and creation-order ``sort``; attributes that must exist
before they are written (a value of the wrong type is ignored, as Brevo does);
folders and static lists; list adds/removes of at most 150; a batch update that
either fails whole with ``404 document_not_found`` naming the indexes (what
users met) or answers 207 with success and failure ids (what later docs
describe); imports and exports as processes; per-campaign recipient exports;
transactional event reports; the three per-endpoint rate-limit groups with
Brevo's ``x-sib-ratelimit-*`` headers and 429 without Retry-After.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from leadscore_sandbox._http import Request, Response, SandboxServer

API = "/v3"
ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "id", "category", "multiple-choice")
RECIPIENT_TYPES = (
    "openers",
    "clickers",
    "unsubscribed",
    "hardBounces",
    "softBounces",
    "all",
    "nonOpeners",
    "nonClickers",
)


DEFAULT_STAGES = ("New", "Qualified", "Proposal", "Won", "Lost")
"""The stages of the sandbox's one pipeline; an account names its own."""


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def error(status: int, code: str, message: str) -> Response:
    """Brevo's errorModel: ``{"code", "message"}``."""
    return Response(status, {"code": code, "message": message})


@dataclass
class Limits:
    """Brevo's "General" tier (connectors/brevo.md, "Limits"), and page and batch limits; all adjustable."""

    contacts_per_second: int = 10
    contacts_per_hour: int = 36_000
    smtp_per_hour: int = 300
    other_per_hour: int = 100
    contacts_page_max: int = 1000
    lists_page_max: int = 50
    list_members_max: int = 150
    batch_max: int = 100
    campaigns_page_max: int = 100
    companies_page_max: int = 100
    deals_page_max: int = 100
    smtp_events_page_max: int = 5000
    import_body_max_bytes: int = 10 * 1024 * 1024
    process_polls_until_done: int = 1
    imports_after_answer: bool = False
    """Apply an import after answering 202, one import after another, as Brevo does (it queues the file); a later
    read of contacts waits until the imports before it are applied. Off: applied before the answer, so a test
    reads the result as soon as the call returns."""


@dataclass
class BrevoContact:
    id: int
    email: str | None
    """None for a contact known by its SMS number alone, which Brevo allows."""
    attributes: dict[str, Any]
    created_ms: int
    modified_ms: int
    list_ids: set[int] = field(default_factory=set)
    email_blacklisted: bool = False


@dataclass
class Campaign:
    id: int
    name: str
    tag: str
    sent_ms: int
    recipients: dict[str, set[str]] = field(default_factory=dict)
    """Recipient type (openers, clickers, unsubscribed, hardBounces) -> emails."""

    def stats(self) -> dict[str, int]:
        """Brevo's getCampaignStats counters, from the recipients the sandbox knows."""
        count = {kind: len(emails) for kind, emails in self.recipients.items()}
        opened, clicked = count.get("openers", 0), count.get("clickers", 0)
        return {
            "uniqueClicks": clicked,
            "clickers": clicked,
            "complaints": 0,
            "delivered": opened,
            "sent": opened,
            "softBounces": count.get("softBounces", 0),
            "hardBounces": count.get("hardBounces", 0),
            "uniqueViews": opened,
            "trackableViews": opened,
            "unsubscriptions": count.get("unsubscribed", 0),
            "viewed": opened,
        }


@dataclass
class Process:
    id: int
    name: str
    polls_left: int
    export_url: str | None = None


class _Group:
    """One rate-limit group: sliding windows, checked and recorded together."""

    def __init__(self, windows: list[tuple[int, float]]) -> None:
        self.windows = [(limit, seconds, deque[float]()) for limit, seconds in windows]

    def take(self, now: float) -> tuple[bool, int, int, float]:
        """(allowed, limit, remaining, seconds to reset) for the tightest window."""
        tightest: tuple[int, int, float] | None = None
        allowed = True
        for limit, seconds, sent in self.windows:
            while sent and now - sent[0] >= seconds:
                sent.popleft()
            remaining = limit - len(sent)
            reset = (sent[0] + seconds - now) if sent else seconds
            if remaining <= 0:
                allowed = False
            if tightest is None or remaining < tightest[1]:
                tightest = (limit, remaining, reset)
        if allowed:
            for _, _, sent in self.windows:
                sent.append(now)
        assert tightest is not None
        limit, remaining, reset = tightest
        return allowed, limit, max(0, remaining - (1 if allowed else 0)), max(0.0, reset)


class BrevoSandbox(SandboxServer):
    """Brevo for one account: contacts, attributes, folders, lists, campaigns, transactional events, processes."""

    sends_retry_after = False

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        batch_mode: Literal["strict", "partial"] = "strict",
    ) -> None:
        super().__init__(host, port)
        self.limits = limits or Limits()
        self.batch_mode = batch_mode
        self.api_keys: set[str] = {"sandbox-key"}
        self.contacts: dict[int, BrevoContact] = {}
        self._by_email: dict[str, int] = {}
        self.attributes: dict[str, dict[str, Any]] = {}
        self.folders: dict[int, str] = {}
        self.lists: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, Campaign] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        """Company id -> {"attributes": {...}, "linkedContactsIds": [...]}, as the companies API shows them."""
        self.crm = True
        """False: an account without the sales CRM, whose deal and pipeline calls are refused."""
        self._imports: queue.Queue[Callable[[], None]] = queue.Queue()
        """Imports answered and not applied yet (``Limits.imports_after_answer``)."""
        self._importer: threading.Thread | None = None
        self.pipelines: dict[str, dict[str, Any]] = {
            "5ea675e3da0dd085acaea610": {
                "pipeline_name": "Sales Pipeline",
                "stages": [{"id": f"stage-{n}", "name": name} for n, name in enumerate(DEFAULT_STAGES)],
            }
        }
        self.deals: dict[str, dict[str, Any]] = {}
        """Deal id -> {"attributes": {...}, "linkedContactsIds": [...], "linkedCompaniesIds": [...]}."""
        self.smtp_events: list[dict[str, Any]] = []
        self._smtp_by_date: list[dict[str, Any]] = []
        """The events sorted by date once per growth of the (append-only) log, not once per page."""
        self.processes: dict[int, Process] = {}
        self.exports: dict[str, bytes] = {}
        self.bodies: list[tuple[str, Any]] = []
        """(endpoint, request body) of every write, for tests that check what was sent."""
        self.clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
        self._ids = itertools.count(1)
        self._creation_order: list[BrevoContact] | None = None
        self._groups = self._make_groups()
        for name, kind in (("FIRSTNAME", "text"), ("LASTNAME", "text"), ("SMS", "text")):
            self.attributes[name] = {"name": name, "category": "normal", "type": kind}
        self._routes_setup()

    @property
    def api_url(self) -> str:
        return self.url + API

    def _make_groups(self) -> dict[str, _Group]:
        limits = self.limits
        return {
            "contacts": _Group([(limits.contacts_per_second, 1.0), (limits.contacts_per_hour, 3600.0)]),
            "smtp": _Group([(limits.smtp_per_hour, 3600.0)]),
            "other": _Group([(limits.other_per_hour, 3600.0)]),
        }

    def spend(self, group: str, calls: int) -> None:
        """Another integration on the same account uses ``calls`` of a group's budget (they share it)."""
        now = time.monotonic()
        for _ in range(calls):
            self._groups[group].take(now)

    def reset_rate_limits(self) -> None:
        self._groups = self._make_groups()

    # --- state helpers for seeds and tests ----------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_attribute(self, name: str, kind: str, category: str = "normal") -> None:
        self.attributes[name] = {"name": name, "category": category, "type": kind}

    def add_contact(
        self, email: str | None, attributes: dict[str, Any] | None = None, modified_ms: int | None = None
    ) -> int:
        moment = self.clock_ms() if modified_ms is None else modified_ms
        contact_id = self.next_id()
        address = None if email is None else email.lower()
        self.contacts[contact_id] = BrevoContact(contact_id, address, dict(attributes or {}), moment, moment)
        self._creation_order = None
        if address is not None:
            self._by_email[address] = contact_id
        return contact_id

    def add_company(self, attributes: dict[str, Any], linked_contacts: list[int]) -> str:
        company_id = f"{next(self._ids):024x}"
        self.companies[company_id] = {"attributes": dict(attributes), "linkedContactsIds": list(linked_contacts)}
        return company_id

    def add_deal(self, name: str, stage: str, linked_contacts: list[int], stage_ms: int | None = None) -> str:
        """A deal in the default pipeline at the stage named ``stage``, entered at ``stage_ms``."""
        pipeline_id, pipeline = next(iter(self.pipelines.items()))
        stage_id = next(s["id"] for s in pipeline["stages"] if s["name"] == stage)
        moment = iso(self.clock_ms() if stage_ms is None else stage_ms)
        deal_id = f"{next(self._ids):024x}"
        self.deals[deal_id] = {
            "attributes": {
                "deal_name": name, "pipeline": pipeline_id, "deal_stage": stage_id, "stage_updated_at": moment,
                "created_at": moment, "last_updated_date": moment, "number_of_contacts": len(linked_contacts),
            },
            "linkedContactsIds": list(linked_contacts),
            "linkedCompaniesIds": [],
        }  # fmt: skip
        return deal_id

    def touch(self, contact_id: int, **attributes: Any) -> None:
        """A person edits the contact in Brevo's UI (or a form updates it)."""
        contact = self.contacts[contact_id]
        contact.attributes.update(attributes)
        contact.modified_ms = self.clock_ms()

    def change_email(self, contact_id: int, email: str) -> None:
        contact = self.contacts[contact_id]
        if contact.email is not None:
            self._by_email.pop(contact.email, None)
        contact.email = email.lower()
        self._by_email[contact.email] = contact_id
        contact.modified_ms = self.clock_ms()

    def delete_contact(self, contact_id: int) -> None:
        gone = self.contacts.pop(contact_id, None)
        self._creation_order = None
        if gone is not None and gone.email is not None:
            self._by_email.pop(gone.email, None)
        for found in self.lists.values():
            found["members"].discard(contact_id)

    def delete_list(self, list_id: int) -> None:
        """A user deletes a list in the UI; members' records are not modified (Brevo does not touch them)."""
        self.lists.pop(list_id)
        for contact in self.contacts.values():
            contact.list_ids.discard(list_id)

    def list_named(self, name: str) -> dict[str, Any] | None:
        return next((found for found in self.lists.values() if found["name"] == name), None)

    def add_campaign(self, name: str, sent_ms: int, tag: str = "") -> int:
        campaign_id = self.next_id()
        self.campaigns[campaign_id] = Campaign(campaign_id, name, tag, sent_ms)
        return campaign_id

    def add_recipient(self, campaign_id: int, recipients_type: str, email: str) -> None:
        self.campaigns[campaign_id].recipients.setdefault(recipients_type, set()).add(email.lower())

    def add_smtp_event(self, email: str, event: str, at_ms: int, **extra: Any) -> None:
        self.smtp_events.append(
            {
                "email": email,
                "date": iso(at_ms),
                "messageId": extra.pop("messageId", f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"),
                "event": event,
                **extra,
            }
        )

    def by_email(self, email: str) -> BrevoContact | None:
        contact_id = self._by_email.get(email.lower())
        return self.contacts.get(contact_id) if contact_id is not None else None

    def _find(self, identifier: Any) -> BrevoContact | None:
        if isinstance(identifier, int) or (isinstance(identifier, str) and identifier.isdigit()):
            return self.contacts.get(int(identifier))
        return self.by_email(str(identifier))

    # --- rate limits, auth and headers ----------------------------------------------------------

    @staticmethod
    def group_of(endpoint: str) -> str | None:
        path = endpoint
        if path.startswith(API + "/contacts"):
            return "contacts"
        if path.startswith(API + "/smtp"):
            return "smtp"
        if path.startswith(API):
            return "other"
        return None

    def before(self, request: Request, endpoint: str) -> Response | None:
        group = self.group_of(endpoint)
        if group is None:
            return None
        if request.headers.get("api-key") not in self.api_keys:
            return error(401, "unauthorized", "Key not found")
        allowed, limit, remaining, reset = self._groups[group].take(time.monotonic())
        headers = {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": str(remaining),
            "x-sib-ratelimit-reset": f"{max(1, round(reset + 0.499))}",
        }
        request.headers["x-sandbox-rate"] = json.dumps(headers)
        if not allowed:
            return Response(429, {"code": "too_many_requests", "message": "The expected rate limit is exceeded."})
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> None:
        rate = request.headers.get("x-sandbox-rate")
        if rate:
            response.headers.update(json.loads(rate))
        if request.method in ("POST", "PUT", "DELETE") and response.status < 500:
            self.bodies.append((f"{request.method} {endpoint}", request.body))

    def injected_429(self) -> Response:
        """Brevo sends no Retry-After; the fault's wait goes in the reset header instead (the server drops the
        Retry-After the fault knob adds)."""
        reset = self.faults.retry_after_seconds or 1
        return Response(
            429,
            {"code": "too_many_requests", "message": "The expected rate limit is exceeded."},
            {"x-sib-ratelimit-limit": "10", "x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": f"{reset:g}"},
        )

    def injected_5xx(self) -> Response:
        return error(502, "bad_gateway", "Bad Gateway")

    def not_found(self) -> Response:
        return error(404, "document_not_found", "Not found")

    # --- routes ----------------------------------------------------------------------------------

    def _routes_setup(self) -> None:
        route = self.route
        route("GET", API + "/contacts", API + "/contacts")(self._get_contacts)
        route("GET", API + "/contacts/attributes", API + "/contacts/attributes")(self._get_attributes)
        route("POST", API + "/contacts/attributes/{category}/{name}", API + "/contacts/attributes/{category}/{name}")(
            self._create_attribute
        )
        route("POST", API + "/contacts/batch", API + "/contacts/batch")(self._batch_update)
        route("POST", API + "/contacts/import", API + "/contacts/import")(self._import)
        route("GET", API + "/contacts/folders", API + "/contacts/folders")(self._get_folders)
        route("POST", API + "/contacts/folders", API + "/contacts/folders")(self._create_folder)
        route("GET", API + "/contacts/folders/{folder}/lists", API + "/contacts/folders/{folderId}/lists")(
            self._folder_lists
        )
        route("POST", API + "/contacts/lists", API + "/contacts/lists")(self._create_list)
        route("POST", API + "/contacts/lists/{list}/contacts/add", API + "/contacts/lists/{listId}/contacts/add")(
            self._list_add
        )
        route("POST", API + "/contacts/lists/{list}/contacts/remove", API + "/contacts/lists/{listId}/contacts/remove")(
            self._list_remove
        )
        route("GET", API + "/contacts/{identifier}", API + "/contacts/{identifier}")(self._get_contact)
        route("GET", API + "/emailCampaigns", API + "/emailCampaigns")(self._get_campaigns)
        route("GET", API + "/companies", API + "/companies")(self._get_companies)
        route("GET", API + "/crm/pipeline/details/all", API + "/crm/pipeline/details/all")(self._get_pipelines)
        route("GET", API + "/crm/deals", API + "/crm/deals")(self._get_deals)
        route(
            "POST",
            API + "/emailCampaigns/{campaign}/exportRecipients",
            API + "/emailCampaigns/{campaignId}/exportRecipients",
        )(self._export_recipients)
        route("GET", API + "/processes/{process}", API + "/processes/{processId}")(self._get_process)
        route("GET", API + "/smtp/statistics/events", API + "/smtp/statistics/events")(self._smtp_events)
        route("GET", "/exports/{name}", "export file")(self._download)

    def _contact_json(self, contact: BrevoContact) -> dict[str, Any]:
        return {
            **({} if contact.email is None else {"email": contact.email}),
            "id": contact.id,
            "emailBlacklisted": contact.email_blacklisted,
            "smsBlacklisted": False,
            "createdAt": iso(contact.created_ms),
            "modifiedAt": iso(contact.modified_ms),
            "listIds": sorted(contact.list_ids),
            "attributes": dict(contact.attributes),
        }

    def _get_contacts(self, request: Request) -> Response:
        try:
            limit = int(request.arg("limit", "50") or 50)
            offset = int(request.arg("offset", "0") or 0)
        except ValueError:
            return error(400, "invalid_parameter", "limit and offset must be integers")
        if not 0 <= limit <= self.limits.contacts_page_max:
            return error(400, "out_of_range", f"Limit exceeds max value {self.limits.contacts_page_max}")
        since = request.arg("modifiedSince")
        rows = self._by_creation()
        if since is not None:
            try:
                since_ms = parse_iso(since)
            except ValueError:
                return error(400, "invalid_parameter", "modifiedSince must be YYYY-MM-DDTHH:mm:ss.SSSZ")
            rows = [c for c in rows if c.modified_ms >= since_ms]
        if request.arg("sort", "desc") == "desc":
            rows = rows[::-1]
        page = rows[offset : offset + limit]
        return Response(200, {"contacts": [self._contact_json(c) for c in page], "count": len(rows)})

    def _by_creation(self) -> list[BrevoContact]:
        """Contacts oldest first, sorted once per change of the account's membership rather than per page (as
        Brevo's own index would): a sort of 100,000 per page made the sandbox slower than the pace it enforces."""
        if self._creation_order is None:
            self._creation_order = sorted(self.contacts.values(), key=lambda c: (c.created_ms, c.id))
        return self._creation_order

    def _get_contact(self, request: Request) -> Response:
        contact = self._find(request.params["identifier"])
        if contact is None:
            return error(404, "document_not_found", "Contact does not exist")
        return Response(200, self._contact_json(contact))

    def _get_attributes(self, request: Request) -> Response:
        return Response(200, {"attributes": list(self.attributes.values())})

    def _create_attribute(self, request: Request) -> Response:
        name = request.params["name"]
        kind = (request.body or {}).get("type")
        if kind not in ATTRIBUTE_TYPES:
            return error(400, "invalid_parameter", f"type must be one of {', '.join(ATTRIBUTE_TYPES)}")
        if name.upper() in self.attributes:
            return error(400, "invalid_parameter", "Attribute name must be unique")
        self.add_attribute(name.upper(), kind, request.params["category"])
        return Response(201)

    def _stored_value(self, name: str, value: Any) -> tuple[bool, Any]:
        """Whether Brevo keeps a value for the attribute, and as what: a wrong type is silently ignored."""
        found = self.attributes.get(name)
        if found is None:
            return False, None
        kind = found["type"]
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False, None
            return True, int(value) if float(value).is_integer() else value
        if kind == "date":
            text = str(value) if isinstance(value, str) else ""
            try:
                datetime.strptime(text + "+0000", "%Y-%m-%d%z")
            except ValueError:
                return False, None
            return True, text
        return True, value

    def _write(self, contact: BrevoContact, item: dict[str, Any]) -> None:
        for name, value in (item.get("attributes") or {}).items():
            keep, stored = self._stored_value(name.upper(), value)
            if keep:
                contact.attributes[name.upper()] = stored
        for list_id in item.get("listIds") or ():
            if list_id in self.lists:
                contact.list_ids.add(list_id)
                self.lists[list_id]["members"].add(contact.id)
        for list_id in item.get("unlinkListIds") or ():
            contact.list_ids.discard(list_id)
            if list_id in self.lists:
                self.lists[list_id]["members"].discard(contact.id)
        if "emailBlacklisted" in item:
            contact.email_blacklisted = bool(item["emailBlacklisted"])
        contact.modified_ms = self.clock_ms()

    def _batch_update(self, request: Request) -> Response:
        items = (request.body or {}).get("contacts")
        if not isinstance(items, list) or not items:
            return error(400, "missing_parameter", "contacts is missing")
        if len(items) > self.limits.batch_max:
            return error(400, "out_of_range", f"contacts: at most {self.limits.batch_max} per request")
        unknown_attributes = sorted(
            {n.upper() for item in items for n in (item.get("attributes") or {})} - set(self.attributes)
        )
        if unknown_attributes:
            return error(400, "invalid_parameter", f"Attribute(s) not found: {', '.join(unknown_attributes)}")
        found = [self._find(item.get("id", item.get("email"))) for item in items]
        missing = [index for index, contact in enumerate(found) if contact is None]
        if missing and self.batch_mode == "strict":
            return error(404, "document_not_found", f"No contact found for indexes {','.join(map(str, missing))}")
        success = []
        for item, contact in zip(items, found, strict=True):
            if contact is not None:
                self._write(contact, item)
                success.append(contact.id)
        if missing:
            failures = [items[index].get("id", items[index].get("email")) for index in missing]
            return Response(207, {"successIds": success, "failureIds": failures})
        return Response(204)

    def _import(self, request: Request) -> Response:
        body = request.body or {}
        rows = body.get("jsonBody")
        if not isinstance(rows, list):
            return error(400, "missing_parameter", "jsonBody, fileBody or fileUrl is required")
        if len(json.dumps(rows)) > self.limits.import_body_max_bytes:
            return error(400, "out_of_range", "jsonBody exceeds 10MB")
        list_ids = [i for i in body.get("listIds") or () if i in self.lists]
        update_existing = body.get("updateExistingContacts", True)

        def apply() -> None:
            """Brevo imports asynchronously whether or not anyone polls; the sandbox imports at once."""
            for row in rows:
                email = str(row.get("email") or "").lower()
                if not email:
                    continue
                contact = self.by_email(email)
                if contact is None:
                    contact = self.contacts[self.add_contact(email)]
                elif not update_existing:
                    continue
                self._write(contact, {"attributes": row.get("attributes") or {}, "listIds": list_ids})

        if self.limits.imports_after_answer:
            self._queue_import(apply)
        else:
            apply()
        return self._start_process("IMPORTUSER")

    def _queue_import(self, apply: Callable[[], None]) -> None:
        if self._importer is None:
            self._importer = threading.Thread(target=self._apply_imports, name="sandbox-imports", daemon=True)
            self._importer.start()
        self._imports.put(apply)

    def _apply_imports(self) -> None:
        while True:
            apply = self._imports.get()
            try:
                with self.lock:
                    apply()
            finally:
                self._imports.task_done()

    def settle(self, method: str, path: str) -> None:
        if method == "GET" and path.startswith(API + "/contacts"):
            self._imports.join()

    def _start_process(
        self, name: str, apply: Callable[[], None] | None = None, export: bytes | None = None
    ) -> Response:
        process_id = self.next_id()
        export_url = None
        if export is not None:
            token = uuid.uuid4().hex
            self.exports[token] = export
            export_url = f"{self.url}/exports/{token}.csv"
        self.processes[process_id] = Process(process_id, name, self.limits.process_polls_until_done, export_url)
        return Response(202, {"processId": process_id})

    def _get_process(self, request: Request) -> Response:
        try:
            process = self.processes[int(request.params["process"])]
        except (KeyError, ValueError):
            return error(404, "invalid_parameter", "processId is invalid")
        if process.polls_left > 0:
            process.polls_left -= 1
            return Response(200, {"id": process.id, "status": "in_process", "name": process.name})
        body: dict[str, Any] = {"id": process.id, "status": "completed", "name": process.name}
        if process.export_url:
            body["export_url"] = process.export_url
        return Response(200, body)

    def _download(self, request: Request) -> Response:
        token = request.params["name"].removesuffix(".csv")
        data = self.exports.get(token)
        return Response(200, data) if data is not None else error(404, "document_not_found", "export expired")

    def _get_folders(self, request: Request) -> Response:
        folders = [
            {"id": fid, "name": name, "totalBlacklisted": 0, "totalSubscribers": 0, "uniqueSubscribers": 0}
            for fid, name in sorted(self.folders.items())
        ]
        limit = int(request.arg("limit", "10") or 10)
        offset = int(request.arg("offset", "0") or 0)
        if limit > 50:
            return error(400, "out_of_range", "Limit exceeds max value 50")
        return Response(200, {"folders": folders[offset : offset + limit], "count": len(folders)})

    def _create_folder(self, request: Request) -> Response:
        name = (request.body or {}).get("name")
        if not name:
            return error(400, "missing_parameter", "name is missing")
        folder_id = self.next_id()
        self.folders[folder_id] = name
        return Response(201, {"id": folder_id})

    def _list_json(self, found: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": found["id"],
            "name": found["name"],
            "totalBlacklisted": 0,
            "totalSubscribers": len(found["members"]),
            "uniqueSubscribers": len(found["members"]),
        }

    def _folder_lists(self, request: Request) -> Response:
        try:
            folder_id = int(request.params["folder"])
        except ValueError:
            return error(400, "invalid_parameter", "folderId must be an integer")
        if folder_id not in self.folders:
            return error(404, "document_not_found", "Folder ID not found")
        limit = int(request.arg("limit", "10") or 10)
        offset = int(request.arg("offset", "0") or 0)
        if limit > self.limits.lists_page_max:
            return error(400, "out_of_range", f"Limit exceeds max value {self.limits.lists_page_max}")
        rows = [
            self._list_json(f) for f in sorted(self.lists.values(), key=lambda f: f["id"]) if f["folderId"] == folder_id
        ]
        return Response(200, {"lists": rows[offset : offset + limit], "count": len(rows)})

    def _create_list(self, request: Request) -> Response:
        body = request.body or {}
        if not body.get("name") or body.get("folderId") is None:
            return error(400, "missing_parameter", "name and folderId are required")
        if body["folderId"] not in self.folders:
            return error(404, "document_not_found", "Folder ID not found")
        list_id = self.next_id()
        self.lists[list_id] = {"id": list_id, "name": body["name"], "folderId": body["folderId"], "members": set()}
        return Response(201, {"id": list_id})

    def _members(self, request: Request) -> tuple[dict[str, Any] | None, list[Any], Response | None]:
        try:
            found = self.lists.get(int(request.params["list"]))
        except ValueError:
            found = None
        if found is None:
            return None, [], error(404, "document_not_found", "List ID not found")
        body = request.body or {}
        keys = body.get("ids") if body.get("ids") is not None else body.get("emails")
        if not isinstance(keys, list) or not keys:
            return None, [], error(400, "missing_parameter", "ids or emails is required")
        if len(keys) > self.limits.list_members_max:
            return None, [], error(400, "out_of_range", f"at most {self.limits.list_members_max} contacts per request")
        return found, keys, None

    def _list_add(self, request: Request) -> Response:
        found, keys, failed = self._members(request)
        if failed is not None or found is None:
            return failed or self.not_found()
        success: list[str] = []
        failure: list[str] = []
        for key in keys:
            contact = self._find(key)
            if contact is None or contact.id in found["members"]:
                failure.append(str(key))
                continue
            found["members"].add(contact.id)
            contact.list_ids.add(found["id"])
            contact.modified_ms = self.clock_ms()
            success.append(str(key))
        if not success:
            return error(400, "invalid_parameter", "Contact already in list and/or does not exist")
        return Response(201, {"contacts": {"success": success, "failure": failure}})

    def _list_remove(self, request: Request) -> Response:
        found, keys, failed = self._members(request)
        if failed is not None or found is None:
            return failed or self.not_found()
        success: list[str] = []
        failure: list[str] = []
        for key in keys:
            contact = self._find(key)
            if contact is None or contact.id not in found["members"]:
                failure.append(str(key))
                continue
            found["members"].discard(contact.id)
            contact.list_ids.discard(found["id"])
            contact.modified_ms = self.clock_ms()
            success.append(str(key))
        if not success:
            return error(400, "invalid_parameter", "Contact already removed from list and/or does not exist")
        return Response(201, {"contacts": {"success": success, "failure": failure}})

    def _get_companies(self, request: Request) -> Response:
        """Pages by number from 1 (``page``, ``limit``), oldest first with sort=asc; no total in the answer."""
        try:
            page = int(request.arg("page", "1") or 1)
            limit = int(request.arg("limit", "50") or 50)
        except ValueError:
            return error(400, "invalid_parameter", "page and limit must be integers")
        if page < 1 or not 1 <= limit <= self.limits.companies_page_max:
            return error(400, "invalid_parameter", f"page from 1, limit from 1 to {self.limits.companies_page_max}")
        ordered = list(self.companies.items())
        if request.arg("sort") != "asc":
            ordered.reverse()
        chosen = ordered[(page - 1) * limit : page * limit]
        items = [{"id": company_id, **company, "linkedDealsIds": []} for company_id, company in chosen]
        return Response(200, {"items": items})

    def _get_pipelines(self, request: Request) -> Response:
        if not self.crm:
            return error(403, "permission_denied", "Your account does not have access to the sales CRM")
        return Response(200, [{"pipeline": pid, **pipeline} for pid, pipeline in self.pipelines.items()])

    def _get_deals(self, request: Request) -> Response:
        """Pages by ``offset`` and ``limit`` (default 50), newest first unless sort=asc; no total in the answer."""
        if not self.crm:
            return error(403, "permission_denied", "Your account does not have access to the sales CRM")
        try:
            offset = int(request.arg("offset", "0") or 0)
            limit = int(request.arg("limit", "50") or 50)
        except ValueError:
            return error(400, "invalid_parameter", "offset and limit must be integers")
        if offset < 0 or not 1 <= limit <= self.limits.deals_page_max:
            return error(400, "invalid_parameter", f"offset from 0, limit from 1 to {self.limits.deals_page_max}")
        ordered = list(self.deals.items())
        if request.arg("sort") != "asc":
            ordered.reverse()
        return Response(200, {"items": [{"id": deal_id, **deal} for deal_id, deal in ordered[offset : offset + limit]]})

    def _get_campaigns(self, request: Request) -> Response:
        limit = int(request.arg("limit", "50") or 50)
        offset = int(request.arg("offset", "0") or 0)
        if limit > self.limits.campaigns_page_max:
            return error(400, "out_of_range", f"Limit exceeds max value {self.limits.campaigns_page_max}")
        rows = sorted(self.campaigns.values(), key=lambda c: c.id)
        if request.arg("status") not in (None, "sent"):
            rows = []
        body = [
            {
                "id": c.id,
                "name": c.name,
                "subject": c.name,
                "type": "classic",
                "status": "sent",
                "tag": c.tag,
                "sentDate": iso(c.sent_ms),
                "createdAt": iso(c.sent_ms - 86_400_000),
                "modifiedAt": iso(c.sent_ms),
                "sender": {"name": "Marketing", "email": "marketing@example.com", "id": 1},
                "replyTo": "marketing@example.com",
                "htmlContent": "<html><body>…</body></html>",
                "header": "[DEFAULT_HEADER]",
                "footer": "[DEFAULT_FOOTER]",
                "testSent": False,
                "recipients": {"lists": [], "exclusionLists": []},
                "statistics": {
                    "globalStats": c.stats(),
                    "campaignStats": [],
                    "mirrorClick": 0,
                    "remaining": 0,
                    "linksStats": {},
                    "statsByDomain": {},
                    "statsByDevice": {},
                    "statsByBrowser": {},
                },
            }
            for c in rows[offset : offset + limit]
        ]
        return Response(200, {"campaigns": body, "count": len(rows)})

    def _export_recipients(self, request: Request) -> Response:
        try:
            campaign = self.campaigns[int(request.params["campaign"])]
        except (KeyError, ValueError):
            return error(404, "document_not_found", "Campaign ID not found")
        kind = (request.body or {}).get("recipientsType")
        if kind not in RECIPIENT_TYPES:
            return error(400, "invalid_parameter", f"recipientsType must be one of {', '.join(RECIPIENT_TYPES)}")
        lines = ["EMAIL;FIRSTNAME;LASTNAME"]
        for email in sorted(campaign.recipients.get(kind, ())):
            contact = self.by_email(email)
            names = (
                (contact.attributes.get("FIRSTNAME", ""), contact.attributes.get("LASTNAME", ""))
                if contact
                else ("", "")
            )
            lines.append(f"{email};{names[0]};{names[1]}")
        return self._start_process(f"EXPORT_{kind.upper()}", export=("\n".join(lines) + "\n").encode())

    def _smtp_events(self, request: Request) -> Response:
        limit = int(request.arg("limit", "2500") or 2500)
        offset = int(request.arg("offset", "0") or 0)
        if limit > self.limits.smtp_events_page_max:
            return error(400, "out_of_range", f"Limit exceeds max value {self.limits.smtp_events_page_max}")
        start, end = request.arg("startDate"), request.arg("endDate")
        if (start is None) != (end is None):
            return error(400, "invalid_parameter", "startDate and endDate go together")
        if len(self._smtp_by_date) != len(self.smtp_events):
            self._smtp_by_date = sorted(self.smtp_events, key=lambda e: e["date"])
        rows = self._smtp_by_date
        if start is not None and end is not None:
            rows = [e for e in rows if start <= e["date"][:10] <= end]
        if request.arg("sort", "desc") == "desc":
            rows = sorted(rows, key=lambda e: e["date"], reverse=True)
        page = rows[offset : offset + limit]
        return Response(200, {"events": page} if page else {})
