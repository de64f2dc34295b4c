"""HubSpot records to canonical ones: profile values, web and email events, counter events. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from leadscore.connectors.hubspot.mapping import EventRule, HubSpotMapping
from leadscore.connectors.values import parse_time, profile_values
from leadscore.protocol import RecordProblem
from leadscore.records import Contact, Event, normalize_email


def to_contact(
    source: str, record: Mapping[str, Any], mapping: HubSpotMapping, written_names: Mapping[str, str]
) -> tuple[Contact, list[RecordProblem]]:
    """One HubSpot contact as a canonical Contact; odd values become problems, never exceptions."""
    contact_id = str(record["id"])
    properties: Mapping[str, Any] = record.get("properties") or {}
    profile, problems = profile_values(contact_id, properties, mapping.profile, mapping.transforms)
    email = normalize_email(properties.get(mapping.profile.get("email", "email")))
    if email is None:
        raw_email = properties.get(mapping.profile.get("email", "email"))
        problem = "no email" if raw_email in (None, "") else f"'{raw_email}' is not an email address"
        problems.append(RecordProblem(contact_id, "email", f"{problem}; scored without email-based fit rules"))
    written = {neutral: properties.get(platform) for neutral, platform in written_names.items()}
    return Contact(source, contact_id, email, profile, {k: v for k, v in written.items() if v is not None}), problems


def counter_events(source: str, contact: Contact, record: Mapping[str, Any], mapping: HubSpotMapping) -> list[Event]:
    """A last-date property turned into one event per distinct date, with an id derived from both."""
    properties: Mapping[str, Any] = record.get("properties") or {}
    events = []
    for counter in mapping.counters:
        moment = parse_time(properties.get(counter.property))
        if moment is None:
            continue
        digest = hashlib.sha1(f"{contact.id}|{counter.property}|{moment.isoformat()}".encode()).hexdigest()[:16]
        events.append(Event(source, f"counter:{digest}", contact.id, counter.action, moment, {}))
    return events


def _rule_matches(rule: EventRule, kind: str | None, fields: Mapping[str, Any]) -> bool:
    if rule.event_type is not None and rule.event_type != kind:
        return False
    if rule.type is not None and rule.type != kind:
        return False
    if rule.property is not None:
        value = fields.get(rule.property)
        if value is None or (rule.contains is not None and rule.contains.lower() not in str(value).lower()):
            return False
    return True


def web_event(source: str, raw: Mapping[str, Any], mapping: HubSpotMapping) -> Event | RecordProblem | None:
    properties: Mapping[str, Any] = raw.get("properties") or {}
    kind = raw.get("eventType")
    rule = next((r for r in mapping.web_events if _rule_matches(r, kind, properties)), None)
    occurred = parse_time(raw.get("occurredAt"))
    if occurred is None or not raw.get("id") or not raw.get("objectId"):
        return RecordProblem(str(raw.get("id")), "occurredAt/id/objectId", "web event without id, contact or time")
    action = rule.action if rule is not None else str(kind)
    attributes = {
        canonical: properties[name] for name, canonical in mapping.web_event_attributes.items() if name in properties
    }
    return Event(source, f"web:{raw['id']}", str(raw["objectId"]), action, occurred, attributes)


def email_event(source: str, raw: Mapping[str, Any], mapping: HubSpotMapping) -> tuple[str, Event] | RecordProblem:
    """An email event names its recipient, not the contact: the store resolves the address later."""
    kind = raw.get("type")
    occurred = parse_time(raw.get("created"))
    recipient = normalize_email(raw.get("recipient"))
    if occurred is None or recipient is None or not raw.get("id"):
        return RecordProblem(str(raw.get("id")), "created/recipient", "email event without id, recipient or time")
    rule = next((r for r in mapping.email_events if _rule_matches(r, kind, raw)), None)
    action = rule.action if rule is not None else f"email_{str(kind).lower()}"
    attributes: dict[str, Any] = {"campaign": str(raw.get("emailCampaignId", ""))}
    if raw.get("emailCampaignId") in mapping.newsletter_campaign_ids:
        attributes["campaign_type"] = "newsletter"
    if raw.get("url"):
        attributes["url"] = raw["url"]
    event_id = f"email:{raw['id']}:{raw.get('created')}"
    return recipient, Event(source, event_id, "", action, occurred, attributes)
