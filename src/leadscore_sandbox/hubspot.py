"""A stateful imitation of the HubSpot APIs leadscore uses, served on loopback.

Shapes follow ../shared/specs/hubspot (contacts, properties, lists, events) and
the facts in connectors/hubspot.md: search pages of at most
200 and a hard 400 past 10,000 results, batch writes of at most 100 answered 200
or 207, list memberships through add-and-remove, the ten-secondly, daily and
search limits with HubSpot's headers and 429 bodies, merges and archives.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadscore_sandbox._http import Request, Response, SandboxServer

SEARCH_CAP = 10_000
DEFAULT_PROPERTIES = ("firstname", "lastname", "email")
SEARCH_DEFAULTS = ("createdate", "lastmodifieddate", "hs_object_id")
CONTACTS = "/crm/v3/objects/contacts"
COMPANIES = "/crm/v3/objects/companies"
OBJECT_TYPES = {"contacts": "contacts", "contact": "contacts", "0-1": "contacts",
                "companies": "companies", "company": "companies", "0-2": "companies"}  # fmt: skip
"""HubSpot takes an object's plural name, singular name or type id wherever a path names the object type."""
PRIMARY_COMPANY_TYPES = {"contacts": 1, "companies": 2}
"""HUBSPOT_DEFINED association type ids of the primary contact-company association, by the side it is read from."""


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(value: Any) -> int:
    """HubSpot accepts epoch milliseconds or ISO 8601 in filters."""
    text = str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def error(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return Response(status, body)


def rate_limited(message: str, **extra: str) -> Response:
    """HubSpot's 429 body (connectors/hubspot.md, "Errors"): the policy it names tells daily from ten-secondly."""
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4())}
    return Response(429, body | extra)


def _full(window: deque[float], seconds: float, limit: int, now: float) -> bool:
    """Record a call in a sliding window, or say the window is full (the call is then not counted)."""
    while window and now - window[0] >= seconds:
        window.popleft()
    if len(window) >= limit:
        return True
    window.append(now)
    return False


@dataclass
class Limits:
    """HubSpot's budgets for a private app on Professional (connectors/hubspot.md, "Limits"); all adjustable."""

    per_ten_seconds: int = 190
    window_seconds: float = 10.0
    """The length of the "ten-secondly" window (shorter in tests, so that pacing is seen in a second)."""
    daily: int = 625_000
    search_per_second: int = 5
    search_page_max: int = 200
    list_page_max: int = 100
    batch_max: int = 100
    list_membership_max: int = 100_000
    events_page_max: int = 100
    email_events_page_max: int = 1000


@dataclass
class Contact:
    id: int
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int
    archived: bool = False
    merged_into: int | None = None


@dataclass
class HubSpotList:
    id: int
    name: str
    processing_type: str
    members: set[int] = field(default_factory=set)


CUSTOMER_SINCE = "hs_v2_date_entered_customer"
"""When the contact's lifecycle stage became customer, a calculated property HubSpot keeps per stage."""


class HubSpotSandbox(SandboxServer):
    """HubSpot for one portal: contacts, properties, lists, web and email events, OAuth."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None) -> None:
        super().__init__(host, port)
        self.limits = limits or Limits()
        self.index_lag_ms: dict[int, int] = {}
        """Per contact, how long after a modification search sees it (HubSpot's index lags seconds to minutes)."""
        self.tier = "enterprise"
        """The portal's Marketing Hub tier: below enterprise, the custom behavioral events API is refused (403)."""
        self.contacts: dict[int, Contact] = {}
        self.companies: dict[int, dict[str, str | None]] = {}
        self.property_defs: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {"contactinformation": _group("contactinformation", "Contact info")}
        self.lists: dict[int, HubSpotList] = {}
        self.web_events: list[dict[str, Any]] = []
        self.email_events: list[dict[str, Any]] = []
        self.access_tokens: set[str] = {"sandbox-token"}
        self.refresh_tokens: set[str] = {"sandbox-refresh"}
        self.expired_tokens: set[str] = set()
        self.poison_ids: set[int] = set()
        self.callers: list[tuple[float, str]] = []
        """(wall time, bearer token) of every authenticated request, to tell replicas apart in tests."""
        self.clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
        self._next_id = 1
        self._ids: list[int] = []
        self._web_index: list[tuple[int, str]] | None = None
        self._email_index: list[tuple[int, str]] | None = None
        self._next_list = 1
        self._general_window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._daily_used = 0
        self._id_lock = threading.Lock()
        for name in (
            "email",
            "firstname",
            "lastname",
            "jobtitle",
            "company",
            "industry",
            "country",
            "lifecyclestage",
            "hs_seniority",
            "hs_role",
            "region",
            "numemployees",
            "hs_latest_meeting_activity",
            "hs_merged_object_ids",
            "createdate",
            "lastmodifieddate",
            "hs_object_id",
        ):
            self.property_defs[name] = _property(name, "string", "text", "contactinformation")
        self.property_defs[CUSTOMER_SINCE] = _property(CUSTOMER_SINCE, "datetime", "date", "contactinformation")
        self._register()

    # --- state helpers used by tests, the seeder and the CLI -------------------------------

    def add_contact(self, properties: dict[str, Any], modified_ms: int | None = None) -> int:
        with self._id_lock:
            contact_id = self._next_id
            self._next_id += 1
        now = modified_ms if modified_ms is not None else self.clock_ms()
        values = {k: (None if v is None else str(v)) for k, v in properties.items()}
        values.update(createdate=iso(now), lastmodifieddate=iso(now), hs_object_id=str(contact_id))
        self.contacts[contact_id] = Contact(contact_id, values, now, now)
        self._ids.append(contact_id)
        return contact_id

    def add_company(self, properties: dict[str, Any]) -> int:
        """A company record; ``associate`` makes it a contact's primary company."""
        with self._id_lock:
            company_id = 900_000_000 + self._next_id
            self._next_id += 1
        values = {k: (None if v is None else str(v)) for k, v in properties.items()}
        self.companies[company_id] = values | {"hs_object_id": str(company_id)}
        return company_id

    def associate(self, contact_id: int, company_id: int, modified_ms: int | None = None) -> None:
        """Make ``company_id`` the contact's primary company: HubSpot shows it in the read-only contact property
        associatedcompanyid, and the change moves the contact's last-modified time."""
        self.touch(contact_id, modified_ms, associatedcompanyid=str(company_id))

    def touch(self, contact_id: int, modified_ms: int | None = None, **properties: Any) -> None:
        """Change a contact as a user or workflow would, moving its last-modified time."""
        contact = self.contacts[contact_id]
        now = modified_ms if modified_ms is not None else self.clock_ms()
        contact.properties.update({k: (None if v is None else str(v)) for k, v in properties.items()})
        contact.updated_ms = now
        contact.properties["lastmodifieddate"] = iso(now)

    def add_web_event(self, contact_id: int, event_type: str, occurred_ms: int, **properties: Any) -> str:
        event_id = _stable_uuid(f"{contact_id}-{event_type}-{occurred_ms}-{properties}")
        self._web_index = None
        self.web_events.append(
            {
                "id": event_id,
                "eventType": event_type,
                "objectType": "contact",
                "objectId": str(contact_id),
                "occurredAt": occurred_ms,
                "properties": {k: str(v) for k, v in properties.items()},
            }
        )
        return event_id

    def add_email_event(self, recipient: str, event_type: str, created_ms: int, campaign_id: int, **extra: Any) -> str:
        event_id = _stable_uuid(f"{recipient}-{event_type}-{created_ms}-{campaign_id}")
        self._email_index = None
        self.email_events.append(
            {
                "id": event_id,
                "created": created_ms,
                "type": event_type,
                "recipient": recipient,
                "emailCampaignId": campaign_id,
                **extra,
            }
        )
        return event_id

    def archive(self, contact_id: int) -> None:
        self.contacts[contact_id].archived = True

    def merge(self, primary: int, loser: int) -> None:
        """What HubSpot's merge does to the two records: the loser disappears into the survivor."""
        survivor = self.contacts[primary]
        gone = self.contacts[loser]
        gone.merged_into = primary
        merged = [x for x in (survivor.properties.get("hs_merged_object_ids") or "").split(";") if x]
        survivor.properties["hs_merged_object_ids"] = ";".join([*merged, str(loser)])
        for event in self.web_events:
            if event["objectId"] == str(loser):
                event["objectId"] = str(primary)
        for lst in self.lists.values():
            lst.members.discard(loser)
        self.touch(primary)

    def expire_token(self, token: str) -> None:
        self.access_tokens.discard(token)
        self.expired_tokens.add(token)

    def list_named(self, name: str) -> HubSpotList | None:
        return next((lst for lst in self.lists.values() if lst.name.lower() == name.lower()), None)

    def property_value(self, contact_id: int, name: str) -> str | None:
        return self.contacts[contact_id].properties.get(name)

    def live_contacts(self) -> list[Contact]:
        return [c for c in self.contacts.values() if not c.archived and c.merged_into is None]

    def _resolve(self, contact_id: int) -> Contact | None:
        """Follow merges to the survivor; archived or unknown ids resolve to nothing."""
        seen = 0
        contact = self.contacts.get(contact_id)
        while contact is not None and contact.merged_into is not None and seen < 10:
            contact = self.contacts.get(contact.merged_into)
            seen += 1
        if contact is None or contact.archived:
            return None
        return contact

    # --- rate limits and auth --------------------------------------------------------------

    def before(self, request: Request, endpoint: str) -> Response | None:
        if endpoint == "/oauth/v1/token":
            return None
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        self.callers.append((time.time(), token))
        if token in self.expired_tokens:
            return error(
                401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 0 second(s) ago."
            )
        if token not in self.access_tokens:
            return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        now = time.monotonic()
        if endpoint.endswith("/search") and endpoint.startswith(CONTACTS):
            if _full(self._search_window, 1.0, self.limits.search_per_second, now):
                return rate_limited("You have reached your secondly limit.")
        elif _full(self._general_window, self.limits.window_seconds, self.limits.per_ten_seconds, now):
            return rate_limited(
                "You have reached your ten_secondly_rolling limit.",
                policyName="TEN_SECONDLY_ROLLING",
                groupName="publicapi:private_app-api-calls-ten-secondly:1:1",
            )
        if self._daily_used >= self.limits.daily:
            self.log.early_retries += 1
            return rate_limited("You have reached your daily limit.", policyName="DAILY")
        self._daily_used += 1
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> None:
        if endpoint == "/oauth/v1/token":
            return
        response.headers.setdefault("X-HubSpot-RateLimit-Daily", str(self.limits.daily))
        response.headers.setdefault(
            "X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.limits.daily - self._daily_used))
        )
        if not endpoint.endswith("/search"):
            response.headers.setdefault(
                "X-HubSpot-RateLimit-Interval-Milliseconds", str(int(self.limits.window_seconds * 1000))
            )
            response.headers.setdefault("X-HubSpot-RateLimit-Max", str(self.limits.per_ten_seconds))
            response.headers.setdefault(
                "X-HubSpot-RateLimit-Remaining", str(max(0, self.limits.per_ten_seconds - len(self._general_window)))
            )

    def injected_429(self) -> Response:
        return rate_limited("You have reached your ten_secondly_rolling limit.", policyName="TEN_SECONDLY_ROLLING")

    def injected_5xx(self) -> Response:
        return error(502, "BAD_GATEWAY", "Bad Gateway")

    def not_found(self) -> Response:
        return error(404, "OBJECT_NOT_FOUND", "resource not found")

    def set_daily_used(self, used: int) -> None:
        self._daily_used = used

    # --- routes ----------------------------------------------------------------------------

    def _register(self) -> None:
        route = self.route
        route("POST", "/oauth/v1/token", "/oauth/v1/token")(self._token)
        for spelling, kind in OBJECT_TYPES.items():
            # Request logs name the plural spelling, so counts add up whichever spelling a client uses.
            objects, canonical = f"/crm/v3/objects/{spelling}", f"/crm/v3/objects/{kind}"
            if kind == "contacts":
                route("GET", objects, canonical)(self._list_contacts)
                route("POST", objects + "/search", canonical + "/search")(self._search)
                route("POST", objects + "/batch/update", canonical + "/batch/update")(self._batch_update)
                route("POST", objects + "/batch/read", canonical + "/batch/read")(self._batch_read)
            else:
                route("POST", objects + "/batch/read", canonical + "/batch/read")(self._companies_batch_read)
        route("GET", "/crm/v3/schemas", "/crm/v3/schemas")(self._custom_object_schemas)
        route("GET", "/properties/v2/contacts/properties", "/properties/v2/contacts/properties")(
            self._legacy_properties
        )
        route(
            "POST",
            "/crm/v4/associations/{from_type}/{to_type}/batch/read",
            "/crm/v4/associations/batch/read",
        )(self._associations_batch_read)
        route("GET", "/crm/v3/properties/contacts", "/crm/v3/properties/contacts")(self._get_properties)
        route("POST", "/crm/v3/properties/contacts", "/crm/v3/properties/contacts")(self._create_property)
        route("GET", "/crm/v3/properties/contacts/groups", "/crm/v3/properties/contacts/groups")(self._get_groups)
        route("POST", "/crm/v3/properties/contacts/groups", "/crm/v3/properties/contacts/groups")(self._create_group)
        route("POST", "/crm/v3/lists", "/crm/v3/lists")(self._create_list)
        route("GET", "/crm/v3/lists/object-type-id/{object_type}/name/{name}", "/crm/v3/lists/name")(self._list_by_name)
        route("PUT", "/crm/v3/lists/{list_id}/memberships/add-and-remove", "/crm/v3/lists/memberships/add-and-remove")(
            self._add_and_remove
        )
        route("GET", "/events/v3/events", "/events/v3/events")(self._web_events)
        route("GET", "/email/public/v1/events", "/email/public/v1/events")(self._email_events)

    def _token(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("grant_type") != "refresh_token" or body.get("refresh_token") not in self.refresh_tokens:
            return Response(400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"})
        token = f"oauth-{uuid.uuid4().hex[:12]}"
        self.access_tokens.add(token)
        return Response(
            200,
            {"access_token": token, "refresh_token": body["refresh_token"], "expires_in": 1800, "token_type": "bearer"},
        )

    def _record(self, contact: Contact, properties: list[str], defaults: tuple[str, ...]) -> dict[str, Any]:
        wanted = set(properties) | set(defaults)
        return {
            "id": str(contact.id),
            "properties": {name: contact.properties.get(name) for name in sorted(wanted)},
            "createdAt": iso(contact.created_ms),
            "updatedAt": iso(contact.updated_ms),
            "archived": contact.archived,
        }

    def _list_contacts(self, request: Request) -> Response:
        limit = min(int(request.arg("limit", "10") or 10), self.limits.list_page_max)
        after = int(request.arg("after", "0") or 0)
        properties = [p for value in request.query.get("properties", []) for p in value.split(",") if p]
        page: list[int] = []
        position = bisect.bisect_right(self._ids, after)
        while position < len(self._ids) and len(page) <= limit:
            contact = self.contacts[self._ids[position]]
            if not contact.archived and contact.merged_into is None:
                page.append(contact.id)
            position += 1
        live, page = page, page[:limit]
        body: dict[str, Any] = {
            "results": [self._record(self.contacts[i], properties, DEFAULT_PROPERTIES) for i in page]
        }
        if len(live) > limit:
            body["paging"] = {"next": {"after": str(page[-1]), "link": f"{CONTACTS}?after={page[-1]}"}}
        return Response(200, body)

    def _search(self, request: Request) -> Response:
        body = request.body or {}
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
        if limit > self.limits.search_page_max:
            return error(400, "VALIDATION_ERROR", f"limit must be at most {self.limits.search_page_max}")
        if after + limit > SEARCH_CAP:
            return error(
                400,
                "VALIDATION_ERROR",
                "There was a problem with the request.",
                errors=[{"message": "paging beyond 10000 results is not supported", "in": "after"}],
            )
        # Older clients send one group's ``filters`` at the top level, which the API still takes.
        groups = body.get("filterGroups") or [{"filters": body.get("filters") or []}]
        now = self.clock_ms()
        matches = [
            c
            for c in self.live_contacts()
            if (c.id not in self.index_lag_ms or c.updated_ms + self.index_lag_ms[c.id] <= now)
            and any(_passes(c, g.get("filters", [])) for g in groups)
        ]
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        first = sorts[0]
        sort_name = first if isinstance(first, str) else first.get("propertyName", "hs_object_id")
        descending = not isinstance(first, str) and first.get("direction") == "DESCENDING"
        if sort_name == "lastmodifieddate":
            # Ties come back in no promised order (stable within one query): clients must not rely on ids.
            salt = repr(groups)
            matches.sort(key=lambda c: (c.updated_ms, zlib.crc32(f"{salt}{c.id}".encode())), reverse=descending)
        else:
            matches.sort(
                key=lambda c: (
                    int(c.properties.get(sort_name) or 0)
                    if sort_name == "hs_object_id"
                    else str(c.properties.get(sort_name))
                ),
                reverse=descending,
            )
        page = matches[after : after + limit]
        properties = list(body.get("properties") or [])
        result: dict[str, Any] = {
            "total": len(matches),
            "results": [self._record(c, properties, SEARCH_DEFAULTS) for c in page],
        }
        if after + limit < len(matches):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, result)

    def _batch_update(self, request: Request) -> Response:
        inputs = (request.body or {}).get("inputs", [])
        if len(inputs) > self.limits.batch_max:
            return error(
                400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of {self.limits.batch_max}"
            )
        for item in inputs:
            for name, value in (item.get("properties") or {}).items():
                definition = self.property_defs.get(name)
                if definition is None:
                    return error(
                        400,
                        "VALIDATION_ERROR",
                        f'Property values were not valid: [{{"isValid":false,'
                        f'"message":"Property \\"{name}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
                        f'"name":"{name}"}}]',
                    )
                problem = _invalid_value(definition, value)
                if problem is None and _as_int(item.get("id")) in self.poison_ids:
                    problem = "value rejected by a validation rule"
                if problem:
                    return error(
                        400,
                        "VALIDATION_ERROR",
                        f'Property values were not valid: [{{"isValid":false,'
                        f'"message":"{problem}","error":"INVALID_OPTION","name":"{name}"}}]',
                        context={"ids": [str(item.get("id"))]},
                    )
        started = iso(self.clock_ms())
        results, missing = [], []
        for item in inputs:
            contact_id = _as_int(item.get("id"))
            contact = self.contacts.get(contact_id) if contact_id is not None else None
            if contact is None or contact.archived or contact.merged_into is not None:
                missing.append(str(item.get("id")))
                continue
            self.touch(contact.id, **(item.get("properties") or {}))
            results.append(self._record(contact, list(item.get("properties") or {}), ()))
        return _batch_answer(results, missing, started, iso(self.clock_ms()))

    def _batch_read(self, request: Request) -> Response:
        body = request.body or {}
        properties = list(body.get("properties") or [])
        results, missing = [], []
        for item in body.get("inputs", []):
            contact_id = _as_int(item.get("id"))
            contact = self._resolve(contact_id) if contact_id is not None else None
            if contact is None:
                missing.append(str(item.get("id")))
            else:
                results.append(self._record(contact, [*properties, "hs_merged_object_ids"], DEFAULT_PROPERTIES))
        return _batch_answer(results, missing, iso(self.clock_ms()), iso(self.clock_ms()))

    def _companies_batch_read(self, request: Request) -> Response:
        body = request.body or {}
        inputs = body.get("inputs", [])
        if len(inputs) > self.limits.batch_max:
            return error(400, "VALIDATION_ERROR", f"at most {self.limits.batch_max} inputs per batch read")
        wanted = set(body.get("properties") or []) | {"name", "domain", "hs_object_id"}
        results, missing = [], []
        for item in inputs:
            company_id = _as_int(item.get("id"))
            values = self.companies.get(company_id) if company_id is not None else None
            if values is None:
                missing.append(str(item.get("id")))
                continue
            stamp = iso(self.clock_ms())
            results.append(
                {
                    "id": str(company_id),
                    "properties": {name: values.get(name) for name in sorted(wanted)},
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "archived": False,
                }
            )
        return _batch_answer(results, missing, iso(self.clock_ms()), iso(self.clock_ms()))

    def _get_properties(self, request: Request) -> Response:
        return Response(200, {"results": list(self.property_defs.values())})

    def _legacy_properties(self, request: Request) -> Response:
        """The v2 properties API: a bare array, with the flags the v3 answer keeps under ``modificationMetadata``."""
        return Response(
            200,
            [
                {
                    "name": d["name"],
                    "label": d["label"],
                    "description": d.get("description", ""),
                    "groupName": d["groupName"],
                    "type": d["type"],
                    "fieldType": d["fieldType"],
                    "options": d.get("options", []),
                    "hidden": d.get("hidden", False),
                    "formField": d.get("formField", False),
                    "calculated": d.get("calculated", False),
                    "hubspotDefined": d.get("hubspotDefined", False),
                    "readOnlyValue": d.get("modificationMetadata", {}).get("readOnlyValue", False),
                    "readOnlyDefinition": d.get("modificationMetadata", {}).get("readOnlyDefinition", False),
                }
                for d in self.property_defs.values()
            ],
        )

    def _custom_object_schemas(self, request: Request) -> Response:
        """No custom objects: the portal holds HubSpot's standard objects only."""
        return Response(200, {"results": []})

    def _associations_batch_read(self, request: Request) -> Response:
        """Contact-company associations, from the primary company each contact names (``associatedcompanyid``)."""
        from_type = OBJECT_TYPES.get(request.params["from_type"])
        to_type = OBJECT_TYPES.get(request.params["to_type"])
        if from_type is None or to_type is None or from_type == to_type:
            return error(400, "VALIDATION_ERROR", f"unsupported association {request.params}")
        inputs = (request.body or {}).get("inputs", [])
        if len(inputs) > self.limits.batch_max:
            return error(400, "VALIDATION_ERROR", f"at most {self.limits.batch_max} inputs per batch read")
        pairs = [
            (str(c.id), str(c.properties["associatedcompanyid"]))
            for c in self.live_contacts()
            if c.properties.get("associatedcompanyid")
        ]
        linked: dict[str, list[str]] = {}
        for contact_id, company_id in pairs:
            source, target = (contact_id, company_id) if from_type == "contacts" else (company_id, contact_id)
            linked.setdefault(source, []).append(target)
        kind = {"category": "HUBSPOT_DEFINED", "typeId": PRIMARY_COMPANY_TYPES[from_type], "label": "Primary"}
        results = [
            {"from": {"id": str(item.get("id"))}, "to": [{"toObjectId": t, "associationTypes": [kind]} for t in to]}
            for item in inputs
            if (to := linked.get(str(item.get("id"))))
        ]
        missing = [str(item.get("id")) for item in inputs if str(item.get("id")) not in linked]
        return _batch_answer(results, missing, iso(self.clock_ms()), iso(self.clock_ms()))

    def _create_property(self, request: Request) -> Response:
        body = request.body or {}
        name = body.get("name")
        if not name or not body.get("type") or not body.get("fieldType") or not body.get("groupName"):
            return error(400, "VALIDATION_ERROR", "name, label, type, fieldType and groupName are required")
        if name in self.property_defs:
            return error(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
        if body["groupName"] not in self.groups:
            return error(400, "VALIDATION_ERROR", f"property group {body['groupName']} does not exist")
        definition = _property(
            name, body["type"], body["fieldType"], body["groupName"], body.get("label", name), body.get("options") or []
        )
        self.property_defs[name] = definition
        return Response(201, definition)

    def _get_groups(self, request: Request) -> Response:
        return Response(200, {"results": list(self.groups.values())})

    def _create_group(self, request: Request) -> Response:
        body = request.body or {}
        name = body.get("name")
        if not name:
            return error(400, "VALIDATION_ERROR", "name is required")
        if name in self.groups:
            return error(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        self.groups[name] = _group(name, body.get("label", name))
        return Response(201, self.groups[name])

    def _list_body(self, lst: HubSpotList) -> dict[str, Any]:
        return {
            "listId": str(lst.id),
            "name": lst.name,
            "processingType": lst.processing_type,
            "processingStatus": "COMPLETE",
            "listVersion": 1,
            "objectTypeId": "0-1",
            "size": len(lst.members),
        }

    def _create_list(self, request: Request) -> Response:
        body = request.body or {}
        if (
            not body.get("name")
            or body.get("objectTypeId") != "0-1"
            or body.get("processingType") not in ("MANUAL", "SNAPSHOT", "DYNAMIC")
        ):
            return error(400, "VALIDATION_ERROR", "name, objectTypeId and processingType are required")
        if self.list_named(body["name"]) is not None:
            return error(409, "CONFLICT", f"A list named '{body['name']}' already exists.")
        lst = HubSpotList(self._next_list, body["name"], body["processingType"])
        self._next_list += 1
        self.lists[lst.id] = lst
        return Response(200, {"list": self._list_body(lst)})

    def _list_by_name(self, request: Request) -> Response:
        lst = self.list_named(request.params["name"])
        if lst is None:
            return error(404, "OBJECT_NOT_FOUND", f"List with name {request.params['name']} does not exist.")
        return Response(200, {"list": self._list_body(lst)})

    def _add_and_remove(self, request: Request) -> Response:
        lst = self.lists.get(_as_int(request.params["list_id"]) or -1)
        if lst is None:
            return error(404, "OBJECT_NOT_FOUND", f"List {request.params['list_id']} does not exist.")
        if lst.processing_type == "DYNAMIC":
            return error(400, "VALIDATION_ERROR", "memberships of DYNAMIC lists cannot be changed")
        body = request.body or {}
        to_add = [str(x) for x in body.get("recordIdsToAdd", [])]
        to_remove = [str(x) for x in body.get("recordIdsToRemove", [])]
        if len(to_add) + len(to_remove) > self.limits.list_membership_max:
            return error(400, "VALIDATION_ERROR", f"at most {self.limits.list_membership_max} records per call")
        added, removed, missing = [], [], []
        for raw in to_add:
            contact = self.contacts.get(_as_int(raw) or -1)
            if contact is None or contact.archived or contact.merged_into is not None:
                missing.append(raw)
            elif contact.id not in lst.members:
                lst.members.add(contact.id)
                added.append(raw)
        for raw in to_remove:
            contact_id = _as_int(raw)
            if contact_id in lst.members:
                lst.members.discard(contact_id)
                removed.append(raw)
        return Response(200, {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing})

    def _web_events(self, request: Request) -> Response:
        if self.tier != "enterprise":
            return Response(
                403,
                {
                    "status": "error",
                    "message": "This app hasn't been granted all required scopes to make this call. Read more about "
                    "required scopes here: https://developers.hubspot.com/scopes.",
                    "correlationId": str(uuid.uuid4()),
                    "errors": [
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": ["behavioral_events.event_definitions.read_write"]},
                        }
                    ],
                    "category": "MISSING_SCOPES",
                },
            )
        limit = min(int(request.arg("limit", "100") or 100), self.limits.events_page_max)
        after = int(request.arg("after", "0") or 0)
        occurred_after = request.arg("occurredAfter")
        since = parse_time(occurred_after) if occurred_after else None
        wanted_type = request.arg("eventType")
        object_type = request.arg("objectType", "contact")
        if self._web_index is None:
            self.web_events.sort(key=lambda e: (e["occurredAt"], e["id"]))
            self._web_index = [(e["occurredAt"], e["id"]) for e in self.web_events]
        first = 0 if since is None else bisect.bisect_right(self._web_index, (since, "\uffff"))
        if wanted_type is None and object_type == "contact":
            page = self.web_events[first + after : first + after + limit]
            remaining = len(self.web_events) - first
        else:
            matches = [
                e
                for e in self.web_events[first:]
                if (wanted_type is None or e["eventType"] == wanted_type) and e["objectType"] == object_type
            ]
            page, remaining = matches[after : after + limit], len(matches)
        body: dict[str, Any] = {"results": [{**e, "occurredAt": iso(e["occurredAt"])} for e in page]}
        if after + limit < remaining:
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, body)

    def _email_events(self, request: Request) -> Response:
        limit = min(int(request.arg("limit", "1000") or 1000), self.limits.email_events_page_max)
        offset = int(request.arg("offset", "0") or 0)
        start = int(request.arg("startTimestamp", "0") or 0)
        if self._email_index is None:
            self.email_events.sort(key=lambda e: (e["created"], e["id"]))
            self._email_index = [(e["created"], e["id"]) for e in self.email_events]
        first = bisect.bisect_left(self._email_index, (start, ""))
        total = len(self.email_events) - first
        page = self.email_events[first + offset : first + offset + limit]
        return Response(200, {"events": page, "hasMore": offset + limit < total, "offset": str(offset + limit)})


def _batch_answer(results: list[dict[str, Any]], missing: list[str], started: str, completed: str) -> Response:
    """A batch answer: 200 when every id was found, else 207 listing the missing ids (connectors/hubspot.md)."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": completed}
    if not missing:
        return Response(200, body)
    body["numErrors"] = 1
    body["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": missing},
            "errors": [],
            "links": {},
        }
    ]
    return Response(207, body)


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _passes(contact: Contact, filters: list[dict[str, Any]]) -> bool:
    for spec in filters:
        name, operator, value = spec.get("propertyName"), spec.get("operator"), spec.get("value")
        if name == "lastmodifieddate":
            actual: Any = contact.updated_ms
            target: Any = parse_time(value) if value is not None else None
        elif name == "hs_object_id":
            actual, target = contact.id, _as_int(value)
        else:
            actual, target = contact.properties.get(str(name)), value
        if operator == "HAS_PROPERTY":
            ok = actual not in (None, "")
        elif actual is None or target is None:
            ok = False
        elif operator == "EQ":
            ok = actual == target
        elif operator == "GT":
            ok = actual > target
        elif operator == "GTE":
            ok = actual >= target
        elif operator == "LT":
            ok = actual < target
        elif operator == "LTE":
            ok = actual <= target
        else:
            ok = False
        if not ok:
            return False
    return True


def _invalid_value(definition: dict[str, Any], value: Any) -> str | None:
    if value in (None, ""):
        return None
    if definition["type"] == "number":
        try:
            float(str(value))
        except ValueError:
            return f"{value} is not a valid number"
    if definition["type"] == "enumeration":
        allowed = {option["value"] for option in definition.get("options", [])}
        if str(value) not in allowed:
            return f"{value} was not one of the allowed options: {sorted(allowed)}"
    return None


def _stable_uuid(seed: str) -> str:
    return str(uuid.UUID(int=random.Random(seed).getrandbits(128)))


def _property(
    name: str,
    kind: str,
    field_type: str,
    group: str,
    label: str | None = None,
    options: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label or name,
        "type": kind,
        "fieldType": field_type,
        "groupName": group,
        "description": "",
        "options": [
            {"label": o.get("label", o["value"]), "value": o["value"], "hidden": False, "displayOrder": i}
            for i, o in enumerate(options or [])
        ],
    }


def _group(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": -1, "archived": False}
