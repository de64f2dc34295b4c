"""The only module that sends requests to HubSpot, all through hubspot-api-client and one counted gate.

Every call: waits for room in the call budget, sends with a timeout, counts
itself per endpoint, reads the rate-limit headers, and turns failures into
leadscore errors by recovery (see errors.py). Retries happen here and only
here, for calls that are safe to repeat: every call leadscore makes is a read,
an absolute property set, or an idempotent list membership change.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from hubspot import HubSpot
from hubspot.crm.companies import BatchReadInputSimplePublicObjectId as CompanyBatchRead
from hubspot.crm.companies import SimplePublicObjectId as CompanyId
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from leadscore.connectors.http import CallBudget, RetryLimits, Sleep, Window, call_with_retries
from leadscore.connectors.hubspot.mapping import Limits
from leadscore.connectors.hubspot.resolution import TABLE, error_code
from leadscore.connectors.resolution import Action, resolve
from leadscore.errors import (
    AuthError,
    BatchRejectedError,
    BudgetExhaustedError,
    ExpiredCredentialsError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from leadscore.protocol import ApiUsage

GENERAL, SEARCH = "general", "search"
DAILY_PROBE_SECONDS = 900.0
"""Once the daily budget is spent, one call per this many seconds checks whether HubSpot has reset it."""
PACE_MARGIN_SECONDS = 0.2
"""Our send time and HubSpot's receive time differ by network jitter; pacing a little wide avoids boundary 429s."""


NO_TRANSPORT_RETRIES = urllib3.Retry(total=0, raise_on_status=False, raise_on_redirect=False)
"""hubspot-api-client leaves urllib3 to its default, which silently retries a 429 with a Retry-After (and ends
in a "too many 429 responses" connection error): every answer reaches leadscore's own retry policy, pacing and
counters instead."""


@dataclass(frozen=True)
class OAuthApp:
    """A public app's refresh credentials; a private app has none and cannot refresh."""

    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True)
class SearchPage:
    records: list[dict[str, Any]]
    total: int
    next_after: int | None


def proxy_for(url: str) -> str | None:
    """The proxy ``HTTP_PROXY``/``HTTPS_PROXY`` name for ``url`` unless ``NO_PROXY`` exempts its host, as httpx and
    requests (the other platforms' clients) find it; hubspot-api-client's urllib3 pool reads no environment."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme or "https")


class HubSpotClient:
    """hubspot-api-client behind a budget, a retry policy and a call counter."""

    def __init__(
        self,
        source: str,
        base_url: str,
        token: str,
        limits: Limits,
        oauth: OAuthApp | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self.oauth = oauth
        self.usage = ApiUsage()
        self.sleep = sleep
        self.budget = CallBudget(
            {
                GENERAL: Window(limits.per_ten_seconds, 10.0 + PACE_MARGIN_SECONDS),
                SEARCH: Window(limits.search_per_second, 1.0 + PACE_MARGIN_SECONDS),
            },
            sleep=sleep,
        )
        self.daily_reserve = int(limits.daily * limits.daily_reserve_share)
        self._token = token
        self._daily_seen_at = 0.0
        self._shared = threading.RLock()
        """Streams read at once share the API objects and the token: building one or renewing the other is one
        thread's job at a time."""
        self.api = self._build(token)

    def _build(self, token: str) -> Any:
        self._apis: dict[str, Any] = {}
        return HubSpot(
            access_token=token, host=self.base_url, retry=NO_TRANSPORT_RETRIES, proxy=proxy_for(self.base_url)
        )

    def close(self) -> None:
        """Close the connection pool of every API object this client made."""
        for api in self._apis.values():
            client = getattr(api, "api_client", None)
            if client is not None:
                client.rest_client.pool_manager.clear()
                client.close()
        self._apis = {}

    def _resolve(self, target: str) -> Any:
        """``"crm.contacts.batch_api.update_with_http_info"`` -> that bound method on a cached API object.

        hubspot-api-client builds a new ApiClient (and connection pool) on every
        attribute access; caching one per API keeps connections alive, and
        resolving at send time means a refreshed token is used on the replay.
        """
        path, _, method = target.rpartition(".")
        with self._shared:
            api = self._apis.get(path)
            if api is None:
                api = self.api
                for part in path.split("."):
                    api = getattr(api, part)
                self._apis[path] = api
        return getattr(api, method)

    # --- the gate -------------------------------------------------------------------------

    def call(
        self, endpoint: str, target: str, *args: Any, group: str = GENERAL, raw: bool = False, **kwargs: Any
    ) -> Any:
        """Send one logical request, retrying what is safe; returns the deserialized body. A refused token is
        renewed once when an OAuth app is configured; an OAuth app given no access token gets one first."""
        limits = self.limits
        if not self._token and self.oauth is not None:
            self._refresh()
        return call_with_retries(
            lambda: self._once(endpoint, group, target, raw, *args, **kwargs),
            RetryLimits(limits.max_attempts, limits.max_wait_seconds, limits.max_retry_seconds),
            sleep=self.sleep,
            on_retry=self._count_retry,
            expired=ExpiredCredentialsError,
            renew=self._refresh if self.oauth is not None else None,
        )

    def _count_retry(self) -> None:
        self.usage.count_retry()

    def _once(self, endpoint: str, group: str, target: str, raw: bool, *args: Any, **kwargs: Any) -> Any:
        """One request. ``raw`` skips the client's model deserialization (slow on pages of hundreds of
        records) and parses the JSON body directly; the transport, auth and errors are the client's."""
        remaining = self.usage.daily_remaining
        probe_due = time.monotonic() - self._daily_seen_at >= DAILY_PROBE_SECONDS
        if remaining is not None and remaining <= self.daily_reserve and not probe_due:
            raise BudgetExhaustedError(
                f"HubSpot daily API budget down to {remaining} calls, the {self.daily_reserve} kept free for other "
                "integrations; this source resumes after the daily reset",
                source=self.source,
                endpoint=endpoint,
            )
        sent_at = self.budget.acquire(group)
        self.usage.count_call(endpoint)
        try:
            return self._request(endpoint, target, raw, *args, **kwargs)
        finally:
            self.budget.answered(group, sent_at)

    def _request(self, endpoint: str, target: str, raw: bool, *args: Any, **kwargs: Any) -> Any:
        try:
            if raw:
                response = self._resolve(target)(
                    *args, _request_timeout=self.limits.request_timeout_seconds, _preload_content=False, **kwargs
                )
                data, headers = json.loads(response.data or b"null"), response.headers
            else:
                data, _status, headers = self._resolve(target)(
                    *args, _request_timeout=self.limits.request_timeout_seconds, _return_http_data_only=False, **kwargs
                )
                kind = str((headers or {}).get("Content-Type") or "application/json")
                if "json" not in kind:
                    raise json.JSONDecodeError(f"a {kind} body where JSON was expected", str(data or kind)[:40], 0)
        except json.JSONDecodeError as exc:
            raise RetryableError(
                f"{endpoint}: answered 200 with a body that is not JSON ({exc.doc[:40]!r}...), as a proxy or an "
                "outage page sends; retried, and the cycle fails if it goes on",
                source=self.source,
                endpoint=endpoint,
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            message = f"{endpoint}: connection failed: {exc}"
            raise RetryableError(message, source=self.source, endpoint=endpoint) from None
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status is None:
                raise
            body = str(getattr(exc, "body", "") or "")
            raise self._classify(endpoint, int(status), body, getattr(exc, "headers", None)) from None
        self._observe(headers)
        return data

    def _observe(self, headers: Any) -> None:
        if not headers:
            return
        limit = headers.get("X-HubSpot-RateLimit-Daily")
        if limit is not None and str(limit).isdigit():
            self.daily_reserve = int(int(limit) * self.limits.daily_reserve_share)
        daily = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily is not None and str(daily).isdigit():
            self.usage.daily_remaining = int(daily)
            self._daily_seen_at = time.monotonic()
        most = str(headers.get("X-HubSpot-RateLimit-Max") or "")
        left = str(headers.get("X-HubSpot-RateLimit-Remaining") or "")
        interval = str(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds") or "")
        if most.isdigit() and left.isdigit() and interval.isdigit() and int(most) > 0:
            self.budget.learn(GENERAL, int(most), int(interval) / 1000 + PACE_MARGIN_SECONDS, int(left))

    def _classify(self, endpoint: str, status: int, body: str, headers: Any) -> PlatformError:
        """HubSpot's answer as the error its resolution row calls for (resolution.py)."""
        source = self.source
        self._observe(headers)
        row = resolve(TABLE, status, error_code(body), endpoint)
        if status == 429:
            self.usage.count_rate_limited()
        if row.action is Action.PAUSE:
            return BudgetExhaustedError(
                "HubSpot daily limit reached; resuming after the daily reset",
                source=source,
                endpoint=endpoint,
                status=status,
            )
        if row.action is Action.WAIT:
            retry_after = _retry_after(headers)
            if retry_after is None:
                retry_after = max(1.0, self.budget.next_free_in(GENERAL if "ten_secondly" in body else SEARCH))
            return RateLimitedError(
                f"{endpoint}: rate limited", retry_after=retry_after, source=source, endpoint=endpoint, status=status
            )
        if row.action is Action.REFRESH:
            return ExpiredCredentialsError(
                f"HubSpot refused the credentials for source '{self.source}' ({_message(body)}); set a valid private "
                "app token, or the OAuth client id, secret and refresh token",
                source=source,
                endpoint=endpoint,
                status=status,
            )
        if row.action is Action.CREDENTIALS:
            return AuthError(
                f"HubSpot denied {endpoint}: {_message(body)}; grant the app the missing scope",
                source=source,
                endpoint=endpoint,
                status=status,
            )
        if row.action is Action.RETRY:
            return RetryableError(
                f"{endpoint}: HubSpot answered {status}", source=source, endpoint=endpoint, status=status
            )
        if row.action is Action.SPLIT:
            return BatchRejectedError(f"{endpoint}: {_message(body)}", source=source, endpoint=endpoint, status=status)
        return PlatformError(
            f"{endpoint}: HubSpot answered {status}: {_message(body)}", source=source, endpoint=endpoint, status=status
        )

    def _refresh(self) -> None:
        with self._shared:
            self._renew()

    def _renew(self) -> None:
        assert self.oauth is not None
        self.usage.count_call("POST /oauth/v1/token")
        try:
            tokens = self._resolve("oauth.tokens_api.create")(
                grant_type="refresh_token",
                client_id=self.oauth.client_id,
                client_secret=self.oauth.client_secret,
                refresh_token=self.oauth.refresh_token,
                _request_timeout=self.limits.request_timeout_seconds,
            )
        except Exception as exc:
            raise AuthError(
                f"HubSpot refused to refresh the OAuth token for source '{self.source}': {getattr(exc, 'body', exc)}; "
                "re-authorize the app and set a new refresh token",
                source=self.source,
            ) from None
        self._token = tokens.access_token
        self.api = self._build(self._token)

    # --- endpoints ------------------------------------------------------------------------

    def list_contacts(self, after: str | None, properties: Sequence[str]) -> tuple[list[dict[str, Any]], str | None]:
        page = self.call(
            "GET /crm/v3/objects/contacts",
            "crm.contacts.basic_api.get_page_with_http_info",
            limit=self.limits.list_page,
            after=after,
            properties=list(properties),
            archived=False,
            raw=True,
        )
        return [_raw_record(r) for r in page.get("results", [])], _next_after(page)

    def search_contacts(
        self,
        filters: Sequence[tuple[str, str, str]],
        sort: str,
        after: int,
        properties: Sequence[str],
        limit: int | None = None,
    ) -> SearchPage:
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name=n, operator=o, value=v) for n, o, v in filters])],
            sorts=[sort],
            properties=list(properties),
            limit=limit or self.limits.search_page,
            after=str(after),
        )
        page = self.call(
            "POST /crm/v3/objects/contacts/search",
            "crm.contacts.search_api.do_search_with_http_info",
            public_object_search_request=request,
            group=SEARCH,
            raw=True,
        )
        following = _next_after(page)
        records = [_raw_record(r) for r in page.get("results", [])]
        return SearchPage(records, int(page.get("total") or 0), int(following) if following else None)

    def batch_update(self, inputs: Sequence[tuple[str, dict[str, str]]]) -> tuple[set[str], dict[str, str]]:
        """Returns the ids written and, for ids not written, HubSpot's reason (e.g. OBJECT_NOT_FOUND)."""
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties=p) for i, p in inputs]
        )
        answer = self.call(
            "POST /crm/v3/objects/contacts/batch/update",
            "crm.contacts.batch_api.update_with_http_info",
            batch_input_simple_public_object_batch_input=body,
        )
        return _batch_outcome(answer)

    def batch_read(self, ids: Sequence[str], properties: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids], properties=list(properties), properties_with_history=[]
        )
        answer = self.call(
            "POST /crm/v3/objects/contacts/batch/read",
            "crm.contacts.batch_api.read_with_http_info",
            batch_read_input_simple_public_object_id=body,
        )
        _, failed = _batch_outcome(answer)
        return [_record(r) for r in answer.results], failed

    def batch_read_companies(self, ids: Sequence[str], properties: Sequence[str]) -> list[dict[str, Any]]:
        """Companies by id; an id HubSpot no longer has is left out (a 207 names it)."""
        body = CompanyBatchRead(
            inputs=[CompanyId(id=i) for i in ids], properties=list(properties), properties_with_history=[]
        )
        answer = self.call(
            "POST /crm/v3/objects/companies/batch/read",
            "crm.companies.batch_api.read_with_http_info",
            batch_read_input_simple_public_object_id=body,
        )
        return [_record(r) for r in answer.results]

    def properties(self) -> dict[str, dict[str, Any]]:
        answer = self.call(
            "GET /crm/v3/properties/contacts",
            "crm.properties.core_api.get_all_with_http_info",
            object_type="contacts",
        )
        return {
            p.name: {"type": p.type, "fieldType": p.field_type, "options": [o.value for o in p.options or []]}
            for p in answer.results
        }

    def create_group(self, name: str, label: str) -> None:
        try:
            self.call(
                "POST /crm/v3/properties/contacts/groups",
                "crm.properties.groups_api.create_with_http_info",
                object_type="contacts",
                property_group_create=PropertyGroupCreate(name=name, label=label),
            )
        except PlatformError as exc:
            if exc.status != 409:
                raise

    def create_property(self, spec: dict[str, Any]) -> None:
        try:
            self.call(
                "POST /crm/v3/properties/contacts",
                "crm.properties.core_api.create_with_http_info",
                object_type="contacts",
                property_create=PropertyCreate(**spec),
            )
        except PlatformError as exc:
            if exc.status != 409:
                raise

    def list_id(self, name: str) -> str | None:
        try:
            answer = self.call(
                "GET /crm/v3/lists/object-type-id/0-1/name",
                "crm.lists.lists_api.get_by_name_with_http_info",
                list_name=name,
                object_type_id="0-1",
            )
        except PlatformError as exc:
            if exc.status == 404:
                return None
            raise
        return str(answer.list.list_id)

    def create_list(self, name: str) -> str:
        """A 409 means the list exists (a create whose answer was lost, or another replica's): it is looked up."""
        try:
            answer = self.call(
                "POST /crm/v3/lists",
                "crm.lists.lists_api.create_with_http_info",
                list_create_request=ListCreateRequest(name=name, object_type_id="0-1", processing_type="MANUAL"),
            )
        except PlatformError as exc:
            found = self.list_id(name) if exc.status == 409 else None
            if found is None:
                raise
            return found
        return str(answer.list.list_id)

    def add_and_remove(self, list_id: str, add: Sequence[str], remove: Sequence[str]) -> set[str]:
        """Returns the ids HubSpot reported missing (deleted or merged away)."""
        answer = self.call(
            "PUT /crm/v3/lists/memberships/add-and-remove",
            "crm.lists.memberships_api.add_and_remove_with_http_info",
            list_id=list_id,
            membership_change_request=MembershipChangeRequest(
                record_ids_to_add=list(add), record_ids_to_remove=list(remove)
            ),
        )
        return {str(i) for i in answer.record_ids_missing or []}

    def web_events(self, occurred_after: str | None, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        answer = self.call(
            "GET /events/v3/events",
            "events.events_api.get_page_with_http_info",
            object_type="contact",
            occurred_after=occurred_after,
            sort=["ASCENDING"],
            limit=self.limits.events_page,
            after=after,
            raw=True,
        )
        return list(answer.get("results") or []), _next_after(answer)

    def email_events(self, start_ms: int, offset: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """The legacy email events API has no generated wrapper; send it through the same client machinery."""
        query: list[tuple[str, object]] = [("startTimestamp", start_ms), ("limit", self.limits.email_events_page)]
        if offset:
            query.append(("offset", offset))
        answer = self.call(
            "GET /email/public/v1/events",
            "crm.contacts.basic_api.api_client.call_api",
            "/email/public/v1/events",
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            response_types_map={200: "object"},
            auth_settings=["oauth2"],
        )
        following = answer.get("offset") if answer.get("hasMore") else None
        return list(answer.get("events") or []), following


def _raw_record(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(record["id"]), "properties": dict(record.get("properties") or {})}


def _next_after(page: dict[str, Any]) -> str | None:
    following = ((page.get("paging") or {}).get("next") or {}).get("after")
    return str(following) if following is not None else None


def _record(model: Any) -> dict[str, Any]:
    return {"id": str(model.id), "properties": dict(model.properties or {})}


def _batch_outcome(answer: Any) -> tuple[set[str], dict[str, str]]:
    written = {str(r.id) for r in answer.results or []}
    failed: dict[str, str] = {}
    for problem in getattr(answer, "errors", None) or []:
        for record_id in (problem.context or {}).get("ids", []):
            failed[str(record_id)] = f"{problem.category}: {problem.message}"
    return written, failed


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:300]
    if isinstance(parsed, dict):
        return f"{parsed.get('category', '')} {parsed.get('message', '')}".strip()[:300]
    return body[:300]
