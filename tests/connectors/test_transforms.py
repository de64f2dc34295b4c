"""Each platform's records to canonical ones, on small recorded records: values, events, and odd data."""

from __future__ import annotations

from datetime import UTC, datetime

from leadscore.connectors.hubspot.mapping import HubSpotMapping
from leadscore.connectors.hubspot.transform import counter_events, email_event, to_contact, web_event
from leadscore.connectors.mapping import load_mapping
from leadscore.connectors.salesforce.mapping import SalesforceMapping
from leadscore.connectors.salesforce.transform import object_of, task_event
from leadscore.connectors.salesforce.transform import to_contact as salesforce_contact
from leadscore.protocol import RecordProblem
from leadscore.records import Event

HUBSPOT = load_mapping("hubspot", HubSpotMapping, {"newsletter_campaign_ids": [1001]})
SALESFORCE = load_mapping("salesforce", SalesforceMapping)
WRITTEN = {"leadscore_score": "leadscore_score"}

HUBSPOT_RECORD = {
    "id": "501",
    "properties": {
        "email": " Ana@Acme.Example ",
        "jobtitle": "VP Marketing",
        "numemployees": "1,000-5,000",
        "industry": "COMPUTER_SOFTWARE",
        "leadscore_score": "42",
        "hs_latest_meeting_activity": "2026-11-20T10:00:00.000Z",
        "lastmodifieddate": "2026-11-22T09:00:00.000Z",
    },
}


def test_a_hubspot_contact_becomes_a_canonical_one() -> None:
    contact, problems = to_contact("hs", HUBSPOT_RECORD, HUBSPOT, WRITTEN)
    assert contact.id == "501"
    assert contact.email == "ana@acme.example"
    assert contact.profile["job_title"] == "VP Marketing"
    assert contact.profile["company_size"] == 1000
    assert contact.profile["industry"] == "computer software"
    assert contact.observed == {"leadscore_score": "42"}
    assert problems == []


def test_a_hubspot_contact_with_odd_values_is_kept_and_its_problems_reported() -> None:
    record = {"id": "7", "properties": {"email": "not-an-email", "numemployees": "lots"}}
    contact, problems = to_contact("hs", record, HUBSPOT, WRITTEN)
    assert contact.email is None
    assert "company_size" not in contact.profile
    assert {p.field for p in problems} == {"email", "numemployees"}, "a problem names the platform's property"
    assert all(p.record_id == "7" for p in problems)


def test_a_meeting_date_becomes_one_event_whose_id_repeats_on_every_read() -> None:
    contact, _ = to_contact("hs", HUBSPOT_RECORD, HUBSPOT, WRITTEN)
    first = counter_events("hs", contact, HUBSPOT_RECORD, HUBSPOT)
    again = counter_events("hs", contact, HUBSPOT_RECORD, HUBSPOT)
    assert [e.action for e in first] == ["meeting_booked"]
    assert first[0].occurred_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert first == again, "a re-read page yields the same event id, so the store keeps it once"


def test_web_events_map_by_type_and_form_to_actions() -> None:
    quote = {"id": "w1", "objectId": "501", "eventType": "e_submitted_form", "occurredAt": "2026-11-21T08:00:00Z",
             "properties": {"hs_form_id": "quote-2"}}  # fmt: skip
    visit = {"id": "w2", "objectId": "501", "eventType": "e_visited_page", "occurredAt": "2026-11-21T08:01:00Z",
             "properties": {"hs_url": "https://x.example/pricing"}}  # fmt: skip
    converted = [web_event("hs", raw, HUBSPOT) for raw in (quote, visit)]
    assert all(isinstance(e, Event) for e in converted)
    events = [e for e in converted if isinstance(e, Event)]
    assert [(e.id, e.contact_id, e.action) for e in events] == [("web:w1", "501", "quote_request"),
                                                              ("web:w2", "501", "page_view")]  # fmt: skip
    assert events[1].attributes["url"] == "https://x.example/pricing"


def test_a_web_event_without_a_contact_is_a_problem_not_a_crash() -> None:
    found = web_event("hs", {"id": "w3", "eventType": "e_visited_page", "occurredAt": "2026-11-21T08:00:00Z"}, HUBSPOT)
    assert isinstance(found, RecordProblem)


def test_an_email_event_names_its_recipient_and_a_newsletter_click_says_so() -> None:
    raw = {"id": "m1", "type": "CLICK", "created": 1763712000000, "recipient": "Ana@Acme.Example",
           "emailCampaignId": 1001, "url": "https://x.example/offer"}  # fmt: skip
    found = email_event("hs", raw, HUBSPOT)
    assert not isinstance(found, RecordProblem)
    recipient, event = found
    assert recipient == "ana@acme.example"
    assert event.action == "email_click"
    assert event.attributes == {"campaign": "1001", "campaign_type": "newsletter", "url": "https://x.example/offer"}
    assert isinstance(email_event("hs", {"id": "m2", "type": "OPEN", "created": 1763712000000}, HUBSPOT), RecordProblem)


def test_salesforce_ids_tell_leads_from_contacts() -> None:
    assert object_of("00Q5g00000abcdE") == "Lead"
    assert object_of("0035g00000abcdE") == "Contact"


def test_a_salesforce_lead_becomes_a_canonical_contact() -> None:
    record = {"Id": "00Q1", "Email": "Bo@Corp.Example", "Title": "CTO", "NumberOfEmployees": 250,
              "Leadscore_Score__c": 61.0}  # fmt: skip
    contact, problems = salesforce_contact("sf", "Lead", record, SALESFORCE, {"leadscore_score": "Leadscore_Score__c"})
    assert contact.email == "bo@corp.example"
    assert contact.profile["job_title"] == "CTO"
    assert contact.profile["company_size"] == 250
    assert contact.observed == {"leadscore_score": 61.0}
    assert problems == []


def test_a_completed_demo_task_is_a_demo_request_and_an_unmapped_task_is_nothing() -> None:
    demo = {
        "Id": "00T1",
        "WhoId": "00Q1",
        "Subject": "Demo",
        "Type": "Demo",
        "TaskSubtype": "Task",
        "CompletedDateTime": "2026-11-22T10:00:00.000+0000",
        "CreatedDate": "2026-11-22T09:00:00.000+0000",
    }
    event = task_event("sf", demo, SALESFORCE)
    assert isinstance(event, Event)
    assert (event.id, event.contact_id, event.action) == ("task:00T1", "00Q1", "demo_request")
    assert event.occurred_at == datetime(2026, 11, 22, 10, tzinfo=UTC)
    chore = {"Id": "00T2", "WhoId": "00Q1", "Subject": "Expense report", "Type": "Other", "TaskSubtype": "Task",
             "CreatedDate": "2026-11-22T09:00:00.000+0000"}  # fmt: skip
    assert task_event("sf", chore, SALESFORCE) is None


BREVO_DOCUMENTED_CLICK = {
    "event": "click",
    "email": "example@domain.com",
    "id": 1,
    "date": "2020-10-09 00:00:00",
    "ts": 1604933619,
    "message-id": "201798300811.5787683@relay.domain.com",
    "ts_event": 1604933654,
    "subject": "My first Transactional",
    "tag": "transactional",
    "ts_epoch": 1604933654,
    "link": "https://domain.com",
}


def test_a_brevo_webhook_is_dated_by_its_event_time_not_its_send_time() -> None:
    """issue 14, divergence 6: ``ts_event`` is the event's time in seconds; ``ts_epoch`` (the send time, in
    milliseconds by the docs, in seconds in their own example) was read first, as milliseconds: 1970-01-19."""
    from leadscore.connectors.brevo.mapping import BrevoMapping
    from leadscore.connectors.brevo.transform import webhook_events

    mapping = load_mapping("brevo", BrevoMapping)
    [(email, click)], problems = webhook_events("brevo", BREVO_DOCUMENTED_CLICK, mapping)
    assert problems == []
    assert email == "example@domain.com"
    assert click.occurred_at == datetime.fromtimestamp(1604933654, UTC)
    only_epoch_ms = {k: v for k, v in BREVO_DOCUMENTED_CLICK.items() if k not in ("ts_event", "ts")}
    only_epoch_ms["ts_epoch"] = 1604933654123
    [(_, by_epoch)], _ = webhook_events("brevo", only_epoch_ms, mapping)
    assert by_epoch.occurred_at == datetime.fromtimestamp(1604933654.123, UTC), "milliseconds when it has 13 digits"
    only_epoch_s = {**only_epoch_ms, "ts_epoch": 1604933654}
    [(_, by_seconds)], _ = webhook_events("brevo", only_epoch_s, mapping)
    assert by_seconds.occurred_at == datetime.fromtimestamp(1604933654, UTC), "seconds when it has 10"
    [(_, again)], _ = webhook_events("brevo", {**BREVO_DOCUMENTED_CLICK, "ts_epoch": 1604933600000}, mapping)
    assert again.id == click.id, "the send time does not change the event's id"
