"""Salesforce records to canonical ones: leads and contacts, tasks, events, campaign members, conversions. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadscore.connectors.salesforce.mapping import ActivityRule, SalesforceMapping
from leadscore.connectors.values import parse_time, profile_values
from leadscore.protocol import RecordProblem
from leadscore.records import CONVERTED, Contact, Event, normalize_email

LEAD_PREFIX, CONTACT_PREFIX = "00Q", "003"


def object_of(record_id: str) -> str:
    return "Lead" if record_id.startswith(LEAD_PREFIX) else "Contact"


def to_contact(
    source: str, sobject: str, record: Mapping[str, Any], mapping: SalesforceMapping, written_names: Mapping[str, str]
) -> tuple[Contact, list[RecordProblem]]:
    record_id = str(record["Id"])
    fields = {f: n for f, n in mapping.profile.get(sobject, {}).items() if f != "email"}
    related = {name: related_value(record, name) for name in fields.values() if "." in name}
    profile, problems = profile_values(record_id, {**record, **related}, fields, mapping.transforms)
    email = normalize_email(record.get(mapping.profile.get(sobject, {}).get("email", "Email")))
    if email is None:
        problems.append(RecordProblem(record_id, "Email", "no usable email; scored without email-based fit rules"))
    written = {neutral: record.get(name) for neutral, name in written_names.items()}
    return Contact(source, record_id, email, profile, {k: v for k, v in written.items() if v is not None}), problems


def related_value(record: Mapping[str, Any], path: str) -> Any:
    """``Account.Industry``: a query answers a relationship field nested (``{"Account": {"Industry": ...}}``),
    or with the relation null when the record has none."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _matches(rule: ActivityRule, fields: Mapping[str, Any]) -> bool:
    tests = (
        (rule.subtype, fields.get("subtype")),
        (rule.type, fields.get("type")),
        (rule.campaign_type, fields.get("campaign_type")),
        (rule.status, fields.get("status")),
    )
    if any(wanted is not None and str(wanted).lower() != str(found or "").lower() for wanted, found in tests):
        return False
    subject = str(fields.get("subject") or "").lower()
    return rule.subject_contains is None or rule.subject_contains.lower() in subject


def first_action(rules: Sequence[ActivityRule], fields: Mapping[str, Any]) -> str | None:
    return next((rule.action for rule in rules if _matches(rule, fields)), None)


def task_event(source: str, record: Mapping[str, Any], mapping: SalesforceMapping) -> Event | RecordProblem | None:
    fields = {"subtype": record.get("TaskSubtype"), "type": record.get("Type"), "subject": record.get("Subject")}
    action = first_action(mapping.tasks, fields)
    if action is None or record.get("IsDeleted"):
        return None
    who = record.get("WhoId")
    occurred = parse_time(record.get("CompletedDateTime") or record.get("CreatedDate"))
    if not who or occurred is None:
        return RecordProblem(str(record.get("Id")), "WhoId/CreatedDate", "task without a person or a time")
    return Event(
        source, f"task:{record['Id']}", str(who), action, occurred, {"subject": str(record.get("Subject") or "")}
    )


def calendar_event(source: str, record: Mapping[str, Any], mapping: SalesforceMapping) -> Event | RecordProblem | None:
    fields = {"subtype": record.get("EventSubtype"), "type": record.get("Type"), "subject": record.get("Subject")}
    action = first_action(mapping.events, fields)
    if action is None or record.get("IsDeleted"):
        return None
    who = record.get("WhoId")
    occurred = parse_time(record.get("StartDateTime"))
    if not who or occurred is None:
        return RecordProblem(str(record.get("Id")), "WhoId/StartDateTime", "event without a person or a start")
    return Event(source, f"event:{record['Id']}", str(who), action, occurred, {})


def member_event(source: str, record: Mapping[str, Any], mapping: SalesforceMapping) -> Event | RecordProblem | None:
    """A campaign member that has responded; a new status is a new event (Registered, then Attended)."""
    if not record.get("HasResponded") or record.get("IsDeleted"):
        return None
    campaign = record.get("Campaign") or {}
    campaign_type = campaign.get("Type") if isinstance(campaign, Mapping) else None
    fields = {"campaign_type": campaign_type, "status": record.get("Status")}
    action = first_action(mapping.campaign_members, fields)
    who = record.get("LeadId") or record.get("ContactId")
    occurred = parse_time(record.get("FirstRespondedDate") or record.get("CreatedDate"))
    if action is None:
        return None
    if not who or occurred is None:
        return RecordProblem(str(record.get("Id")), "LeadId/ContactId", "campaign member without a person or a time")
    attributes: dict[str, Any] = {"campaign": str(record.get("CampaignId") or ""), "status": str(record.get("Status"))}
    if campaign_type in mapping.newsletter_campaign_types:
        attributes["campaign_type"] = "newsletter"
    event_id = f"member:{record['Id']}:{record.get('Status')}"
    return Event(source, event_id, str(who), action, occurred, attributes)


def conversion_event(source: str, lead: Mapping[str, Any]) -> Event | None:
    """A converted lead's outcome, on the contact it became: a conversion on the day Salesforce dates it."""
    survivor = lead.get("ConvertedContactId")
    converted_on = parse_time(lead.get("ConvertedDate"))
    if not survivor or converted_on is None:
        return None
    return Event(source, f"converted:{lead['Id']}", str(survivor), CONVERTED, converted_on, {"lead": str(lead["Id"])})


def won_opportunity_event(source: str, record: Mapping[str, Any], mapping: SalesforceMapping) -> Event | None:
    """A won opportunity's outcome, on its primary contact (``ContactId``), dated by its close date."""
    closed = parse_time(record.get("CloseDate"))
    if record.get("IsDeleted") or not record.get("IsWon") or not record.get("ContactId") or closed is None:
        return None
    return Event(
        source, f"won:{record['Id']}", str(record["ContactId"]), CONVERTED, closed, {"opportunity": str(record["Id"])}
    )
