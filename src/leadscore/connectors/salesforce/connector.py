"""Salesforce behind the connector protocol: Leads and Contacts, activities, campaigns as band lists.

Reading: every stream is a keyset over ``(SystemModstamp, Id)`` with
``queryAll``, following ``nextRecordsUrl``; each page commits the last
``(stamp, id)`` it held, so a crash replays at most a page and ties at one
timestamp are neither skipped nor doubled. ``queryAll`` also returns deleted
records: a merged-away one follows its ``MasterRecordId``, another is marked
deleted. A converted lead is not written any more (Salesforce refuses it):
its history and score move to ``ConvertedContactId``.

Writing: sObject Collections (200 records each, ``allOrNone: false``, one
result per record), five to a Composite request, which counts as one API call;
at or above ``bulk_threshold`` updates per object, a Bulk API 2.0
ingest job whose failed results are read back. Band lists are Campaigns;
membership is a CampaignMember inserted (a duplicate counts as done) or
deleted after looking up its id.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from simple_salesforce.api import Salesforce

from leadscore.connectors.checks import checked
from leadscore.connectors.http import Sleep
from leadscore.connectors.mapping import load_mapping
from leadscore.connectors.paging import token_pages, unless_refused
from leadscore.connectors.salesforce.client import (
    LoginCredentials,
    RefreshCredentials,
    SalesforceApiError,
    SalesforceClient,
)
from leadscore.connectors.salesforce.cursors import Keyset, PerObject
from leadscore.connectors.salesforce.mapping import SalesforceMapping
from leadscore.connectors.salesforce.transform import (
    LEAD_PREFIX,
    calendar_event,
    conversion_event,
    member_event,
    object_of,
    task_event,
    to_contact,
    won_opportunity_event,
)
from leadscore.errors import AuthError, ConfigError, PlatformError, RetryableError
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
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Contact, Event

EPOCH = "1970-01-01T00:00:00.000+0000"
RecordOutcome = tuple[Literal["ok", "rejected", "gone"], str]
"""What Salesforce answered for one record: its status and, if not ok, the error code and message."""
FIELD_TYPES = {
    "score": ("double", "Number", {"precision": 5, "scale": 1}),
    "grade": ("picklist", "Picklist", {}),
    "band": ("picklist", "Picklist", {}),
    "label": ("string", "Text", {"length": 32}),
    "reasons": ("textarea", "LongTextArea", {"length": 1000, "visibleLines": 3}),
    "scored_at": ("datetime", "DateTime", {}),
}
ACCEPTED_TYPES = {"score": {"double", "int", "currency", "percent"}, "grade": {"picklist", "string"},
                  "band": {"picklist", "string"}, "label": {"string", "picklist"},
                  "reasons": {"textarea", "string"}, "scored_at": {"datetime"}}  # fmt: skip
GONE_CODES = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "CANNOT_UPDATE_CONVERTED_LEAD"}
T = TypeVar("T")
STREAMS = {"tasks": "Task", "events": "Event", "campaign_members": "CampaignMember", "won_opportunities": "Opportunity"}
STREAM_FIELDS = {
    "Task": "Id, WhoId, Subject, Type, TaskSubtype, Status, CompletedDateTime, CreatedDate, IsDeleted, SystemModstamp",
    "Event": "Id, WhoId, Subject, Type, EventSubtype, StartDateTime, IsDeleted, SystemModstamp",
    "CampaignMember": "Id, CampaignId, LeadId, ContactId, Status, HasResponded, FirstRespondedDate, CreatedDate, "
    "IsDeleted, SystemModstamp, Campaign.Type",
    "Opportunity": "Id, ContactId, IsWon, CloseDate, IsDeleted, SystemModstamp",
}
CREATED_LATER = "missing: the first sync creates it"
OPTIONAL_OBJECTS = frozenset({"Opportunity"})
"""Objects an org may not have or not let the integration user read: their stream is left out, the cycle runs."""


def _field_problem(sobject: str, name: str, target: TargetProperty, found: Mapping[str, Any]) -> str | None:
    """Why an existing field cannot take what leadscore writes there, with the fix; None when it can."""
    if found.get("type") not in ACCEPTED_TYPES[target.role]:
        return (
            f"Salesforce field {sobject}.{name} is of type {found.get('type')}, but leadscore writes its "
            f"{target.role} there as {FIELD_TYPES[target.role][0]}; change the field's type or map "
            f"'{target.name}' to another field under mapping.writes"
        )
    if not found.get("updateable", False):
        return (
            f"Salesforce field {sobject}.{name} is read-only for the integration user (field-level "
            "security); give the user's profile or permission set Edit access to it"
        )
    return None


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def keyset(position: Keyset, lookback_seconds: float = 0) -> str:
    """Everything after the cursor's (stamp, id), oldest first; with a look-back, everything since a little
    before the stamp (a long transaction can commit a record whose SystemModstamp is already behind the cursor)."""
    stamp = position.stamp or EPOCH
    after = position.after_id
    if lookback_seconds and stamp != EPOCH:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z") - timedelta(seconds=lookback_seconds)
        return f"SystemModstamp >= {moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z"
    literal = stamp.replace("+0000", "Z")
    if after is None:
        return f"SystemModstamp > {literal}"
    return f"(SystemModstamp > {literal} OR (SystemModstamp = {literal} AND Id > {soql_quote(after)}))"


@dataclass(frozen=True, slots=True)
class Collection:
    """One sObject Collections subrequest of a Composite call: records to insert or update (``body``), or the
    ids to delete (named in its url, as Salesforce's DELETE takes them)."""

    size: int
    body: list[dict[str, Any]] | None = None
    ids: list[str] | None = None

    def subrequest(self, method: str, url: str, index: int) -> dict[str, Any]:
        if self.ids is not None:
            return {
                "method": method,
                "url": f"{url}?ids={','.join(self.ids)}&allOrNone=false",
                "referenceId": f"c{index}",
            }
        body = {"allOrNone": False, "records": self.body}
        return {"method": method, "url": url, "referenceId": f"c{index}", "body": body}


class SalesforceConnector:
    """One Salesforce org as a leadscore source."""

    def __init__(
        self,
        source: str,
        instance_url: str,
        targets: WriteTargets,
        session_id: str | None = None,
        refresh: RefreshCredentials | None = None,
        mapping_overrides: dict[str, Any] | None = None,
        sleep: Sleep = time.sleep,
        login: LoginCredentials | None = None,
    ) -> None:
        self.source = source
        self.mapping = load_mapping("salesforce", SalesforceMapping, mapping_overrides)
        limits = self.mapping.limits
        self.policy = WritePolicy(batch=limits.collection_size, sends_early=False, order="by_list")
        self.read_policy = ReadPolicy()
        self.sleep = sleep
        self.client = SalesforceClient(
            source,
            instance_url,
            limits,
            self.mapping.api_version,
            session_id=session_id,
            refresh=refresh,
            sleep=sleep,
            login=login,
        )
        self.targets = targets
        self._written_names = {p.name: self.mapping.write_name(p.name) for p in targets.properties}
        self._field_kinds: dict[str, str] = {}
        self._campaign_ids: dict[str, str] = {}

    # --- reading ----------------------------------------------------------------------------

    def _pages(self, soql: str, endpoint: str) -> Iterator[list[dict[str, Any]]]:
        """Every page of a queryAll, following nextRecordsUrl."""

        def fetch(following: str | None) -> tuple[list[dict[str, Any]], str | None]:
            if following is None:
                result = self.client.call(endpoint, lambda sf: sf.query(soql, include_deleted=True))
            else:
                result = self.client.call(
                    f"{endpoint} (next page)",
                    lambda sf: sf.query_more(following, identifier_is_url=True, include_deleted=True),
                )
            more = result.get("nextRecordsUrl")
            done = result.get("done", True) or not more
            return list(result.get("records") or []), None if done else str(more)

        for page in token_pages(fetch, source=self.source, endpoint=endpoint):
            yield page.records

    def read_contacts(self, cursor: SavedCursor | None) -> Iterator[ContactPage]:
        state = PerObject.from_json(cursor)
        lookback = self.mapping.limits.lookback_seconds
        for sobject in self.mapping.objects:
            fields = sorted(
                set(self.mapping.profile.get(sobject, {}).values())
                | set(self._written_names.values())
                | {"Id", "IsDeleted", "MasterRecordId", "SystemModstamp"}
                | ({"IsConverted", "ConvertedContactId", "ConvertedDate"} if sobject == "Lead" else set())
            )
            soql = (
                f"SELECT {', '.join(fields)} FROM {sobject} WHERE {keyset(state.of(sobject), lookback)} "
                "ORDER BY SystemModstamp, Id"
            )
            for records in self._pages(soql, f"GET query {sobject}"):
                if records:
                    last = records[-1]
                    state = state.moved(sobject, Keyset(str(last["SystemModstamp"]), str(last["Id"])))
                yield self._contact_page(sobject, records, state)

    def _contact_page(self, sobject: str, records: list[dict[str, Any]], cursor: PerObject) -> ContactPage:
        contacts: list[Contact] = []
        problems: list[RecordProblem] = []
        merged: list[tuple[str, str]] = []
        deleted: list[str] = []
        outcomes: list[Event] = []
        for record in records:
            if record.get("IsDeleted"):
                survivor = record.get("MasterRecordId")
                if survivor:
                    merged.append((str(record["Id"]), str(survivor)))
                else:
                    deleted.append(str(record["Id"]))
                continue
            if record.get("IsConverted"):
                if (outcome := conversion_event(self.source, record)) is not None:
                    outcomes.append(outcome)
                if record.get("ConvertedContactId"):
                    merged.append((str(record["Id"]), str(record["ConvertedContactId"])))
                else:
                    deleted.append(str(record["Id"]))
                continue
            contact, found = to_contact(self.source, sobject, record, self.mapping, self._written_names)
            contacts.append(contact)
            problems.extend(found)
        return ContactPage(contacts, cursor, outcomes, problems=problems, merged=merged, deleted=deleted)

    def event_streams(self) -> Sequence[str]:
        return tuple(STREAMS)

    def read_events(self, stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        yield from self._optional(self._activity(stream, cursor), stream)

    def _optional(self, pages: Iterator[T], stream: str) -> Iterator[T]:
        """An optional object's stream; an org that does not offer the object, or does not let the integration
        user read it, leaves the stream out."""
        sobject = STREAMS[stream]

        def refused(exc: PlatformError) -> bool:
            return (
                sobject in OPTIONAL_OBJECTS
                and isinstance(exc, SalesforceApiError)
                and exc.code in ("INVALID_TYPE", "INSUFFICIENT_ACCESS")
            )

        fix = (
            f"the integration user cannot read {sobject} (an org without Sales Cloud, or no read permission on the "
            "object); grant it to read the won deals a backtest of the store needs"
        )
        return unless_refused(pages, stream, self.source, refused, fix)

    def _activity(self, stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        sobject = STREAMS[stream]
        convert: Callable[[str, dict[str, Any], SalesforceMapping], Event | RecordProblem | None] = {
            "Task": task_event,
            "Event": calendar_event,
            "CampaignMember": member_event,
            "Opportunity": won_opportunity_event,
        }[sobject]
        state = Keyset.from_json(cursor)
        where = keyset(state, self.mapping.limits.lookback_seconds)
        soql = f"SELECT {STREAM_FIELDS[sobject]} FROM {sobject} WHERE {where} ORDER BY SystemModstamp, Id"
        for records in self._pages(soql, f"GET query {sobject}"):
            events: list[Event] = []
            problems: list[RecordProblem] = []
            for record in records:
                converted = convert(self.source, record, self.mapping)
                if isinstance(converted, RecordProblem):
                    problems.append(converted)
                elif converted is not None:
                    events.append(converted)
            if records:
                state = Keyset(str(records[-1]["SystemModstamp"]), str(records[-1]["Id"]))
            yield EventPage(events, state, problems=problems)

    # --- write targets ------------------------------------------------------------------------

    def ensure_targets(self) -> Sequence[str]:
        """Check the custom fields with describe (or create them when allowed); one Campaign per band."""
        targets = self.targets
        missing: list[str] = []
        for sobject in self.mapping.objects:
            described = self._rest(f"GET describe {sobject}", f"sobjects/{sobject}/describe")
            fields = {f["name"]: f for f in described.get("fields", [])}
            for target in targets.properties:
                name = self.mapping.write_name(target.name)
                found = fields.get(name)
                if found is None:
                    missing += [m for m in [self._missing(sobject, name, target)] if m]
                elif (problem := _field_problem(sobject, name, target, found)) is not None:
                    raise ConfigError(problem)
                else:
                    self._field_kinds[name] = str(found.get("type"))
        if missing:
            raise ConfigError(
                "Salesforce is missing fields leadscore writes; create them (Setup > Object Manager > Fields & "
                "Relationships), or set mapping.manage_fields: true to let leadscore create them through the Tooling "
                "API:\n  " + "\n  ".join(missing)
            )
        return self._ensure_campaigns(targets.lists)

    # --- checking -------------------------------------------------------------------------

    def check(self) -> list[CheckItem]:
        """Reads only: describe of each object (credentials and every write field), one page of each stream, the
        band Campaigns, and the daily allowance Salesforce reports."""
        items: list[CheckItem] = []
        for sobject in self.mapping.objects:
            try:
                described = self._rest(f"GET describe {sobject}", f"sobjects/{sobject}/describe")
            except (AuthError, SalesforceApiError) as exc:
                fix = "check the login and the integration user's object permissions"
                return [*items, CheckItem(f"describe {sobject}", FAIL, str(exc), fix)]
            items.append(CheckItem(f"describe {sobject}", OK, "the integration user reads it"))
            fields = {f["name"]: f for f in described.get("fields", [])}
            items.extend(self._check_field(sobject, target, fields) for target in self.targets.properties)
        for stream in self.event_streams():
            activity = STREAMS[stream]
            soql = f"SELECT {STREAM_FIELDS[activity]} FROM {activity} ORDER BY SystemModstamp, Id LIMIT 1"
            items.append(checked(f"stream {stream}", functools.partial(self._first_page, stream, soql), "readable"))
        names = ", ".join(soql_quote(self._campaign_name(key)) for key in self.targets.lists)
        soql = f"SELECT Id, Name FROM Campaign WHERE Name IN ({names}) AND IsDeleted = false"
        existing = {str(r["Name"]) for page in self._pages(soql, "GET query Campaign") for r in page}
        for key in self.targets.lists:
            name = self._campaign_name(key)
            there = name in existing
            items.append(CheckItem(f"campaign {name}", OK if there else WARN, "exists" if there else CREATED_LATER))
        remaining = self.client.usage.daily_remaining
        left = f"{remaining:,} API calls left in the org's 24 hours" if remaining is not None else "none reported"
        items.append(CheckItem("limits", OK, left))
        return items

    def _check_field(self, sobject: str, target: TargetProperty, fields: Mapping[str, Any]) -> CheckItem:
        name = self.mapping.write_name(target.name)
        found = fields.get(name)
        what = f"field {sobject}.{name}"
        if found is None and self.mapping.manage_fields:
            return CheckItem(what, WARN, CREATED_LATER, "through the Tooling API (mapping.manage_fields)")
        if found is None:
            return CheckItem(what, FAIL, "missing", f"create it ({FIELD_TYPES[target.role][1]}), or set manage_fields")
        if (problem := _field_problem(sobject, name, target, found)) is not None:
            return CheckItem(what, FAIL, problem, "see the message")
        return CheckItem(what, OK, f"exists ({found.get('type')}), writable")

    def _first_page(self, stream: str, soql: str) -> object:
        return next(self._optional(iter(self._pages(soql, f"GET query {STREAMS[stream]}")), stream), None)

    def _missing(self, sobject: str, name: str, target: TargetProperty) -> str:
        _, metadata_type, extra = FIELD_TYPES[target.role]
        description = (
            f"{sobject}.{name} ({metadata_type}{', values ' + ', '.join(target.options) if target.options else ''})"
        )
        if not self.mapping.manage_fields:
            return description
        metadata: dict[str, Any] = {"label": name.removesuffix("__c").replace("_", " "), "type": metadata_type, **extra}
        if target.options:
            metadata["valueSet"] = {
                "valueSetDefinition": {"value": [{"fullName": o, "label": o} for o in target.options]}
            }
        body = {"FullName": f"{sobject}.{name}", "Metadata": metadata}
        self._rest("POST tooling CustomField", "tooling/sobjects/CustomField", "POST", json=body)
        self._field_kinds[name] = FIELD_TYPES[target.role][0]
        return ""

    def _ensure_campaigns(self, keys: Sequence[str]) -> list[str]:
        names = {key: self._campaign_name(key) for key in keys}
        listed = ", ".join(soql_quote(n) for n in names.values())
        soql = f"SELECT Id, Name FROM Campaign WHERE Name IN ({listed}) AND IsDeleted = false"
        existing = {str(r["Name"]): str(r["Id"]) for page in self._pages(soql, "GET query Campaign") for r in page}
        created: list[str] = []
        for key, name in names.items():
            campaign_id = existing.get(name)
            if campaign_id is None:
                body = {"Name": name, "IsActive": True}
                answer = self._rest("POST sobjects Campaign", "sobjects/Campaign", "POST", json=body)
                campaign_id = str(answer["id"])
                created.append(key)
            self._campaign_ids[key] = campaign_id
        return created

    def _campaign_name(self, key: str) -> str:
        return list_display_name(self.mapping.campaign_name, key)

    # --- writing ---------------------------------------------------------------------------

    def apply(self, entries: Sequence[PendingChange], progress: Progress | None = None) -> list[Outcome]:
        """Each Composite call's, Bulk job's and member deletion's outcomes go to ``progress`` as answered."""
        report = progress or (lambda _: None)
        updates = [e for e in entries if e.change.kind == SET_PROPERTIES]
        outcomes: list[Outcome] = []
        by_object: dict[str, list[PendingChange]] = defaultdict(list)
        for entry in updates:
            by_object[object_of(entry.change.contact_id)].append(entry)
        small: dict[str, list[PendingChange]] = {}
        for sobject, items in by_object.items():
            if len(items) >= self.mapping.limits.bulk_threshold:
                bulk = self._bulk_update(sobject, items)
                report(bulk)
                outcomes += bulk
            else:
                small[sobject] = items
        outcomes += self._collection_update(small, report)
        outcomes += self._add_members([e for e in entries if e.change.kind == LIST_ADD], report)
        removed = self._remove_members([e for e in entries if e.change.kind == LIST_REMOVE])
        report(removed)
        return outcomes + removed

    def _values(self, entry: PendingChange) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for neutral, value in entry.change.payload.items():
            name = self.mapping.write_name(neutral)
            kind = self._field_kinds.get(name, "string")
            values[name] = float(value) if kind in ("double", "int", "currency", "percent") else str(value)
        return values

    def _collections(self, method: str, chunks: list[list[dict[str, Any]]]) -> Iterator[list[RecordOutcome]]:
        """Collections of up to 200 records, five to a Composite request (one counted call for up to 1,000
        records); per chunk, one outcome per record (a chunk refused whole gives each record its error), yielded
        as each call is answered."""
        yield from self._composite(method, [Collection(len(chunk), body=chunk) for chunk in chunks])

    def _composite(self, method: str, collections: list[Collection]) -> Iterator[list[RecordOutcome]]:
        per_call = self.mapping.limits.collections_per_call
        url = f"/services/data/v{self.mapping.api_version}/composite/sobjects"
        for start in range(0, len(collections), per_call):
            group = collections[start : start + per_call]
            body = {"allOrNone": False, "compositeRequest": [c.subrequest(method, url, i) for i, c in enumerate(group)]}
            result = self._rest(f"POST composite ({method} collections)", "composite", "POST", json=body)
            for collection, sub in zip(group, result["compositeResponse"], strict=True):
                if int(sub.get("httpStatusCode", 500)) >= 300:
                    error = (sub.get("body") or [{}])[0]
                    refused: RecordOutcome = ("rejected", f"{error.get('errorCode', '')}: {error.get('message', '')}")
                    yield [refused] * collection.size
                else:
                    yield [_outcome_of(record) for record in sub["body"]]

    def _collection_update(self, by_object: Mapping[str, Sequence[PendingChange]], report: Progress) -> list[Outcome]:
        """Every object's updates as collections of one object each, packed together five to a Composite call
        (leads and contacts changed in one cycle share calls)."""
        size = self.mapping.limits.collection_size
        chunks: list[list[dict[str, Any]]] = []
        for sobject, entries in by_object.items():
            merged: dict[str, dict[str, Any]] = defaultdict(dict)
            for entry in entries:
                merged[entry.change.contact_id].update(self._values(entry))
            records = [{"attributes": {"type": sobject}, "id": cid, **values} for cid, values in merged.items()]
            chunks += [records[start : start + size] for start in range(0, len(records), size)]
        by_contact: dict[str, list[PendingChange]] = defaultdict(list)
        for entries in by_object.values():
            for entry in entries:
                by_contact[entry.change.contact_id].append(entry)
        outcomes: list[Outcome] = []
        for chunk, answer in zip(chunks, self._collections("PATCH", chunks), strict=True):
            answered = [
                Outcome(entry.key, *outcome)
                for record, outcome in zip(chunk, answer, strict=True)
                for entry in by_contact[record["id"]]
            ]
            report(answered)
            outcomes += answered
        return outcomes

    def _bulk_update(self, sobject: str, entries: Sequence[PendingChange]) -> list[Outcome]:
        """A Bulk API 2.0 update job; its failed results come back record by record."""
        merged: dict[str, dict[str, Any]] = defaultdict(dict)
        for entry in entries:
            merged[entry.change.contact_id].update(self._values(entry))
        columns = sorted({name for values in merged.values() for name in values})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", *columns])
        for contact_id, values in merged.items():
            writer.writerow([contact_id, *(_csv_value(values.get(c)) for c in columns)])
        spec = {"object": sobject, "operation": "update", "contentType": "CSV", "lineEnding": "LF"}
        job = self._rest("POST jobs/ingest", "jobs/ingest", "POST", json=spec)
        job_id = str(job["id"])
        upload = self.client.raw("PUT", f"jobs/ingest/{job_id}/batches", "PUT jobs/ingest batches", out.getvalue())
        if upload.status_code >= 300:
            raise RetryableError(
                f"Salesforce bulk upload: {upload.status_code} {upload.text[:200]}", source=self.source
            )
        self._rest("PATCH jobs/ingest", f"jobs/ingest/{job_id}", "PATCH", json={"state": "UploadComplete"})
        state = self._wait_for_job(job_id)
        if state != "JobComplete":
            reason = f"Salesforce bulk job {job_id} ended {state}; sent again later"
            return [Outcome(e.key, "rejected", reason) for e in entries]
        failed_text = self.client.raw(
            "GET", f"jobs/ingest/{job_id}/failedResults", "GET jobs/ingest failedResults"
        ).text
        failures = {row["sf__Id"]: row["sf__Error"] for row in csv.DictReader(io.StringIO(failed_text))}
        outcomes = []
        for entry in entries:
            error = failures.get(entry.change.contact_id)
            if error is None:
                outcomes.append(Outcome(entry.key, "ok"))
            else:
                code, _, message = error.partition(":")
                outcomes.append(Outcome(entry.key, "gone" if code in GONE_CODES else "rejected", f"{code}: {message}"))
        return outcomes

    def _wait_for_job(self, job_id: str) -> str:
        for _ in range(self.mapping.limits.bulk_max_polls):
            info = self._rest("GET jobs/ingest", f"jobs/ingest/{job_id}")
            state = str(info.get("state"))
            if state in ("JobComplete", "Failed", "Aborted"):
                return state
            self.sleep(self.mapping.limits.bulk_poll_seconds)
        return "still running"

    def _member(self, campaign_id: str, person: str) -> dict[str, Any]:
        key = "LeadId" if person.startswith(LEAD_PREFIX) else "ContactId"
        record = {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign_id, key: person}
        return record | {"Status": self.mapping.member_status}

    def _add_members(self, entries: Sequence[PendingChange], report: Progress) -> list[Outcome]:
        outcomes: list[Outcome] = []
        ready = [e for e in entries if str(e.change.payload["list"]) in self._campaign_ids]
        ready_ids = {e.key for e in ready}
        outcomes += [
            Outcome(e.key, "rejected", "no Campaign for this band yet") for e in entries if e.key not in ready_ids
        ]
        size = self.mapping.limits.collection_size
        chunks = [ready[start : start + size] for start in range(0, len(ready), size)]
        records = [
            [self._member(self._campaign_ids[str(e.change.payload["list"])], e.change.contact_id) for e in chunk]
            for chunk in chunks
        ]
        for chunk, answer in zip(chunks, self._collections("POST", records), strict=True):
            answered = [
                Outcome(entry.key, "ok") if reason.startswith("DUPLICATE_VALUE") else Outcome(entry.key, status, reason)
                for entry, (status, reason) in zip(chunk, answer, strict=True)
            ]
            report(answered)
            outcomes += answered
        return outcomes

    def _remove_members(self, entries: Sequence[PendingChange]) -> list[Outcome]:
        """Look the members up (one query per collection of removes, whatever their campaigns), then delete
        them, five collections of 200 to a Composite call; a member already gone is done."""
        wanted: list[tuple[str, PendingChange]] = []
        for entry in entries:
            campaign_id = self._campaign_ids.get(str(entry.change.payload["list"]))
            if campaign_id is not None:
                wanted.append((campaign_id, entry))
        size = self.mapping.limits.collection_size
        member_ids: list[str] = []
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            pairs = {(campaign_id, entry.change.contact_id) for campaign_id, entry in chunk}
            campaigns = ", ".join(soql_quote(c) for c in sorted({c for c, _ in pairs}))
            people = ", ".join(soql_quote(p) for p in sorted({p for _, p in pairs}))
            soql = (
                f"SELECT Id, CampaignId, LeadId, ContactId FROM CampaignMember WHERE CampaignId IN ({campaigns}) "
                f"AND IsDeleted = false AND (LeadId IN ({people}) OR ContactId IN ({people}))"
            )
            for page in self._pages(soql, "GET query CampaignMember ids"):
                member_ids += [
                    str(r["Id"])
                    for r in page
                    if (r.get("CampaignId"), r.get("LeadId")) in pairs
                    or (r.get("CampaignId"), r.get("ContactId")) in pairs
                ]
        chunks = [member_ids[start : start + size] for start in range(0, len(member_ids), size)]
        list(self._composite("DELETE", [Collection(len(chunk), ids=chunk) for chunk in chunks]))
        return [Outcome(e.key, "ok") for e in entries]

    def _rest(self, endpoint: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        """A REST call through simple-salesforce's ``restful`` (it has no helper for collections or jobs)."""

        def send(sf: Salesforce) -> Any:
            return sf.restful(path, method=method, **kwargs)

        return self.client.call(endpoint, send)

    def usage(self) -> ApiUsage:
        return self.client.usage

    def close(self) -> None:
        self.client.close()


def _outcome_of(result: dict[str, Any]) -> RecordOutcome:
    if result.get("success"):
        return "ok", ""
    error = (result.get("errors") or [{}])[0]
    code = str(error.get("statusCode", ""))
    reason = f"{code}: {error.get('message', '')}"
    return ("gone" if code in GONE_CODES else "rejected"), reason


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)
