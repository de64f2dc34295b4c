"""Brevo behind the connector protocol: contacts by ``modifiedSince``, engagement without per-contact calls.

Which path feeds what (README "Brevo"):
- contacts: ``GET /contacts?modifiedSince&sort=asc``, 1,000 per page. Offsets
  in creation order are stable while contacts change, and a few rows of
  overlap per page cover deletions that shift them. The next cursor is the
  platform's own clock (the ``Date`` of the pass's first answer) less a margin,
  so a contact modified during the pass is read again next cycle.
- marketing email: live, through Brevo's webhooks, which the daemon receives
  (``parse_webhook``); history, through per-campaign recipient exports
  (openers, clickers, unsubscribed, hard bounces): calls per campaign, never
  per contact. Both key an event by campaign, contact and action.
- transactional email: the event report ``/smtp/statistics/events``, and
  transactional webhooks.
- custom events (page views, forms): the API cannot read them back, so they
  arrive through the webhook endpoint when an automation forwards them.
Writes: the records a drain of the outbox updates are held on disk with their
list moves until the whole outbox is handed over (``gather``, ``release``). Then,
once ``import_threshold`` of them move into lists, those go through
``/contacts/import``, one list's arrivals after another; the rest go as
``/contacts/batch`` items, each carrying its contact's attributes and list
changes. Moves of records whose properties stay use the list endpoints (150 per
call).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import IO, Any

from leadscore.connectors.brevo.client import OTHER, BrevoClient, EncodedJson, error_fields
from leadscore.connectors.brevo.cursors import CampaignExports, ContactsPass, DealsPass, ReportDay
from leadscore.connectors.brevo.held import HeldWrites, RecordWrite
from leadscore.connectors.brevo.mapping import BrevoMapping
from leadscore.connectors.brevo.transform import (
    export_events,
    to_contact,
    transactional_event,
    webhook_events,
    won_deal_events,
)
from leadscore.connectors.checks import checked
from leadscore.connectors.http import Sleep
from leadscore.connectors.mapping import load_mapping
from leadscore.connectors.paging import offset_pages, unless_refused
from leadscore.connectors.values import parse_time
from leadscore.errors import AuthError, ConfigError, RetryableError
from leadscore.protocol import (
    FAIL,
    OK,
    WARN,
    ApiUsage,
    CheckItem,
    ContactPage,
    EventPage,
    Outcome,
    PendingChange,
    Progress,
    ReadPolicy,
    RecordProblem,
    SavedCursor,
    TargetProperty,
    WritePolicy,
    WriteTargets,
    list_display_name,
)
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Event

CAMPAIGNS, TRANSACTIONAL, DEALS = "campaign_exports", "transactional_events", "won_deals"
MISSING = "missing: the first sync creates it"
CAMPAIGNS_PAGE, FOLDERS_PAGE = 100, 50
ATTRIBUTE_TYPES = {
    "score": "float",
    "grade": "text",
    "band": "text",
    "label": "text",
    "reasons": "text",
    "scored_at": "date",
}
COMPANY_PREFIX = "company."
"""A mapped name with this prefix is an attribute of the company the contact is linked to."""
MISSING_INDEXES = re.compile(r"indexes\s+([\d,\s]+)")
IMPORT_ENVELOPE = 64
"""Bytes kept free under ``import_bytes`` besides the body's rows and flags (a margin for how Brevo counts)."""


class BrevoConnector:
    """One Brevo account as a leadscore source."""

    def __init__(
        self,
        source: str,
        base_url: str,
        api_key: str,
        targets: WriteTargets,
        mapping_overrides: dict[str, Any] | None = None,
        sleep: Sleep = time.sleep,
        clock: Any = None,
    ) -> None:
        self.source = source
        self.mapping = load_mapping("brevo", BrevoMapping, mapping_overrides)
        limits = self.mapping.limits
        self.policy = WritePolicy(batch=limits.batch_update, sends_early=False, order="by_key")
        self.read_policy = ReadPolicy()
        self.client = BrevoClient(source, base_url, api_key, limits, sleep=sleep)
        self.sleep = sleep
        self._clock = clock or (lambda: datetime.now(UTC))
        self.targets = targets
        self._written_names = {p.name: self.mapping.write_name(p.name) for p in targets.properties}
        self._list_ids: dict[str, int] = {}
        self._list_keys: dict[int, str] | None = None
        self._folder_id: int | None = None
        self._attribute_types: dict[str, str] = {}
        self._company_attributes = sorted(
            name.removeprefix(COMPANY_PREFIX)
            for name in self.mapping.profile.values()
            if name.startswith(COMPANY_PREFIX)
        )
        self._company_of: dict[int, Mapping[str, Any]] | None = None
        """Linked contact id -> company attributes, read once per pull when a company attribute is mapped."""
        self._held: HeldWrites | None = None
        """Records held for the import path between ``gather`` and ``release``."""

    # --- reading contacts -----------------------------------------------------------------

    def read_contacts(self, cursor: SavedCursor | None) -> Iterator[ContactPage]:
        self._company_of = None
        position = ContactsPass.from_json(cursor)
        since, offset, pass_started = position.since, position.offset, position.pass_started
        limits = self.mapping.limits
        seen: set[str] = set()
        started: list[str] = [pass_started] if pass_started is not None else []

        def fetch(at: int) -> list[dict[str, Any]]:
            params: dict[str, Any] = {"limit": limits.contacts_page, "offset": at, "sort": "asc"}
            if since is not None:
                params["modifiedSince"] = since
            response = self.client.call("GET", "/contacts", "GET /contacts", params=params)
            self.client.raise_for(response, "GET /contacts")
            if not started:
                started.append(self._platform_time(response.headers.get("date")))
            return list(response.json().get("contacts") or [])

        for page in offset_pages(fetch, limits.contacts_page, offset, overlap=limits.contacts_overlap):
            fresh = [r for r in page.records if str(r.get("id")) not in seen]
            seen.update(str(r.get("id")) for r in page.records)
            next_cursor = ContactsPass(started[0]) if page.last else ContactsPass(since, page.next_offset, started[0])
            yield self._page(fresh, next_cursor)

    def _platform_time(self, date_header: str | None) -> str:
        """The pass's start on Brevo's clock, less a margin: the next pass re-reads what changed during this one."""
        moment = self._clock()
        if date_header:
            with contextlib.suppress(TypeError, ValueError):
                moment = parsedate_to_datetime(date_header)
        moment = moment.astimezone(UTC) - timedelta(seconds=self.mapping.limits.modified_margin_seconds + 1)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def _linked_companies(self) -> dict[int, Mapping[str, Any]]:
        """Each linked contact's company attributes, from one walk of the companies list per pull.

        Brevo answers a contact without its company; the companies list names its
        linked contacts, so a walk of it (50 companies a call) serves every page.
        """
        if self._company_of is None:
            page_size = self.mapping.limits.companies_page

            def fetch(at: int) -> list[dict[str, Any]]:
                params = {"page": at // page_size + 1, "limit": page_size, "sort": "asc"}
                response = self.client.call("GET", "/companies", "GET /companies", params=params)
                self.client.raise_for(response, "GET /companies")
                return list(response.json().get("items") or [])

            linked: dict[int, Mapping[str, Any]] = {}
            for page in offset_pages(fetch, page_size):
                for company in page.records:
                    for contact_id in company.get("linkedContactsIds") or ():
                        linked.setdefault(int(contact_id), company.get("attributes") or {})
            self._company_of = linked
        return self._company_of

    def _with_company(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self._company_attributes:
            return record
        company = self._linked_companies().get(int(record.get("id") or 0), {})
        joined = {COMPANY_PREFIX + name: company.get(name) for name in self._company_attributes}
        return record | {"attributes": {**(record.get("attributes") or {}), **joined}}

    def _page(self, records: list[dict[str, Any]], cursor: ContactsPass) -> ContactPage:
        contacts = []
        problems: list[RecordProblem] = []
        list_keys = self._read_list_keys() if records else None
        records = [self._with_company(record) for record in records]
        for record in records:
            contact, found = to_contact(self.source, record, self.mapping, self._written_names, list_keys)
            contacts.append(contact)
            problems.extend(found)
        return ContactPage(contacts, cursor, problems=problems)

    # --- reading events -------------------------------------------------------------------

    def event_streams(self) -> Sequence[str]:
        return (TRANSACTIONAL, CAMPAIGNS, DEALS) if self.mapping.won_deal_stages else (TRANSACTIONAL, CAMPAIGNS)

    def read_events(self, stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        if stream == TRANSACTIONAL:
            yield from self._transactional(ReportDay.from_json(cursor))
        elif stream == CAMPAIGNS:
            yield from self._campaign_exports(CampaignExports.from_json(cursor))
        elif stream == DEALS:
            yield from unless_refused(
                self._won_deals(DealsPass.from_json(cursor)),
                DEALS,
                self.source,
                lambda exc: isinstance(exc, AuthError) and exc.status == 403,
                "the account has no sales CRM, or the API key lacks its permission; or set "
                "mapping.won_deal_stages: [] to stop reading deals",
            )

    def _transactional(self, state: ReportDay) -> Iterator[EventPage]:
        """The event report by day: from the cursor's day (less a look-back) to today, every page. A read
        interrupted mid-report resumes at its next page, over the same days."""
        limits = self.mapping.limits
        today = self._clock().date()
        start = today - timedelta(days=89)
        if state.day:
            start = max(
                start, datetime.fromisoformat(state.day).date() - timedelta(days=limits.transactional_lookback_days)
            )
        if state.reading is not None:
            start, today = date.fromisoformat(state.reading[0]), date.fromisoformat(state.reading[1])

        def fetch(offset: int) -> list[dict[str, Any]]:
            params = {
                "startDate": start.isoformat(),
                "endDate": today.isoformat(),
                "limit": limits.smtp_events_page,
                "offset": offset,
                "sort": "asc",
            }
            response = self.client.call("GET", "/smtp/statistics/events", "GET /smtp/statistics/events", params=params)
            self.client.raise_for(response, "GET /smtp/statistics/events")
            return list(response.json().get("events") or [])

        for page in offset_pages(fetch, limits.smtp_events_page, state.offset):
            by_email: list[tuple[str, Event]] = []
            problems: list[RecordProblem] = []
            for raw in page.records:
                converted = transactional_event(self.source, raw, self.mapping)
                if isinstance(converted, RecordProblem):
                    problems.append(converted)
                elif converted is not None:
                    by_email.append(converted)
            if page.last:
                cursor = ReportDay(today.isoformat())
            else:
                cursor = ReportDay(state.day, page.next_offset, (start.isoformat(), today.isoformat()))
            yield EventPage((), cursor, by_email=by_email, problems=problems)

    def _campaign_exports(self, done: CampaignExports) -> Iterator[EventPage]:
        """Each sent campaign's recipients, exported once per type; stops for this cycle when the hourly budget
        of the "other" endpoints has no room, so a cycle never sleeps for an hour."""
        horizon = self._clock() - timedelta(days=self.mapping.campaign_backfill_days)
        for campaign in self._sent_campaigns():
            if campaign is None:
                return
            sent = parse_time(campaign.get("sentDate"))
            if sent is None or sent < horizon:
                continue
            key = str(campaign["id"])
            for recipients, action in self.mapping.campaign_exports.items():
                if done.has(key, recipients):
                    continue
                if not self.client.has_room(OTHER):
                    return
                export = self._export(int(campaign["id"]), recipients)
                if export is None:
                    return
                with export:
                    pages = export_events(
                        self.source, campaign, action, export, self.mapping, self.mapping.limits.export_page
                    )
                    by_email, problems = next(pages, ([], []))
                    for following in pages:
                        yield EventPage((), None, by_email=by_email, problems=problems)
                        by_email, problems = following
                done = done.with_done(key, recipients)
                yield EventPage((), done, by_email=by_email, problems=problems)

    def _won_deals(self, state: DealsPass) -> Iterator[EventPage]:
        """Every deal, once a day, oldest first; a deal in a won stage yields a conversion for each linked contact.
        A read interrupted mid-walk (or stopped because the hourly budget of these endpoints is spent) resumes at
        its next page."""
        today = self._clock().date().isoformat()
        if (state.day == today and not state.reading) or not self.client.has_room(OTHER):
            return
        wanted = {name.casefold() for name in self.mapping.won_deal_stages}
        won = {stage_id for stage_id, name in self._deal_stages().items() if name.casefold() in wanted}
        limit = self.mapping.limits.deals_page

        def fetch(offset: int) -> list[dict[str, Any]]:
            params = {"offset": offset, "limit": limit, "sort": "asc"}
            answer = self.client.call("GET", "/crm/deals", "GET /crm/deals", params=params)
            self.client.raise_for(answer, "GET /crm/deals")
            return list(answer.json().get("items") or [])

        for page in offset_pages(fetch, limit, state.offset if state.reading else 0):
            events = [event for deal in page.records for event in won_deal_events(self.source, deal, won)]
            cursor = DealsPass(today) if page.last else DealsPass(state.day, page.next_offset, reading=True)
            yield EventPage(events, cursor)
            if not page.last and not self.client.has_room(OTHER):
                return

    def _sent_campaigns(self) -> Iterator[dict[str, Any] | None]:
        """Sent classic campaigns, then None if the hourly budget of these endpoints ran out before the end."""

        def fetch(offset: int) -> list[dict[str, Any]]:
            params = {"status": "sent", "type": "classic", "limit": CAMPAIGNS_PAGE, "offset": offset}
            response = self.client.call("GET", "/emailCampaigns", "GET /emailCampaigns", params=params)
            self.client.raise_for(response, "GET /emailCampaigns")
            return list(response.json().get("campaigns") or [])

        if not self.client.has_room(OTHER):
            yield None
            return
        for page in offset_pages(fetch, CAMPAIGNS_PAGE):
            yield from page.records
            if not page.last and not self.client.has_room(OTHER):
                yield None
                return

    def _export(self, campaign_id: int, recipients: str) -> IO[str] | None:
        endpoint = "POST /emailCampaigns/{campaignId}/exportRecipients"
        response = self.client.call(
            "POST", f"/emailCampaigns/{campaign_id}/exportRecipients", endpoint, body={"recipientsType": recipients}
        )
        self.client.raise_for(response, endpoint)
        process = self._wait_for_process(int(response.json()["processId"]))
        if process is None:
            return None
        url = _href(str(process.get("export_url") or ""))
        return self.client.download(url) if url else io.StringIO()

    def _wait_for_process(self, process_id: int) -> dict[str, Any] | None:
        """Poll a process until it completes; None when the budget or the patience runs out (resumed later)."""
        limits = self.mapping.limits
        for _ in range(limits.process_max_polls):
            if not self.client.has_room(OTHER):
                return None
            response = self.client.call("GET", f"/processes/{process_id}", "GET /processes/{processId}")
            self.client.raise_for(response, "GET /processes/{processId}")
            body: dict[str, Any] = response.json()
            if body.get("status") == "completed":
                return body
            self.sleep(limits.process_poll_seconds)
        return None

    # --- webhooks ---------------------------------------------------------------------------

    def parse_webhook(self, body: Any) -> EventPage:
        """A marketing, transactional or forwarded custom-event webhook, as events by recipient."""
        by_email, problems = webhook_events(self.source, body, self.mapping)
        return EventPage((), None, by_email=by_email, problems=problems)

    # --- write targets --------------------------------------------------------------------

    def ensure_targets(self) -> Sequence[str]:
        """Attributes, the folder and one list per band, created if missing; returns list keys created empty.

        Runs every cycle (two or three calls): a list a user deleted is found
        missing and re-created, and its members are planned again.
        """
        targets = self.targets
        self._ensure_attributes(targets.properties)
        folder_id = self._ensure_folder()
        existing = self._folder_lists(folder_id)
        created: list[str] = []
        self._list_ids = {}
        for key in targets.lists:
            name = self._list_name(key)
            list_id = existing.get(name)
            if list_id is None:
                list_id = self._create_once(
                    "/contacts/lists",
                    {"name": name, "folderId": folder_id},
                    functools.partial(self._list_in_folder, folder_id, name),
                )
                created.append(key)
            self._list_ids[key] = list_id
        self._list_keys = {list_id: key for key, list_id in self._list_ids.items()}
        return created

    def _ensure_attributes(self, properties: Sequence[TargetProperty]) -> None:
        """Create missing attributes and learn every attribute's type: values of the wrong type are dropped by
        Brevo without a word. A create whose answer was lost (a retry then hears "must be unique") is read back
        from the attribute list rather than assumed."""
        found = self._attributes()
        unsure: list[TargetProperty] = []
        for target in properties:
            name = self.mapping.write_name(target.name)
            if name in found:
                self._check_type(target, found[name])
                continue
            endpoint = "POST /contacts/attributes/{attributeCategory}/{attributeName}"
            wanted = ATTRIBUTE_TYPES[target.role]
            answer = self.client.call("POST", f"/contacts/attributes/normal/{name}", endpoint, body={"type": wanted})
            if answer.status_code == 400 and "unique" in error_fields(answer)[1].lower():
                unsure.append(target)
                continue
            self.client.raise_for(answer, endpoint)
            self._attribute_types[name] = wanted
        if unsure:
            found = self._attributes()
            for target in unsure:
                name = self.mapping.write_name(target.name)
                if name not in found:
                    raise ConfigError(
                        f"Brevo said attribute {name} exists but does not list it; check Contacts > Settings > "
                        "Contact attributes, and run again"
                    )
                self._check_type(target, found[name])

    def _attributes(self) -> dict[str, Mapping[str, Any]]:
        response = self.client.call("GET", "/contacts/attributes", "GET /contacts/attributes")
        self.client.raise_for(response, "GET /contacts/attributes")
        return {str(a.get("name", "")).upper(): a for a in response.json().get("attributes") or []}

    def _check_type(self, target: TargetProperty, existing: Mapping[str, Any]) -> None:
        name = self.mapping.write_name(target.name)
        wanted = ATTRIBUTE_TYPES[target.role]
        if existing.get("type") != wanted:
            raise ConfigError(
                f"Brevo attribute {name} exists with type '{existing.get('type')}', but leadscore writes its "
                f"{target.role} there as '{wanted}' (Brevo silently drops values of the wrong type). Fix: delete "
                f"{name} under Contacts > Settings > Contact attributes so leadscore recreates it, or map "
                f"'{target.name}' to another attribute under mapping.writes in the source's settings"
            )
        self._attribute_types[name] = wanted

    def _ensure_folder(self) -> int:
        if self._folder_id is not None:
            return self._folder_id
        found = self._find_folder()
        if found is not None:
            self._folder_id = found
            return found
        self._folder_id = self._create_once("/contacts/folders", {"name": self.mapping.folder_name}, self._find_folder)
        return self._folder_id

    def _create_once(self, path: str, body: dict[str, Any], find: Callable[[], int | None]) -> int:
        """Create a folder or list without ever making two: a create that failed ambiguously
        (5xx, dropped connection) may have happened, so look before trying again."""
        endpoint = f"POST {path}"
        for _ in range(self.mapping.limits.max_attempts):
            try:
                response = self.client.call("POST", path, endpoint, body=body, retry=False)
            except RetryableError as exc:
                self.sleep(exc.retry_after if exc.retry_after is not None else 1.0)
                found = find()
                if found is not None:
                    return found
                continue
            self.client.raise_for(response, endpoint)
            return int(response.json()["id"])
        raise RetryableError(f"Brevo {endpoint}: failed {self.mapping.limits.max_attempts} times", source=self.source)

    def _find_folder(self) -> int | None:
        def fetch(offset: int) -> list[dict[str, Any]]:
            params = {"limit": FOLDERS_PAGE, "offset": offset}
            response = self.client.call("GET", "/contacts/folders", "GET /contacts/folders", params=params)
            self.client.raise_for(response, "GET /contacts/folders")
            return list(response.json().get("folders") or [])

        for page in offset_pages(fetch, FOLDERS_PAGE):
            for folder in page.records:
                if folder.get("name") == self.mapping.folder_name:
                    return int(folder["id"])
        return None

    def _list_in_folder(self, folder_id: int, name: str) -> int | None:
        return self._folder_lists(folder_id).get(name)

    def _read_list_keys(self) -> dict[int, str]:
        """Band lists by id, to tell which a contact is in. Found without creating anything (a dry run reads
        what a real run reads); a real cycle has already found or created them in ensure_targets."""
        if self._list_keys is None:
            folder_id = self._folder_id if self._folder_id is not None else self._find_folder()
            existing = self._folder_lists(folder_id, create_folder=False) if folder_id is not None else {}
            names = {self._list_name(key): key for key in self.targets.lists}
            self._list_keys = {list_id: names[name] for name, list_id in existing.items() if name in names}
        return self._list_keys

    def _folder_lists(self, folder_id: int, *, create_folder: bool = True) -> dict[str, int]:
        endpoint = "GET /contacts/folders/{folderId}/lists"
        size = self.mapping.limits.lists_page
        folder_gone = False

        def fetch(offset: int) -> list[dict[str, Any]]:
            nonlocal folder_gone
            params = {"limit": size, "offset": offset}
            response = self.client.call("GET", f"/contacts/folders/{folder_id}/lists", endpoint, params=params)
            if response.status_code == 404:
                folder_gone = True
                return []
            self.client.raise_for(response, endpoint)
            return list(response.json().get("lists") or [])

        lists: dict[str, int] = {}
        for page in offset_pages(fetch, size):
            lists.update({str(r["name"]): int(r["id"]) for r in page.records})
        if folder_gone:
            self._folder_id = None
            return self._folder_lists(self._ensure_folder()) if create_folder else {}
        return lists

    # --- checking -------------------------------------------------------------------------

    def check(self) -> list[CheckItem]:
        """Reads only: the attributes (credentials), one contact, the folder and band lists, one page of each
        stream (one call of each hourly budget), the deal stages, and the limits leadscore paces by."""
        try:
            found = self._attributes()
        except AuthError as exc:
            return [CheckItem("credentials", FAIL, str(exc), "create an API key under SMTP & API > API keys")]
        items = [CheckItem("credentials", OK, "the API key reads contact attributes")]
        items.append(checked("contacts", functools.partial(self._probe, "/contacts", {"limit": 1}), "readable"))
        items.extend(self._check_attribute(target, found) for target in self.targets.properties)
        folder_id = self._find_folder()
        lists = self._folder_lists(folder_id, create_folder=False) if folder_id is not None else {}
        if folder_id is None:
            items.append(CheckItem(f"folder {self.mapping.folder_name}", WARN, MISSING))
        for key in self.targets.lists:
            name = self._list_name(key)
            there = name in lists
            items.append(CheckItem(f"list {name}", OK if there else WARN, "exists" if there else MISSING))
        probes: dict[str, tuple[str, dict[str, Any]]] = {
            TRANSACTIONAL: ("/smtp/statistics/events", {"limit": 1}),
            CAMPAIGNS: ("/emailCampaigns", {"limit": 1, "status": "sent"}),
        }
        for stream, (path, params) in probes.items():
            items.append(checked(f"stream {stream}", functools.partial(self._probe, path, params), "readable"))
        if self.mapping.won_deal_stages:
            items.append(self._check_deal_stages())
        limits = self.mapping.limits
        paced = (
            f"paced at {limits.contacts_per_second} contact calls a second, {limits.smtp_per_hour} event-report "
            f"calls and {limits.other_per_hour} other calls an hour"
        )
        items.append(CheckItem("limits", OK, paced))
        return items

    def _check_attribute(self, target: TargetProperty, found: Mapping[str, Mapping[str, Any]]) -> CheckItem:
        name = self.mapping.write_name(target.name)
        if name not in found:
            return CheckItem(f"attribute {name}", WARN, MISSING)
        try:
            self._check_type(target, found[name])
        except ConfigError as exc:
            return CheckItem(f"attribute {name}", FAIL, str(exc), "see the message")
        return CheckItem(f"attribute {name}", OK, f"exists ({found[name].get('type')})")

    def _probe(self, path: str, params: dict[str, Any]) -> Any:
        response = self.client.call("GET", path, f"GET {path}", params=params)
        self.client.raise_for(response, f"GET {path}")
        return response.json()

    def _deal_stages(self) -> dict[str, str]:
        """Every pipeline's stages, id -> name: a deal names its stage by id only."""
        pipelines = self._probe("/crm/pipeline/details/all", {})
        return {
            str(stage.get("id")): str(stage.get("name", ""))
            for pipeline in pipelines or ()
            for stage in pipeline.get("stages") or ()
        }

    def _check_deal_stages(self) -> CheckItem:
        what = f"stream {DEALS}"
        try:
            names = set(self._deal_stages().values())
        except AuthError as exc:
            fix = "without the sales CRM a sync reads no deals; or set mapping.won_deal_stages: []"
            return CheckItem(what, WARN, f"not available: {exc}", fix)
        if not {n.casefold() for n in self.mapping.won_deal_stages} & {n.casefold() for n in names}:
            stages = ", ".join(sorted(names)) or "none"
            return CheckItem(what, WARN, f"no stage named {', '.join(self.mapping.won_deal_stages)} (stages: {stages})",
                             "set mapping.won_deal_stages to the stage names that mean won")  # fmt: skip
        return CheckItem(what, OK, "readable; the won stages exist")

    def _list_name(self, key: str) -> str:
        return list_display_name(self.mapping.list_name, key)

    # --- writing --------------------------------------------------------------------------

    def gather(self) -> None:
        if self._held is not None:
            self._held.close()
        self._held = HeldWrites()

    def release(self, progress: Progress) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            self._send_held(held, progress)
        finally:
            held.close()

    def apply(self, entries: Sequence[PendingChange], progress: Progress | None = None) -> list[Outcome]:
        """List calls hand their outcomes to ``progress`` as they are answered. Records whose properties change
        are held, each with its list moves, for imports and batch updates: while gathering, until ``release``;
        otherwise until the end of this apply. A list move of a record whose properties stay goes by a list call
        now, unless its record is held (it then joins the record, after its earlier changes)."""
        outcomes: list[Outcome] = []

        def report(answered: Sequence[Outcome]) -> None:
            outcomes.extend(answered)
            if progress is not None:
                progress(answered)

        updates = [e for e in entries if e.change.kind == SET_PROPERTIES]
        moves = [e for e in entries if e.change.kind in (LIST_ADD, LIST_REMOVE)]
        unknown = [e for e in moves if str(e.change.payload["list"]) not in self._list_ids]
        outcomes += [Outcome(e.key, "rejected", f"no Brevo list for '{e.change.payload['list']}' yet") for e in unknown]
        moves = [e for e in moves if str(e.change.payload["list"]) in self._list_ids]
        with_update = {e.change.contact_id for e in updates}
        held = self._held if self._held is not None else HeldWrites()
        try:
            lone = [e for e in moves if e.contact_id not in with_update]
            joining = held.holding([e.contact_id for e in lone])
            records = [
                self._record(contact_id, items)
                for contact_id, items in _by_contact(
                    updates + [e for e in moves if e.contact_id in with_update or e.contact_id in joining]
                ).items()
            ]
            held.hold(records)
            if self._held is not None:
                outcomes += [Outcome(key, "held") for record in records for key in record.outbox_keys()]
            self._list_moves([e for e in lone if e.contact_id not in joining], report)
            if self._held is None:
                self._send_held(held, report)
        finally:
            if held is not self._held:
                held.close()
        return outcomes

    def _record(self, contact_id: str, entries: Sequence[PendingChange]) -> RecordWrite:
        """One contact's changes as Brevo takes them; its adds in list-key order, the first carrying the attributes
        when it is imported."""
        attributes: dict[str, Any] = {}
        carried: list[int] = []
        adds: list[tuple[str, int]] = []
        removes: list[tuple[int, int]] = []
        for entry in entries:
            change = entry.change
            if change.kind == SET_PROPERTIES:
                carried.append(entry.key)
                for neutral, value in change.payload.items():
                    name = self.mapping.write_name(neutral)
                    attributes[name] = _attribute_value(self._attribute_types.get(name, "text"), value)
            elif change.kind == LIST_ADD:
                adds.append((str(change.payload["list"]), entry.key))
            else:
                removes.append((self._list_ids[str(change.payload["list"])], entry.key))
        email = next((e.email for e in entries if e.email), None)
        ordered = tuple((self._list_ids[key], entry_key) for key, entry_key in sorted(adds))
        return RecordWrite(contact_id, email, attributes, tuple(carried), ordered, tuple(removes))

    def _send_held(self, held: HeldWrites, report: Progress) -> None:
        """Held records as imports, one list's arrivals after another, once ``import_threshold`` of them can go so
        (their removals from other lists following as list calls); the rest, or all of them below the threshold,
        as batch updates, which carry their list moves."""
        if held.importable() < self.mapping.limits.import_threshold:
            self._send_batches(held.records(), report)
            return
        for list_id in held.lists():
            self._import(list_id, held.arrivals(list_id), report)
        self._send_batches(held.records(importable=False), report)
        removes: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for record in held.records(importable=True):
            for list_id, key in record.removes:
                removes[list_id].append((record.contact_id, key))
        for list_id, members in removes.items():
            self._move_members(list_id, "remove", members, report)

    def _send_batches(self, records: Iterable[RecordWrite], report: Progress) -> None:
        size = self.mapping.limits.batch_update
        chunk: list[RecordWrite] = []
        for record in records:
            chunk.append(record)
            if len(chunk) == size:
                report(self._batch(chunk))
                chunk = []
        if chunk:
            report(self._batch(chunk))

    def _batch(self, records: Sequence[RecordWrite]) -> list[Outcome]:
        """One ``/contacts/batch`` call; a contact Brevo does not know is set aside as gone and the rest resent.

        Brevo either fails the whole call (404 naming the indexes, as users met it)
        or answers 207 with failure ids (as its later docs say); both are handled.
        """
        if not records:
            return []
        body = {"contacts": [record.item() for record in records]}
        endpoint = "POST /contacts/batch"
        response = self.client.call("POST", "/contacts/batch", endpoint, body=body)
        if response.status_code in (200, 201, 204):
            return [Outcome(key, "ok") for record in records for key in record.outbox_keys()]
        if response.status_code == 207:
            failed = {str(x) for x in response.json().get("failureIds") or ()}
            return [
                Outcome(key, "gone", "Brevo: contact does not exist") if r.contact_id in failed else Outcome(key, "ok")
                for r in records
                for key in r.outbox_keys()
            ]
        code, message = error_fields(response)
        if response.status_code == 404 and code == "document_not_found":
            match = MISSING_INDEXES.search(message)
            indexes = {int(x) for x in re.findall(r"\d+", match.group(1))} if match else set()
            missing = [records[i] for i in sorted(indexes) if i < len(records)]
            if missing:
                gone = [Outcome(key, "gone", f"Brevo: {message}") for record in missing for key in record.outbox_keys()]
                return gone + self._batch([r for r in records if r not in missing])
        if response.status_code == 400 and "attribute" in message.lower():
            self._attribute_types.clear()
            raise ConfigError(
                f"Brevo refused leadscore's attributes ({code}: {message}); someone deleted or renamed one since "
                "the cycle began. The next cycle re-creates missing attributes; nothing was written"
            )
        if response.status_code == 400 and len(records) > 1:
            half = len(records) // 2
            return self._batch(records[:half]) + self._batch(records[half:])
        if response.status_code in (400, 404):
            return [Outcome(key, "rejected", f"Brevo {code}: {message}") for r in records for key in r.outbox_keys()]
        self.client.raise_for(response, endpoint)
        return []

    def _list_moves(self, entries: Sequence[PendingChange], report: Progress) -> None:
        """Adds and removes by list, 150 ids per call."""
        by_target: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for entry in entries:
            verb = "add" if entry.change.kind == LIST_ADD else "remove"
            by_target[(str(entry.change.payload["list"]), verb)].append((entry.contact_id, entry.key))
        for (key, verb), members in by_target.items():
            self._move_members(self._list_ids[key], verb, members, report)

    def _move_members(self, list_id: int, verb: str, members: Sequence[tuple[str, int]], report: Progress) -> None:
        """``members`` (contact id, key) into or out of one list; "already in list" and "already removed" are
        success."""
        cap = self.mapping.limits.list_members
        endpoint = f"POST /contacts/lists/{{listId}}/contacts/{verb}"
        for start in range(0, len(members), cap):
            chunk = members[start : start + cap]
            body = {"ids": [int(contact_id) for contact_id, _ in chunk]}
            response = self.client.call("POST", f"/contacts/lists/{list_id}/contacts/{verb}", endpoint, body=body)
            code, _ = error_fields(response) if response.status_code >= 400 else ("", "")
            if response.status_code < 300 or (response.status_code == 400 and code == "invalid_parameter"):
                report([Outcome(key, "ok") for _, key in chunk])
            elif response.status_code == 404:
                gone = f"Brevo list {list_id} is gone; re-created next cycle"
                report([Outcome(key, "rejected", gone) for _, key in chunk])
            else:
                self.client.raise_for(response, endpoint)

    def _import(self, list_id: int, arrivals: Iterator[tuple[RecordWrite, bool]], report: Progress) -> None:
        """One list's arrivals as contact imports, each within ``import_rows`` rows and ``import_bytes`` of JSON.

        Import keys contacts by email and needs a target list. A contact entering
        lists of two models is imported into each, its attributes with the first.
        An accepted import (202) counts as applied: Brevo's process status has no
        failure state to wait for, and polling would spend the 100-an-hour budget
        of /processes.
        """
        limits = self.mapping.limits
        flags = {"listIds": [list_id], "updateExistingContacts": True, "emptyContactsAttributes": False}
        tail = json.dumps({**flags, "disableNotification": True}, separators=(",", ":"))[1:]
        rows: list[str] = []
        keys: list[int] = []
        size = len(tail) + IMPORT_ENVELOPE

        def send() -> None:
            body = EncodedJson(('{"jsonBody":[' + ",".join(rows) + "]," + tail).encode())
            response = self.client.call("POST", "/contacts/import", "POST /contacts/import", body=body)
            self.client.raise_for(response, "POST /contacts/import")
            report([Outcome(key, "ok") for key in keys])

        for record, first in arrivals:
            row = {"email": record.email, "attributes": record.attributes} if first else {"email": record.email}
            text = json.dumps(row, separators=(",", ":"))
            if rows and (len(rows) == limits.import_rows or size + len(text) + 1 > limits.import_bytes):
                send()
                rows, keys, size = [], [], len(tail) + IMPORT_ENVELOPE
            rows.append(text)
            size += len(text) + 1
            keys += [key for lid, key in record.adds if lid == list_id]
            if first:
                keys += record.carried
        if rows:
            send()

    def usage(self) -> ApiUsage:
        return self.client.usage

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
        self.client.close()


def _by_contact(entries: Sequence[PendingChange]) -> dict[str, list[PendingChange]]:
    grouped: dict[str, list[PendingChange]] = defaultdict(list)
    for entry in entries:
        grouped[entry.change.contact_id].append(entry)
    return dict(grouped)


def _attribute_value(kind: str, value: Any) -> Any:
    """Brevo ignores a value of the wrong type, so send each attribute as its type wants it."""
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if kind == "date":
        return str(value)[:10]
    return str(value)


def _href(export_url: str) -> str:
    """Brevo documents ``export_url`` as a URL but its example wraps it in an HTML link; accept both."""
    match = re.search(r'href="([^"]+)"', export_url)
    return match.group(1) if match else export_url.strip()
