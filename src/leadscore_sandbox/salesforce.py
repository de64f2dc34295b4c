"""A stateful imitation of the Salesforce REST API calls a lead-scoring sync makes, served on loopback.

Shapes follow connectors/salesforce.md and the Postman
templates in ../shared/specs/salesforce: the OAuth token endpoint, versions,
describe, SOQL query / queryAll / next pages (2,000 records), sObject create,
sObject Collections (200 per call, per-record results), Bulk API 2.0 ingest
jobs, ``Sforce-Limit-Info`` on every answer, Salesforce's error arrays
(``[{"message","errorCode","fields"}]``), converted leads and deleted records.
The server speaks plain HTTP: clients reach it through a transport adapter that
sends their https URLs to loopback.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

from leadscore_sandbox._http import Request, Response, SandboxServer
from leadscore_sandbox.soql import SoqlError, parse, sort_key

VERSION = "59.0"
"""The version simple-salesforce asks for by default; the names in the request log use it whatever was asked."""
DATA = f"/services/data/v{VERSION}"
SERVED_VERSIONS = range(20, 69)
"""Summer '10 (v20.0) to Winter '27 (v68.0): tap-salesforce and Airbyte's source ask for v61.0 and v62.0, others
older ones."""
SERVED_VERSION_NAMES = frozenset(f"{v}.0" for v in SERVED_VERSIONS)
ADDRESS_PARTS = ("street", "city", "state", "postalCode", "country")
COMPOUND_ADDRESSES = {
    "Lead": {"Address": ""},
    "Contact": {"MailingAddress": "Mailing", "OtherAddress": "Other"},
    "Account": {"BillingAddress": "Billing", "ShippingAddress": "Shipping"},
}
"""Compound address fields by object, with the prefix of their component fields (``MailingStreet`` ...)."""
PREFIXES = {
    "Account": "001",
    "Lead": "00Q",
    "Contact": "003",
    "Task": "00T",
    "Event": "00U",
    "CampaignMember": "00v",
    "Campaign": "701",
    "Opportunity": "006",
}
QUERY_PAGE = 2000
COLLECTION_MAX = 200
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDARD_FIELDS = {
    "Lead": {
        "Id": "id", "Email": "email", "FirstName": "string", "LastName": "string", "Title": "string",
        "Company": "string", "NumberOfEmployees": "int", "Industry": "picklist", "Country": "string",
        "State": "string", "LeadSource": "picklist", "Status": "picklist", "IsConverted": "boolean",
        "ConvertedContactId": "reference", "ConvertedDate": "date", "IsDeleted": "boolean",
        "MasterRecordId": "reference", "CreatedDate": "datetime", "SystemModstamp": "datetime",
    },
    "Account": {
        "Id": "id", "Name": "string", "Industry": "picklist", "NumberOfEmployees": "int", "IsDeleted": "boolean",
        "CreatedDate": "datetime", "SystemModstamp": "datetime",
    },
    "Contact": {
        "Id": "id", "Email": "email", "FirstName": "string", "LastName": "string", "Title": "string",
        "Department": "string", "MailingCountry": "string", "MailingState": "string", "AccountId": "reference",
        "IsDeleted": "boolean", "MasterRecordId": "reference", "CreatedDate": "datetime", "SystemModstamp": "datetime",
    },
}  # fmt: skip


def address_components(sobject: str) -> dict[str, dict[str, str]]:
    """Each compound address field of an object, with its components by part (``MailingAddress``:
    ``{"street": "MailingStreet", ...}``)."""
    return {
        compound: {part: prefix + part[0].upper() + part[1:] for part in ADDRESS_PARTS}
        for compound, prefix in COMPOUND_ADDRESSES.get(sobject, {}).items()
    }


def address_fields(sobject: str) -> dict[str, str]:
    """An object's compound address fields and their components, with their field types."""
    found: dict[str, str] = {}
    for compound, components in address_components(sobject).items():
        found |= {name: "textarea" if part == "street" else "string" for part, name in components.items()}
        found[compound] = "address"
    return found


def data_base(request: Request) -> str:
    """The REST root in the version the request asked for, for the URLs an answer carries."""
    return f"/services/data/v{request.params.get('api_version', VERSION)}"


def release_label(version: int) -> str:
    """Salesforce names three releases a year; v59.0 was Winter '24."""
    step = version - 59
    return f"{('Winter', 'Spring', 'Summer')[step % 3]} '{24 + step // 3:02d}"


def stamp(ms: int) -> str:
    """Salesforce's datetime format: ``2026-11-23T12:00:00.000+0000``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


NUMBER_TYPES = frozenset({"double", "currency", "percent"})


def typed_value(kind: str, value: Any) -> Any:
    """A written value as Salesforce stores it by the field's type, whether it came as JSON or as a Bulk CSV cell.

    A double reads back as a JSON number even when the CSV carried "19.0", and a datetime in Salesforce's own
    ``...000+0000`` form whatever offset it was sent with; a value the type cannot hold raises ValueError.
    """
    if value is None or value == "":
        return None
    if kind in NUMBER_TYPES:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if kind == "int":
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() not in ("true", "false"):
            raise ValueError(value)
        return str(value).lower() == "true"
    if kind == "datetime":
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return stamp(int(moment.timestamp() * 1000))
    if kind == "date":
        return date.fromisoformat(str(value)).isoformat()
    return str(value)


def _jwt_claims(assertion: str) -> dict[str, Any]:
    try:
        payload = assertion.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


def errors(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    return Response(status, [{"message": message, "errorCode": code, "fields": fields or []}])


@dataclass
class Job:
    id: str
    sobject: str
    operation: str
    state: str = "Open"
    csv: str = ""
    succeeded: list[dict[str, str]] | None = None
    failed: list[dict[str, str]] | None = None
    polls_left: int = 1


class SalesforceSandbox(SandboxServer):
    """One Salesforce org: leads, contacts, tasks, events, campaigns and their members."""

    sends_retry_after = False

    def __init__(self, host: str = "127.0.0.1", port: int = 0, daily_limit: int = 1_000_000) -> None:
        super().__init__(host, port)
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIXES}
        self.custom_fields: dict[str, dict[str, str]] = {"Lead": {}, "Contact": {}}
        self.hidden_objects: set[str] = set()
        """Objects this org does not offer (queries of them answer INVALID_TYPE), e.g. Opportunity without Sales
        Cloud."""
        self.not_updateable: set[tuple[str, str]] = set()
        """(object, field) pairs the integration user's profile cannot edit (field-level security)."""
        self.fls_denied_ids: set[str] = set()
        """Records whose update fails with INVALID_FIELD_FOR_INSERT_UPDATE (a record type without edit access)."""
        self.locked_ids: set[str] = set()
        """Records a collection update refuses with UNABLE_TO_LOCK_ROW (another job holds them)."""
        self.daily_limit = daily_limit
        self.api_used = 0
        self.sessions: set[str] = {"sandbox-session"}
        self.refresh_tokens: set[str] = {"sandbox-refresh"}
        self.clients: dict[str, str] = {"sandbox-client": "sandbox-secret"}
        self.users: dict[str, str] = {"integration@example.com": "sandbox-password" + "SECURITYTOKEN"}
        """username -> password with the security token appended, as the password grant sends it."""
        self.jobs: dict[str, Job] = {}
        self.clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
        self._counter = itertools.count(1)
        self._cursors: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
        self._member_ids: dict[tuple[str, str], str] = {}
        self._routes_setup()

    # --- state helpers for seeds and tests -------------------------------------------------

    def new_id(self, sobject: str) -> str:
        return f"{PREFIXES[sobject]}{next(self._counter):012d}AAA"

    def add(self, sobject: str, modified_ms: int | None = None, **fields: Any) -> str:
        record_id = self.new_id(sobject)
        moment = stamp(self.clock_ms() if modified_ms is None else modified_ms)
        defaults: dict[str, Any] = {"IsDeleted": False, "CreatedDate": moment, "SystemModstamp": moment}
        if sobject == "Lead":
            defaults |= {
                "IsConverted": False,
                "ConvertedContactId": None,
                "ConvertedDate": None,
                "MasterRecordId": None,
            }
        if sobject == "Contact":
            defaults["MasterRecordId"] = None
        self.records[sobject][record_id] = {"Id": record_id, **defaults, **fields}
        if sobject == "CampaignMember":
            person = str(fields.get("LeadId") or fields.get("ContactId"))
            self._member_ids[(str(fields.get("CampaignId")), person)] = record_id
        return record_id

    def touch(self, record_id: str, **fields: Any) -> None:
        record = self.find(record_id)
        assert record is not None
        record.update(fields)
        record["SystemModstamp"] = stamp(self.clock_ms())

    def find(self, record_id: str) -> dict[str, Any] | None:
        for sobject, prefix in PREFIXES.items():
            if record_id.startswith(prefix):
                return self.records[sobject].get(record_id)
        return None

    def delete(self, record_id: str) -> None:
        """Into the recycle bin: invisible to query, visible to queryAll with IsDeleted = true."""
        self.touch(record_id, IsDeleted=True)

    def convert(
        self, lead_id: str, contact_fields: dict[str, Any] | None = None, converted_ms: int | None = None
    ) -> str:
        """Lead conversion as Salesforce does it: a new contact, and the lead marked converted on a date."""
        lead = self.records["Lead"][lead_id]
        contact_id = self.add(
            "Contact",
            Email=lead.get("Email"),
            FirstName=lead.get("FirstName"),
            LastName=lead.get("LastName"),
            Title=lead.get("Title"),
            **(contact_fields or {}),
        )
        day = datetime.fromtimestamp((self.clock_ms() if converted_ms is None else converted_ms) / 1000, UTC).date()
        self.touch(lead_id, IsConverted=True, ConvertedContactId=contact_id, ConvertedDate=day.isoformat())
        return contact_id

    def add_custom_field(self, sobject: str, name: str, kind: str) -> None:
        self.custom_fields[sobject][name] = kind

    def members(self, campaign_id: str) -> set[str]:
        return {
            str(m.get("LeadId") or m.get("ContactId"))
            for m in self.records["CampaignMember"].values()
            if m["CampaignId"] == campaign_id and not m["IsDeleted"]
        }

    def campaign_named(self, name: str) -> str | None:
        return next((i for i, c in self.records["Campaign"].items() if c["Name"] == name and not c["IsDeleted"]), None)

    def expire_sessions(self) -> None:
        self.sessions.clear()

    # --- limits and auth ---------------------------------------------------------------------

    def before(self, request: Request, endpoint: str) -> Response | None:
        if not endpoint.startswith("/services/data") or endpoint == "/services/data":
            return None
        if request.params.get("api_version", VERSION) not in SERVED_VERSION_NAMES:
            return self.not_found()
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if bearer not in self.sessions:
            return errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.api_used >= self.daily_limit:
            return errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.api_used += 1
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> None:
        if endpoint.startswith("/services/data"):
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.daily_limit}"

    def injected_429(self) -> Response:
        return errors(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")

    def injected_5xx(self) -> Response:
        return errors(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred")

    def not_found(self) -> Response:
        return errors(404, "NOT_FOUND", "The requested resource does not exist")

    # --- routes --------------------------------------------------------------------------------

    def _routes_setup(self) -> None:
        """Every data route answers under any served version (``/services/data/v62.0/...``)."""

        def route(method: str, pattern: str, name: str) -> Callable[[Callable[[Request], Response]], Any]:
            return self.route(method, pattern.replace(DATA, "/services/data/v{api_version}"), name)

        route("POST", "/services/oauth2/token", "/services/oauth2/token")(self._token)
        route("GET", "/services/data", "/services/data")(self._versions)
        route("GET", DATA + "/sobjects/{sobject}/describe", DATA + "/sobjects/{sobject}/describe")(self._describe)
        route("POST", DATA + "/sobjects/{sobject}", DATA + "/sobjects/{sobject}")(self._create)
        route("GET", DATA + "/query", DATA + "/query")(self._query)
        route("GET", DATA + "/queryAll", DATA + "/queryAll")(self._query_all)
        route("GET", DATA + "/query/{locator}", DATA + "/query/{locator}")(self._query_more)
        route("PATCH", DATA + "/composite/sobjects", DATA + "/composite/sobjects")(self._collection_update)
        route("POST", DATA + "/composite/sobjects", DATA + "/composite/sobjects")(self._collection_insert)
        route("DELETE", DATA + "/composite/sobjects", DATA + "/composite/sobjects")(self._collection_delete)
        route("POST", DATA + "/composite", DATA + "/composite")(self._composite)
        route("POST", DATA + "/tooling/sobjects/CustomField", DATA + "/tooling/sobjects/CustomField")(
            self._custom_field
        )
        route("POST", DATA + "/jobs/ingest", DATA + "/jobs/ingest")(self._job_create)
        route("PUT", DATA + "/jobs/ingest/{job}/batches", DATA + "/jobs/ingest/{jobId}/batches")(self._job_upload)
        route("PATCH", DATA + "/jobs/ingest/{job}", DATA + "/jobs/ingest/{jobId}")(self._job_close)
        route("GET", DATA + "/jobs/ingest/{job}", DATA + "/jobs/ingest/{jobId}")(self._job_info)
        route("GET", DATA + "/jobs/ingest/{job}/{kind}", DATA + "/jobs/ingest/{jobId}/{results}")(self._job_results)

    def _token(self, request: Request) -> Response:
        """Refresh-token, password and JWT bearer grants. A JWT's claims are checked (issuer is a known
        consumer key, subject a known user, not expired), not its RS256 signature: the sandbox is stdlib only."""
        form = request.body if isinstance(request.body, dict) else {}
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            claims = _jwt_claims(str(form.get("assertion", "")))
            if claims.get("iss") not in self.clients or claims.get("sub") not in self.users:
                return Response(
                    400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
                )
            if float(claims.get("exp", 0)) < time.time():
                return Response(400, {"error": "invalid_grant", "error_description": "expired authorization code"})
            return self._issue()
        if self.clients.get(str(form.get("client_id"))) != form.get("client_secret"):
            return Response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if grant == "password":
            if self.users.get(str(form.get("username"))) != form.get("password"):
                return Response(400, {"error": "invalid_grant", "error_description": "authentication failure"})
            return self._issue()
        if grant == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
            return Response(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        if grant not in ("refresh_token", "client_credentials"):
            return Response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        return self._issue()

    def _issue(self) -> Response:
        session = f"00D{uuid.uuid4().hex[:12]}!{uuid.uuid4().hex}"
        self.sessions.add(session)
        body = {
            "access_token": session,
            "instance_url": self.url,
            "id": f"{self.url}/id/00D000000000001/005000000000001",
            "token_type": "Bearer",
            "issued_at": str(self.clock_ms()),
            "signature": "sandbox",
        }
        return Response(200, body)

    def _versions(self, request: Request) -> Response:
        return Response(
            200,
            [
                {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in SERVED_VERSIONS
            ],
        )

    def _fields(self, sobject: str) -> dict[str, str]:
        return STANDARD_FIELDS.get(sobject, {}) | address_fields(sobject) | self.custom_fields.get(sobject, {})

    def _describe(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        if sobject not in self.custom_fields:
            return errors(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        compound_of = {
            name: compound
            for compound, components in address_components(sobject).items()
            for name in components.values()
        }
        fields: list[dict[str, Any]] = [
            {
                "name": name,
                "type": kind,
                "updateable": name not in ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "IsConverted")
                and kind != "address"
                and (sobject, name) not in self.not_updateable,
                "custom": name.endswith("__c"),
                "picklistValues": [],
                "compoundFieldName": compound_of.get(name),
            }
            for name, kind in self._fields(sobject).items()
        ]
        return Response(200, {"name": sobject, "fields": fields, "updateable": True, "queryable": True})

    def _create(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        if sobject not in ("Campaign",):
            return errors(400, "INVALID_TYPE", f"sObject type '{sobject}' cannot be created here")
        body = dict(request.body or {})
        record_id = self.add(sobject, **body)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def _run_query(self, request: Request, include_deleted: bool) -> Response:
        text = request.arg("q") or ""
        try:
            query = parse(text)
        except SoqlError as exc:
            return errors(400, "MALFORMED_QUERY", str(exc))
        if query.sobject not in self.records or query.sobject in self.hidden_objects:
            return errors(400, "INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        rows = [
            r
            for r in self.records[query.sobject].values()
            if (include_deleted or not r.get("IsDeleted")) and query.where(r)
        ]
        if query.order_by:
            rows.sort(key=sort_key(query.order_by))
        if query.limit is not None:
            rows = rows[: query.limit]
        known = set(self._fields(query.sobject)) | {"Id"}
        unknown = [f for f in query.fields if f not in known and "." not in f]
        if unknown and query.sobject in self.custom_fields:
            return errors(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{query.sobject}'.")
        for name in (f for f in query.fields if "." in f and query.sobject in self.custom_fields):
            relation, field = name.split(".", 1)
            if f"{relation}Id" not in known or field not in self._fields(relation):
                return errors(
                    400,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{relation}' in field path '{name}' on entity '{query.sobject}'.",
                )
        base = data_base(request)
        shaped = [self._shape(query.sobject, r, query.fields, base) for r in rows]
        locator = uuid.uuid4().hex[:15]
        self._cursors[locator] = (shaped, query.fields)
        return self._page(locator, 0, base)

    def _shape(self, sobject: str, record: dict[str, Any], fields: list[str], base: str) -> dict[str, Any]:
        shaped: dict[str, Any] = {"attributes": {"type": sobject, "url": f"{base}/sobjects/{sobject}/{record['Id']}"}}
        compound = address_components(sobject)
        for name in fields:
            if name in compound:
                parts = {part: record.get(component) for part, component in compound[name].items()}
                shaped[name] = parts if any(parts.values()) else None
                continue
            if "." in name:
                relation, field = name.split(".", 1)
                target = self.find(str(record.get(f"{relation}Id") or ""))
                if target is None:
                    shaped[relation] = None
                else:
                    joined = shaped.get(relation) or {"attributes": {"type": relation}}
                    shaped[relation] = joined | {field: target.get(field)}
            else:
                shaped[name] = record.get(name)
        return shaped

    def _page(self, locator: str, offset: int, base: str) -> Response:
        rows, _ = self._cursors[locator]
        page = rows[offset : offset + QUERY_PAGE]
        done = offset + QUERY_PAGE >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"{base}/query/{locator}-{offset + QUERY_PAGE}"
        else:
            self._cursors.pop(locator, None)
        return Response(200, body)

    def _query(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=False)

    def _query_all(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=True)

    def _query_more(self, request: Request) -> Response:
        locator, _, offset = request.params["locator"].rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), data_base(request))

    def _update_one(self, item: dict[str, Any]) -> dict[str, Any]:
        record_id = str(item.get("id") or item.get("Id") or "")
        sobject = (item.get("attributes") or {}).get("type", "")
        record = self.records.get(sobject, {}).get(record_id)

        def fail(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
            return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}

        if record is None:
            return fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record.get("IsDeleted"):
            return fail("ENTITY_IS_DELETED", "entity is deleted")
        if record.get("IsConverted"):
            return fail("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        if record_id in self.locked_ids:
            return fail("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
        values = {k: v for k, v in item.items() if k not in ("attributes", "id", "Id")}
        fields = self._fields(sobject)
        missing = [k for k in values if k not in fields]
        if missing:
            return fail("INVALID_FIELD", f"No such column '{missing[0]}' on sobject of type {sobject}", missing)
        locked = [k for k in values if (sobject, k) in self.not_updateable or record_id in self.fls_denied_ids]
        if locked:
            return fail(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                locked,
            )
        typed: dict[str, Any] = {}
        for name, value in values.items():
            try:
                typed[name] = typed_value(fields[name], value)
            except ValueError:
                return fail("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}", [name])
        record.update(typed)
        record["SystemModstamp"] = stamp(self.clock_ms())
        return {"id": record_id, "success": True, "errors": []}

    def _collection(self, request: Request) -> tuple[list[dict[str, Any]], Response | None]:
        body = request.body if isinstance(request.body, dict) else {}
        records = body.get("records")
        if not isinstance(records, list) or not records:
            return [], errors(400, "JSON_PARSER_ERROR", "records is required")
        if len(records) > COLLECTION_MAX:
            return [], errors(
                400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {COLLECTION_MAX}"
            )
        ids = [r.get("id") for r in records if r.get("id")]
        if len(ids) != len(set(ids)):
            return [], errors(400, "INVALID_BATCH_REQUEST", "duplicate id in records")
        if body.get("allOrNone") is not False:
            return [], errors(400, "INVALID_BATCH_REQUEST", "the sandbox only models allOrNone=false")
        return records, None

    def _collection_update(self, request: Request) -> Response:
        records, failed = self._collection(request)
        return failed or Response(200, [self._update_one(item) for item in records])

    def _collection_insert(self, request: Request) -> Response:
        records, failed = self._collection(request)
        if failed is not None:
            return failed
        results = []
        for item in records:
            sobject = (item.get("attributes") or {}).get("type")
            if sobject != "CampaignMember":
                results.append({"success": False, "errors": [{"statusCode": "INVALID_TYPE", "message": sobject}]})
                continue
            person = item.get("LeadId") or item.get("ContactId")
            target = self.find(str(person or ""))
            if target is None or target.get("IsDeleted"):
                message = "entity is deleted" if target else "invalid cross reference id"
                code = "ENTITY_IS_DELETED" if target else "INVALID_CROSS_REFERENCE_KEY"
                results.append({"success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]})
                continue
            existing = self._member_ids.get((str(item.get("CampaignId")), str(person)))
            if existing is not None and not self.records["CampaignMember"][existing]["IsDeleted"]:
                message = "Already a campaign member."
                results.append({"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE", "message": message}]})
                continue
            fields = {k: v for k, v in item.items() if k != "attributes"}
            member_id = self.add("CampaignMember", HasResponded=False, **fields)
            results.append({"id": member_id, "success": True, "errors": []})
        return Response(200, results)

    def _collection_delete(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not ids or len(ids) > COLLECTION_MAX:
            return errors(400, "EXCEEDED_ID_LIMIT", f"between 1 and {COLLECTION_MAX} ids")
        results = []
        for record_id in ids:
            record = self.find(record_id)
            if record is None or record.get("IsDeleted"):
                results.append({"id": record_id, "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED"}]})
                continue
            self.delete(record_id)
            results.append({"id": record_id, "success": True, "errors": []})
        return Response(200, results)

    def _composite(self, request: Request) -> Response:
        """Up to 25 subrequests, at most 5 of them collections, counted as one call; the sandbox models the
        collection update, insert and delete subrequests a sync sends (a delete names its ids in its url)."""
        body = request.body if isinstance(request.body, dict) else {}
        subrequests = body.get("compositeRequest")
        if not isinstance(subrequests, list) or not subrequests or len(subrequests) > 25:
            return errors(400, "INVALID_COMPOSITE_REQUEST", "compositeRequest: between 1 and 25 subrequests")
        if sum("/composite/sobjects" in str(s.get("url")) for s in subrequests) > 5:
            return errors(400, "INVALID_COMPOSITE_REQUEST", "at most 5 sObject Collections subrequests")
        handlers = {
            "PATCH": self._collection_update,
            "POST": self._collection_insert,
            "DELETE": self._collection_delete,
        }
        answers = []
        for sub in subrequests:
            handler = handlers.get(str(sub.get("method")))
            path, _, query = str(sub.get("url")).partition("?")
            if handler is None or path.rstrip("/") != data_base(request) + "/composite/sobjects":
                answer = errors(400, "NOT_SUPPORTED", f"the sandbox models collections only: {sub.get('url')}")
            else:
                inner = Request(str(sub["method"]), path, parse_qs(query), request.headers, sub.get("body"), {})
                answer = handler(inner)
            answers.append(
                {
                    "body": answer.body,
                    "httpHeaders": {},
                    "httpStatusCode": answer.status,
                    "referenceId": sub.get("referenceId"),
                }
            )
        return Response(200, {"compositeResponse": answers})

    def _custom_field(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        full_name = str(body.get("FullName", ""))
        sobject, _, name = full_name.partition(".")
        kind = {"Number": "double", "Text": "string", "Picklist": "picklist", "LongTextArea": "textarea",
                "DateTime": "datetime"}.get(str((body.get("Metadata") or {}).get("type")), "")  # fmt: skip
        if sobject not in self.custom_fields or not name.endswith("__c") or not kind:
            return errors(400, "FIELD_INTEGRITY_EXCEPTION", f"cannot create {full_name}")
        if name in self.custom_fields[sobject]:
            return errors(400, "DUPLICATE_DEVELOPER_NAME", f"{full_name} already exists")
        self.custom_fields[sobject][name] = kind
        return Response(201, {"id": f"00N{next(self._counter):012d}", "success": True, "errors": []})

    # --- Bulk API 2.0 ingest ---------------------------------------------------------------------

    def _job_create(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("operation") != "update" or body.get("object") not in self.custom_fields:
            return errors(400, "INVALIDJOB", "the sandbox models update jobs on Lead and Contact")
        job = Job(f"750{next(self._counter):012d}AAA", str(body["object"]), "update")
        self.jobs[job.id] = job
        return Response(200, self._job_json(job))

    def _job_json(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "state": job.state,
            "jobType": "V2Ingest",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(VERSION),
            "numberRecordsProcessed": len(job.succeeded or []) + len(job.failed or []),
            "numberRecordsFailed": len(job.failed or []),
        }

    def _job_upload(self, request: Request) -> Response:
        job = self.jobs.get(request.params["job"])
        if job is None or job.state != "Open":
            return errors(400, "INVALIDJOBSTATE", "job is not open")
        job.csv += request.body if isinstance(request.body, str) else ""
        return Response(201)

    def _job_close(self, request: Request) -> Response:
        job = self.jobs.get(request.params["job"])
        if job is None:
            return errors(404, "NOT_FOUND", "job not found")
        if (request.body or {}).get("state") == "UploadComplete":
            job.state = "UploadComplete"
            self._process(job)
        return Response(200, self._job_json(job))

    def _process(self, job: Job) -> None:
        job.succeeded, job.failed = [], []
        for row in csv.DictReader(io.StringIO(job.csv)):
            item = {"attributes": {"type": job.sobject}, **{k: (v if v != "" else None) for k, v in row.items()}}
            item["id"] = item.pop("Id", None)
            result = self._update_one(item)
            if result["success"]:
                job.succeeded.append({"sf__Id": str(item["id"]), "sf__Created": "false", **row})
            else:
                error = result["errors"][0]
                job.failed.append(
                    {"sf__Id": str(item["id"]), "sf__Error": f"{error['statusCode']}:{error['message']}", **row}
                )

    def _job_info(self, request: Request) -> Response:
        job = self.jobs.get(request.params["job"])
        if job is None:
            return errors(404, "NOT_FOUND", "job not found")
        if job.state == "UploadComplete":
            job.polls_left -= 1
            if job.polls_left < 0:
                job.state = "JobComplete"
        return Response(200, self._job_json(job))

    def _job_results(self, request: Request) -> Response:
        job = self.jobs.get(request.params["job"])
        kind = request.params["kind"]
        if job is None or kind not in ("successfulResults", "failedResults") or job.state != "JobComplete":
            return errors(404, "NOT_FOUND", "results not available")
        rows = job.succeeded if kind == "successfulResults" else job.failed
        out = io.StringIO()
        columns = ["sf__Id", "sf__Created" if kind == "successfulResults" else "sf__Error"]
        header = columns + [c for c in (csv.DictReader(io.StringIO(job.csv)).fieldnames or [])]
        writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows or [])
        return Response(200, out.getvalue().encode())
