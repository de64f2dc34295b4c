"""HubSpot behind the connector protocol: incremental reads, write targets, batched and isolated writes.

Reading contacts (connectors/hubspot.md, "Reading"): a first run backfills through
the list endpoint; later runs search on ``lastmodifieddate`` ascending. Search
stops at 10,000 results per query, so every page is a new query that starts at
the last timestamp seen (ids already read at that timestamp are skipped). When
a whole page shares one timestamp, a "tie pass" reads that millisecond by
ascending ``hs_object_id`` (``EQ t`` and ``id GT last``), which makes progress
even when more than 10,000 contacts share one millisecond, and never returns a
contact twice in a run.

Cursor (cursors.py): ``Modified(t, i)`` means everything modified before ``t``,
and everything at ``t`` with an id up to ``i``, is stored. A ``Backfill`` cursor
means the first-run backfill is still under way.
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from hubspot.crm.properties import OptionInput

from leadscore.connectors.checks import checked
from leadscore.connectors.http import Sleep
from leadscore.connectors.hubspot.client import GENERAL, SEARCH, HubSpotClient, OAuthApp
from leadscore.connectors.hubspot.cursors import Backfill, EmailEvents, Modified, WebEvents, contacts_cursor
from leadscore.connectors.hubspot.mapping import HubSpotMapping
from leadscore.connectors.hubspot.transform import counter_events, email_event, to_contact, web_event
from leadscore.connectors.inflight import in_order
from leadscore.connectors.mapping import load_mapping
from leadscore.connectors.paging import token_pages, unless_refused
from leadscore.connectors.values import parse_time
from leadscore.errors import AuthError, BatchRejectedError, ConfigError, PlatformError
from leadscore.protocol import (
    FAIL,
    OK,
    WARN,
    ApiUsage,
    CheckItem,
    ContactPage,
    Cursor,
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
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Contact, Event

WEB, EMAIL = "web_events", "email_events"
T = TypeVar("T")
MERGED_IDS = "hs_merged_object_ids"
BACKFILL_MARGIN_MS = 60_000
COMPANY_PREFIX = "company."
"""A mapped name with this prefix is a property of the contact's primary company, not of the contact."""
PRIMARY_COMPANY = "associatedcompanyid"
PROPERTY_SPECS = {
    "score": {"type": "number", "fieldType": "number"},
    "grade": {"type": "enumeration", "fieldType": "select"},
    "band": {"type": "enumeration", "fieldType": "select"},
    "label": {"type": "string", "fieldType": "text"},
    "reasons": {"type": "string", "fieldType": "textarea"},
    "scored_at": {"type": "datetime", "fieldType": "date"},
}


class HubSpotConnector:
    """One HubSpot portal as a leadscore source."""

    def __init__(
        self,
        source: str,
        base_url: str,
        token: str,
        targets: WriteTargets,
        mapping_overrides: dict[str, Any] | None = None,
        oauth: OAuthApp | None = None,
        sleep: Sleep = time.sleep,
        clock_ms: Any = None,
    ) -> None:
        self.source = source
        self.mapping = load_mapping("hubspot", HubSpotMapping, mapping_overrides)
        self.policy = WritePolicy(batch=self.mapping.limits.batch_update, sends_early=True, order="by_list")
        self.read_policy = ReadPolicy(concurrent_streams=True)
        self.client = HubSpotClient(source, base_url, token, self.mapping.limits, oauth=oauth, sleep=sleep)
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.targets = targets
        self._written_names = {p.name: self.mapping.write_name(p.name) for p in targets.properties}
        self._list_ids: dict[str, str] = {}
        self._targets_ensured = False
        self._company_properties = sorted(
            name.removeprefix(COMPANY_PREFIX)
            for name in self.mapping.profile.values()
            if name.startswith(COMPANY_PREFIX)
        )
        self._companies: dict[str, dict[str, Any]] = {}
        """Companies read during the current pull, so a company shared by many contacts is read once."""

    # --- reading contacts -----------------------------------------------------------------

    def _properties(self) -> list[str]:
        names = {name for name in self.mapping.profile.values() if not name.startswith(COMPANY_PREFIX)}
        names |= set(self._written_names.values())
        if self._company_properties:
            names.add(PRIMARY_COMPANY)
        names |= {counter.property for counter in self.mapping.counters}
        return sorted(names | {"lastmodifieddate", "hs_object_id", MERGED_IDS})

    def _with_companies(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each record with its primary company's mapped properties as ``company.<name>``: one batch read per
        hundred companies the page names and this pull has not read yet."""
        if not self._company_properties:
            return records
        wanted = {
            str(company)
            for record in records
            if (company := (record.get("properties") or {}).get(PRIMARY_COMPANY))
            and str(company) not in self._companies
        }
        batch = self.mapping.limits.batch_update
        ordered = sorted(wanted)
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            for company in self.client.batch_read_companies(chunk, self._company_properties):
                self._companies[str(company["id"])] = company.get("properties") or {}
            for missing in set(chunk) - self._companies.keys():
                self._companies[missing] = {}
        joined = []
        for record in records:
            properties = dict(record.get("properties") or {})
            company = self._companies.get(str(properties.get(PRIMARY_COMPANY) or ""), {})
            properties.update({COMPANY_PREFIX + name: company.get(name) for name in self._company_properties})
            joined.append(record | {"properties": properties})
        return joined

    def _page(self, records: list[dict[str, Any]], cursor: Cursor) -> ContactPage:
        records = self._with_companies(records)
        contacts: list[Contact] = []
        events: list[Event] = []
        problems: list[RecordProblem] = []
        merged: list[tuple[str, str]] = []
        for record in records:
            contact, found = to_contact(self.source, record, self.mapping, self._written_names)
            contacts.append(contact)
            problems.extend(found)
            events.extend(counter_events(self.source, contact, record, self.mapping))
            merged += [(loser, contact.id) for loser in _merged_ids(record)]
        return ContactPage(contacts, cursor, events, problems, merged)

    def read_contacts(self, cursor: SavedCursor | None) -> Iterator[ContactPage]:
        self._companies = {}
        position = contacts_cursor(cursor)
        if isinstance(position, Modified):
            yield from self._incremental(position)
            return
        yield from self._backfill(position or Backfill(self._clock_ms()))

    def _backfill(self, position: Backfill) -> Iterator[ContactPage]:
        """First run: every contact through the list endpoint; then search takes over from when it began."""
        properties = self._properties()
        pages = token_pages(
            lambda after: self.client.list_contacts(after, properties),
            position.after,
            source=self.source,
            endpoint="GET /crm/v3/objects/contacts",
        )
        for page in pages:
            cursor: Cursor = (
                Modified(position.started_ms - BACKFILL_MARGIN_MS)
                if page.following is None
                else Backfill(position.started_ms, page.following)
            )
            yield self._page(page.records, cursor)

    def _incremental(self, position: Modified) -> Iterator[ContactPage]:
        """Keyset pages: each is a fresh query from the last timestamp seen, so no query pages past the cap
        and a record modified mid-pull cannot shift another out of an offset page. The read starts a look-back
        window before the cursor (search's index lags), and what the window held when last read is skipped."""
        lookback = int(self.mapping.limits.search_lookback_seconds * 1000)
        window = _Window(dict(position.recent), lookback, self.mapping.limits.recent_kept)
        ts, after_id = position.ts, position.after_id
        seen_at_ts: set[str] = set()
        if lookback:
            ts, after_id = max(0, ts - lookback), None
        if after_id is not None:
            yield from self._tie_pass(ts, after_id, seen_at_ts, window)
            ts += 1
        page_size = self.mapping.limits.search_page
        first = True
        while True:
            page = self.client.search_contacts(
                [("lastmodifieddate", "GTE", str(ts))], "lastmodifieddate", 0, self._properties()
            )
            if first and self._relisting_is_quicker(page.total):
                yield from self._backfill(Backfill(self._clock_ms()))
                return
            first = False
            records = page.records
            if records and all(_modified_ms(r) == ts for r in records) and len(records) == page_size:
                yield from self._tie_pass(ts, None, seen_at_ts, window)
                ts, seen_at_ts = ts + 1, set()
                continue
            fresh = [r for r in records if not (_modified_ms(r) == ts and r["id"] in seen_at_ts)]
            if not fresh:
                return
            last_ts = max(_modified_ms(r) for r in fresh)
            at_last = {r["id"] for r in fresh if _modified_ms(r) == last_ts}
            seen_at_ts = at_last | (seen_at_ts if last_ts == ts else set())
            if len(records) < page_size:
                highest = _highest_id(r["id"] for r in records if _modified_ms(r) == last_ts)
                yield window.page(self, fresh, last_ts, highest)
                return
            yield window.page(self, fresh, last_ts, None)
            ts = last_ts

    def _relisting_is_quicker(self, modified: int) -> bool:
        """Whether paging the whole portal by the list endpoint reads ``modified`` records sooner than search,
        each at the pace its window allows; one more search, of one record, learns the portal's size."""
        limits = self.mapping.limits
        if modified < limits.relist_from_records:
            return False
        portal = self.client.search_contacts([("lastmodifieddate", "GTE", "0")], "lastmodifieddate", 0, [], 1).total
        listing = math.ceil(portal / limits.list_page) / self.client.budget.rate(GENERAL)
        searching = math.ceil(modified / limits.search_page) / self.client.budget.rate(SEARCH)
        return listing < searching

    def _tie_pass(self, ts: int, after_id: str | None, skip: set[str], window: _Window) -> Iterator[ContactPage]:
        """Every contact modified exactly at ``ts``, by ascending id, one keyset page at a time."""
        floor = after_id or "0"
        while True:
            page = self.client.search_contacts(
                [("lastmodifieddate", "EQ", str(ts)), ("hs_object_id", "GT", floor)],
                "hs_object_id",
                0,
                self._properties(),
            )
            if not page.records:
                return
            floor = page.records[-1]["id"]
            fresh = [r for r in page.records if r["id"] not in skip]
            yield window.page(self, fresh, ts, floor)
            if len(page.records) < self.mapping.limits.search_page:
                return

    # --- reading events -------------------------------------------------------------------

    def event_streams(self) -> Sequence[str]:
        return tuple(stream for stream in (WEB, EMAIL) if stream not in self.mapping.disabled_streams)

    def read_events(self, stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        if stream == WEB:
            yield from self._web_events(WebEvents.from_json(cursor))
        elif stream == EMAIL:
            yield from self._email_events(EmailEvents.from_json(cursor))

    def _web_events(self, position: WebEvents) -> Iterator[EventPage]:
        """Every page's cursor moves with the page: an interrupted read resumes at the next page."""
        since = position.occurred_after
        newest = position.newest or since
        pages = token_pages(
            lambda after: self.client.web_events(since, after),
            position.after,
            source=self.source,
            endpoint="GET /events/v3/events",
        )
        for page in _unless_refused(pages, WEB, self.source):
            events: list[Event] = []
            problems: list[RecordProblem] = []
            for raw in page.records:
                converted = web_event(self.source, raw, self.mapping)
                if isinstance(converted, RecordProblem):
                    problems.append(converted)
                elif converted is not None:
                    events.append(converted)
                    newest = max(newest or "", _iso_ms(converted.occurred_at))
            if page.following is None:
                cursor = WebEvents(self._lookback(newest) if newest else since)
            else:
                cursor = WebEvents(since, page.following, newest)
            yield EventPage(events, cursor, problems=problems)

    def _email_events(self, position: EmailEvents) -> Iterator[EventPage]:
        """Every page's cursor moves with the page: an interrupted read resumes at the next page."""
        start = position.start_ms
        newest = max(start, position.newest_ms)
        pages = token_pages(
            lambda offset: self.client.email_events(start, offset),
            position.offset,
            source=self.source,
            endpoint="GET /email/public/v1/events",
        )
        for page in pages:
            by_email: list[tuple[str, Event]] = []
            problems: list[RecordProblem] = []
            for raw in page.records:
                converted = email_event(self.source, raw, self.mapping)
                if isinstance(converted, RecordProblem):
                    problems.append(converted)
                else:
                    by_email.append(converted)
                    newest = max(newest, int(raw.get("created") or 0))
            if page.following is None:
                lookback_ms = self.mapping.limits.event_lookback_seconds * 1000
                cursor = EmailEvents(max(0, newest - lookback_ms))
            else:
                cursor = EmailEvents(start, page.following, newest)
            yield EventPage((), cursor, by_email=by_email, problems=problems)

    # --- write targets --------------------------------------------------------------------

    def ensure_targets(self) -> Sequence[str]:
        """Create the property group, properties and MANUAL lists leadscore writes, if missing (idempotent)."""
        if self._targets_ensured:
            return ()
        targets = self.targets
        existing = self.client.properties()
        group = self.mapping.property_group
        if any(self.mapping.write_name(p.name) not in existing for p in targets.properties):
            self.client.create_group(group.name, group.label)
        for target in targets.properties:
            name = self.mapping.write_name(target.name)
            found = existing.get(name)
            if found is None:
                self.client.create_property(_property_spec(target, name, group.name))
            elif (problem := self._target_problem(target, found)) is not None:
                raise ConfigError(problem)
        created: list[str] = []
        for key in targets.lists:
            name = self._list_name(key)
            list_id = self.client.list_id(name)
            if list_id is None:
                list_id = self.client.create_list(name)
                created.append(key)
            self._list_ids[key] = list_id
        self._targets_ensured = True
        return created

    def _list_name(self, key: str) -> str:
        return list_display_name(self.mapping.list_name, key)

    def _target_problem(self, target: TargetProperty, found: Mapping[str, Any]) -> str | None:
        """Why an existing property cannot take what leadscore writes there, with the fix; None when it can."""
        name = self.mapping.write_name(target.name)
        wanted = _property_spec(target, name, self.mapping.property_group.name)["type"]
        if found["type"] != wanted:
            return (
                f"HubSpot property '{name}' exists with type {found['type']}, but leadscore writes a {wanted} there; "
                f"delete or rename it in HubSpot, or map '{target.name}' to another property under mapping.writes "
                "in the source's settings"
            )
        if found["options"] and set(target.options) - set(found["options"]):
            missing = sorted(set(target.options) - set(found["options"]))
            return (
                f"HubSpot property '{name}' lacks the options {missing}; add them in HubSpot or remove the property "
                "so leadscore recreates it"
            )
        return None

    # --- checking -------------------------------------------------------------------------

    def check(self) -> list[CheckItem]:
        """Reads only: the contact properties (credentials and schema scope), one page of contacts, each band list,
        one page of each event stream, and the limits the portal's headers report."""
        items: list[CheckItem] = []
        try:
            existing = self.client.properties()
        except AuthError as exc:
            return [CheckItem("credentials", FAIL, str(exc), SCOPES_FIX)]
        items.append(CheckItem("credentials", OK, "the token reads contact properties"))
        items.append(checked("contacts", lambda: self.client.list_contacts(None, ["email"]), "contacts readable"))
        for target in self.targets.properties:
            name = self.mapping.write_name(target.name)
            found = existing.get(name)
            if found is None:
                items.append(CheckItem(f"property {name}", WARN, "missing: the first sync creates it",
                                       "the app needs crm.schemas.contacts.write for that"))  # fmt: skip
            elif (problem := self._target_problem(target, found)) is not None:
                items.append(CheckItem(f"property {name}", FAIL, problem, "see the message"))
            else:
                items.append(CheckItem(f"property {name}", OK, f"exists ({found['type']})"))
        for key in self.targets.lists:
            name = self._list_name(key)
            lookup = functools.partial(self.client.list_id, name)
            items.append(checked(f"list {name}", lookup, "exists", "missing: the first sync creates it"))
        for stream in self.event_streams():
            items.append(checked(f"stream {stream}", functools.partial(self._first_page, stream), "readable"))
        for stream in self.mapping.disabled_streams:
            items.append(CheckItem(f"stream {stream}", WARN, "turned off by mapping.disabled_streams"))
        items.append(CheckItem("limits", OK, self._limits_seen()))
        return items

    def _first_page(self, stream: str) -> object:
        """One page of a stream, from a day ago; a refused optional stream raises StreamUnavailableError."""

        def pages() -> Iterator[object]:
            if stream == WEB:
                yield self.client.web_events(None, None)
            else:
                yield self.client.email_events(int(self._clock_ms()) - 86_400_000, None)

        return next(_unless_refused(pages(), stream, self.source) if stream == WEB else pages())

    def _limits_seen(self) -> str:
        usage = self.client.usage
        window = self.client.budget.windows[GENERAL]
        daily = f"; {usage.daily_remaining:,} calls left today" if usage.daily_remaining is not None else ""
        return f"paced at {window.limit} calls per {window.seconds:.0f} s{daily}"

    # --- writing --------------------------------------------------------------------------

    def apply(self, entries: Sequence[PendingChange], progress: Progress | None = None) -> list[Outcome]:
        """Each batch's outcomes go to ``progress`` as it is answered, but for records HubSpot no longer finds:
        those are followed to a merge survivor at the end, and reported with the returned list."""
        outcomes: list[Outcome] = []
        updates = [e for e in entries if e.change.kind == SET_PROPERTIES]
        memberships = [e for e in entries if e.change.kind in (LIST_ADD, LIST_REMOVE)]
        size = self.mapping.limits.batch_update
        batches = [
            functools.partial(self._update, updates[start : start + size]) for start in range(0, len(updates), size)
        ]
        with in_order(batches, self.mapping.limits.writes_in_flight) as answers:
            for answered in answers:
                _final(progress, answered)
                outcomes += answered
        outcomes += self._memberships(memberships, progress)
        return self._follow_missing(outcomes, entries)

    def _update(self, entries: Sequence[PendingChange]) -> list[Outcome]:
        """One batch update; a 400 for one bad record splits the batch until the bad one stands alone."""
        merged: dict[str, dict[str, str]] = defaultdict(dict)
        for entry in entries:
            merged[entry.change.contact_id].update(
                {self.mapping.write_name(k): str(v) for k, v in entry.change.payload.items()}
            )
        try:
            written, failed = self.client.batch_update(list(merged.items()))
        except BatchRejectedError as exc:
            if len(merged) == 1:
                return [Outcome(e.key, "rejected", str(exc)) for e in entries]
            ids = list(merged)
            half = set(ids[: len(ids) // 2])
            first = [e for e in entries if e.change.contact_id in half]
            second = [e for e in entries if e.change.contact_id not in half]
            return self._update(first) + self._update(second)
        outcomes = []
        for entry in entries:
            contact_id = entry.change.contact_id
            if contact_id in written:
                outcomes.append(Outcome(entry.key, "ok"))
            else:
                outcomes.append(Outcome(entry.key, "gone", failed.get(contact_id, "not in HubSpot's answer")))
        return outcomes

    def _memberships(self, entries: Sequence[PendingChange], progress: Progress | None) -> list[Outcome]:
        by_list: dict[str, list[PendingChange]] = defaultdict(list)
        for entry in entries:
            by_list[str(entry.change.payload["list"])].append(entry)
        outcomes: list[Outcome] = []
        cap = self.mapping.limits.list_membership
        for key, items in by_list.items():
            list_id = self._list_ids.get(key)
            if list_id is None:
                outcomes += [Outcome(e.key, "rejected", f"no HubSpot list for '{key}' yet") for e in items]
                continue
            for start in range(0, len(items), cap):
                chunk = items[start : start + cap]
                add = [e.change.contact_id for e in chunk if e.change.kind == LIST_ADD]
                remove = [e.change.contact_id for e in chunk if e.change.kind == LIST_REMOVE]
                missing = self.client.add_and_remove(list_id, add, remove)
                answered = [
                    Outcome(e.key, "gone", "OBJECT_NOT_FOUND: not a HubSpot contact any more")
                    if e.change.contact_id in missing
                    else Outcome(e.key, "ok")
                    for e in chunk
                ]
                _final(progress, answered)
                outcomes += answered
        return outcomes

    def _follow_missing(self, outcomes: list[Outcome], entries: Sequence[PendingChange]) -> list[Outcome]:
        """A contact HubSpot no longer finds may have been merged: look once, and follow it to the survivor."""
        by_id = {e.key: e for e in entries}
        missing = sorted({by_id[o.key].change.contact_id for o in outcomes if o.status == "gone"})
        if not missing:
            return outcomes
        survivors: dict[str, str] = {}
        for start in range(0, len(missing), 100):
            records, _ = self.client.batch_read(missing[start : start + 100], [MERGED_IDS])
            for record in records:
                for loser in _merged_ids(record):
                    if loser in missing:
                        survivors[loser] = record["id"]
        followed = []
        for outcome in outcomes:
            contact_id = by_id[outcome.key].change.contact_id
            if outcome.status == "gone" and contact_id in survivors:
                followed.append(Outcome(outcome.key, "merged", "merged in HubSpot", survivors[contact_id]))
            else:
                followed.append(outcome)
        return followed

    def _lookback(self, newest_iso: str) -> str:
        """Start the next read a little before the newest event seen: late events land, the store drops repeats."""
        moment = parse_time(newest_iso)
        if moment is None:
            return newest_iso
        back_ms = int(moment.timestamp() * 1000) - 1 - self.mapping.limits.event_lookback_seconds * 1000
        return _iso_ms(datetime.fromtimestamp(back_ms / 1000, UTC))

    def usage(self) -> ApiUsage:
        return self.client.usage

    def close(self) -> None:
        self.client.close()


def _property_spec(target: TargetProperty, name: str, group: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "label": f"leadscore {target.role.replace('_', ' ')}" if name.startswith("leadscore") else name,
        "group_name": group,
        "type": PROPERTY_SPECS[target.role]["type"],
        "field_type": PROPERTY_SPECS[target.role]["fieldType"],
    }
    if target.options:
        spec["options"] = [
            OptionInput(label=o, value=o, hidden=False, display_order=i) for i, o in enumerate(target.options)
        ]
    return spec


def _merged_ids(record: dict[str, Any]) -> list[str]:
    return [x for x in (record["properties"].get(MERGED_IDS) or "").split(";") if x]


def _modified_ms(record: dict[str, Any]) -> int:
    moment = parse_time(record["properties"].get("lastmodifieddate"))
    return int(moment.timestamp() * 1000) if moment is not None else 0


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _highest_id(ids: Iterable[str]) -> str:
    """The last of some HubSpot record ids in their numeric order (the order ``hs_object_id GT`` pages in).

    The last page of a search holds every contact modified at its last millisecond, so the position saved after
    it names that millisecond and the highest id read at it: the next cycle reads only contacts modified later
    (or at that millisecond with a higher id), not the same contacts again."""
    return max(ids, key=lambda record_id: (len(record_id), record_id))


SCOPES_FIX = (
    "check the private app's token (or the OAuth app) and its scopes: crm.objects.contacts.read and .write, "
    "crm.schemas.contacts.read and .write, crm.lists.read and .write, content (email events)"
)


WEB_EVENTS_FIX = (
    "the custom behavioral events API needs Marketing Hub Enterprise and the app's "
    "behavioral_events.event_definitions.read_write scope; or set mapping.disabled_streams: [web_events]"
)


def _unless_refused(pages: Iterator[T], stream: str, source: str) -> Iterator[T]:
    """Pages of the web-events stream; a 403 is the portal's plan lacking the API, or the app its scope."""
    return unless_refused(pages, stream, source, _forbidden, WEB_EVENTS_FIX)


def _forbidden(exc: PlatformError) -> bool:
    return isinstance(exc, AuthError) and exc.status == 403


class _Window:
    """The records of the look-back window read so far, (id -> modified ms): a page hands on only records not
    read before at the same modification time, and its cursor remembers the window's records (the newest
    ``kept`` of them; any beyond are read again, which is harmless)."""

    def __init__(self, recent: dict[str, int], lookback_ms: int, kept: int) -> None:
        self.recent = recent
        self.lookback_ms = lookback_ms
        self.kept = kept

    def page(
        self, reader: HubSpotConnector, records: list[dict[str, Any]], ts: int, after_id: str | None
    ) -> ContactPage:
        new = [r for r in records if self.recent.get(str(r["id"])) != _modified_ms(r)]
        for record in records:
            self.recent[str(record["id"])] = _modified_ms(record)
        if not self.lookback_ms:
            self.recent = {}
        oldest = ts - self.lookback_ms
        kept = sorted(((i, m) for i, m in self.recent.items() if m >= oldest), key=lambda pair: -pair[1])
        self.recent = dict(kept[: self.kept])
        return reader._page(new, Modified(ts, after_id, tuple(sorted(self.recent.items()))))


def _final(progress: Progress | None, outcomes: Sequence[Outcome]) -> None:
    """Hand a call's settled outcomes on; "gone" ones wait for the merge follow-up."""
    if progress is not None:
        progress([o for o in outcomes if o.status != "gone"])
