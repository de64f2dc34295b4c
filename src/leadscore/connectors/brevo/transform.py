"""Brevo payloads to canonical records: contacts, export rows, event reports, webhooks, won deals. No I/O.

Event ids are derived from what identifies the engagement, so a repeat (a
re-read report page, a webhook Brevo retries, the same open seen in an export
and in a webhook) lands once. A marketing campaign counts once per contact and
action, whichever path saw it first.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from leadscore.connectors.brevo.mapping import BrevoMapping
from leadscore.connectors.values import parse_time, profile_values
from leadscore.protocol import RecordProblem
from leadscore.records import CONVERTED, Contact, Event, normalize_email


def digest(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def to_contact(
    source: str,
    record: Mapping[str, Any],
    mapping: BrevoMapping,
    written_names: Mapping[str, str],
    list_keys: Mapping[int, str] | None,
) -> tuple[Contact, list[RecordProblem]]:
    """One Brevo contact, keyed by its numeric id (which survives an email change, unlike the email)."""
    contact_id = str(record["id"])
    attributes: Mapping[str, Any] = record.get("attributes") or {}
    profile, problems = profile_values(contact_id, attributes, mapping.profile, mapping.transforms)
    created = parse_time(record.get("createdAt"))
    if created is not None:
        profile["created_at"] = created.isoformat()
    email = normalize_email(record.get("email"))
    if email is None:
        problems.append(RecordProblem(contact_id, "email", "no usable email; scored without email-based fit rules"))
    written = {neutral: attributes.get(name) for neutral, name in written_names.items()}
    lists = None
    if list_keys is not None:
        lists = frozenset(list_keys[i] for i in record.get("listIds") or () if i in list_keys)
    contact = Contact(source, contact_id, email, profile, {k: v for k, v in written.items() if v is not None}, lists)
    return contact, problems


def campaign_attributes(campaign: Mapping[str, Any], mapping: BrevoMapping) -> dict[str, Any]:
    attributes: dict[str, Any] = {"campaign": str(campaign["id"])}
    tag = str(campaign.get("tag") or "").lower()
    if tag and tag in {t.lower() for t in mapping.newsletter_tags}:
        attributes["campaign_type"] = "newsletter"
    return attributes


def export_events(
    source: str, campaign: Mapping[str, Any], action: str, export: IO[str], mapping: BrevoMapping, page: int
) -> Iterator[tuple[list[tuple[str, Event]], list[RecordProblem]]]:
    """A recipient export file (CSV, ``;`` or ``,``) to events by email at the campaign's send time, ``page`` rows
    at a time."""
    sent = parse_time(campaign.get("sentDate"))
    if sent is None:
        yield [], [RecordProblem(str(campaign["id"]), "sentDate", "campaign without a send date; export skipped")]
        return
    sample = export.read(2048)
    export.seek(0)
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.reader(export, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if "email" not in header:
        yield [], [RecordProblem(str(campaign["id"]), "export", f"no EMAIL column in the export header {header}")]
        return
    column = header.index("email")
    attributes = campaign_attributes(campaign, mapping)
    while rows := list(itertools.islice(reader, page)):
        found: list[tuple[str, Event]] = []
        for row in rows:
            email = normalize_email(row[column]) if len(row) > column else None
            if email is not None:
                event_id = f"campaign:{digest(campaign['id'], action, email)}"
                found.append((email, Event(source, event_id, "", action, sent, attributes)))
        yield found, []


def transactional_event(
    source: str, raw: Mapping[str, Any], mapping: BrevoMapping
) -> tuple[str, Event] | RecordProblem | None:
    action = mapping.transactional_events.get(str(raw.get("event")))
    if action is None:
        return None
    email = normalize_email(raw.get("email"))
    occurred = parse_time(raw.get("date"))
    if email is None or occurred is None:
        return RecordProblem(str(raw.get("messageId")), "email/date", "transactional event without recipient or time")
    attributes = {k: raw[k] for k in ("tag",) if raw.get(k)}
    if raw.get("link"):
        attributes["url"] = raw["link"]
    return email, Event(
        source, smtp_event_id(raw.get("messageId"), action, occurred, raw.get("link")), "", action, occurred, attributes
    )


def smtp_event_id(message: Any, action: str, occurred: datetime, link: Any) -> str:
    """The same for an event read from the report and received by webhook (whose event names differ)."""
    return f"smtp:{digest(message, action, int(occurred.timestamp()), link or '')}"


MILLISECONDS_FROM = 100_000_000_000
"""An epoch number above this is milliseconds: as seconds it would be after the year 5000."""


def webhook_events(
    source: str, body: Any, mapping: BrevoMapping
) -> tuple[list[tuple[str, Event]], list[RecordProblem]]:
    """A webhook body (one event, or a list when Brevo batches them) to events by email."""
    items: Sequence[Any] = body if isinstance(body, list) else [body]
    found: list[tuple[str, Event]] = []
    problems: list[RecordProblem] = []
    for item in items:
        if not isinstance(item, Mapping):
            problems.append(RecordProblem("webhook", "body", f"not an object: {str(item)[:80]}"))
            continue
        converted = _webhook_event(source, item, mapping)
        if isinstance(converted, RecordProblem):
            problems.append(converted)
        elif converted is not None:
            found.append(converted)
    return found, problems


def _webhook_event(
    source: str, item: Mapping[str, Any], mapping: BrevoMapping
) -> tuple[str, Event] | RecordProblem | None:
    kind = str(item.get("event") or "")
    email = normalize_email(item.get("email"))
    occurred = _webhook_time(item)
    if kind in mapping.custom_events:
        if email is None or occurred is None:
            return RecordProblem("webhook", "email/occurred_at", f"custom event '{kind}' without email or time")
        raw_properties = item.get("properties")
        properties: Mapping[str, Any] = raw_properties if isinstance(raw_properties, Mapping) else {}
        attributes = {k: v for k, v in properties.items() if isinstance(v, str | int | float)}
        event_id = item.get("event_id") or digest(kind, email, occurred.isoformat(), sorted(attributes.items()))
        return email, Event(source, f"custom:{event_id}", "", mapping.custom_events[kind], occurred, attributes)
    action = mapping.webhook_events.get(kind)
    if action is None:
        return None
    if email is None or occurred is None:
        return RecordProblem(str(item.get("id")), "email/ts_event", f"webhook event '{kind}' without email or time")
    campaign = item.get("camp_id")
    if campaign is not None:
        attributes = campaign_attributes({"id": campaign, "tag": item.get("tag")}, mapping)
        if item.get("URL"):
            attributes["url"] = item["URL"]
        return email, Event(source, f"campaign:{digest(campaign, action, email)}", "", action, occurred, attributes)
    message = item.get("message-id") or item.get("messageId")
    attributes = {"tag": item["tag"]} if isinstance(item.get("tag"), str) and item["tag"] else {}
    if item.get("link"):
        attributes["url"] = item["link"]
    return email, Event(
        source, smtp_event_id(message, action, occurred, item.get("link")), "", action, occurred, attributes
    )


def _webhook_time(item: Mapping[str, Any]) -> datetime | None:
    """When the event happened: ``ts_event`` (UTC seconds), else ``ts``; ``ts_epoch`` is documented as the send
    time in milliseconds but Brevo's own example carries seconds, so only as a last resort and read by its
    magnitude; ``date_event`` is local time, so after all of them."""
    for key in ("ts_event", "ts", "ts_epoch"):
        value = item.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value / 1000 if value > MILLISECONDS_FROM else value, UTC)
    return parse_time(item.get("occurred_at") or item.get("date"))


def won_deal_events(source: str, deal: Mapping[str, Any], won_stages: Collection[str]) -> list[Event]:
    """A deal in a won stage: one conversion for each linked contact, dated when the deal entered the stage."""
    attributes: Mapping[str, Any] = deal.get("attributes") or {}
    if str(attributes.get("deal_stage")) not in won_stages:
        return []
    moment = parse_time(attributes.get("stage_updated_at")) or parse_time(attributes.get("last_updated_date"))
    if moment is None:
        return []
    return [
        Event(
            source,
            f"deal:{deal.get('id')}:{contact_id}",
            str(contact_id),
            CONVERTED,
            moment,
            {"deal": str(deal.get("id"))},
        )
        for contact_id in deal.get("linkedContactsIds") or ()
    ]
