"""Realistic synthetic Salesforce data, the same for the same seed: leads and contacts, the write fields a
Salesforce admin created for leadscore, email tasks, meetings, and campaign responses."""

from __future__ import annotations

import random

from leadscore_sandbox.people import Overlap
from leadscore_sandbox.salesforce import SalesforceSandbox

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Mia", "Noah"]
LAST = ["Ruiz", "Okafor", "Schmidt", "Tanaka", "Dubois", "Kowalski", "Silva", "Novak", "Berg", "Haddad", "Moreau"]
TITLES = ["VP Marketing", "Chief Revenue Officer", "Director of Sales", "Marketing Manager", "Software Engineer",
          "Student", "Head of Operations", None]  # fmt: skip
INDUSTRIES = ["Technology", "Software", "Retail", "Finance", "Education", None]
DOMAINS = ["acme-software.example", "northwind.example", "globex.example", "gmail.com", "competitor.example"]
WRITE_FIELDS = {
    "Leadscore_Score__c": "double",
    "Leadscore_Grade__c": "picklist",
    "Leadscore_Band__c": "picklist",
    "Leadscore_Label__c": "string",
    "Leadscore_Reasons__c": "textarea",
    "Leadscore_Scored_At__c": "datetime",
}
DAY_MS = 86_400_000


def add_write_fields(sandbox: SalesforceSandbox) -> None:
    for sobject in ("Lead", "Contact"):
        for name, kind in WRITE_FIELDS.items():
            sandbox.add_custom_field(sobject, name, kind)


def seed_salesforce(
    sandbox: SalesforceSandbox,
    people: int,
    seed: int = 1,
    now_ms: int | None = None,
    write_fields: bool = True,
    overlap: Overlap | None = None,
    convert_share: float = 0.0,
) -> list[str]:
    """``people`` records, two thirds leads and one third contacts, with activities and campaign responses
    (with ``overlap``, under the shared people's emails). ``convert_share`` of the leads with a discovery call (a
    tenth of it of the others) are converted, on a date of the last 30 days: outcomes a backtest can rank."""
    rng = random.Random(seed)
    outcomes = random.Random(f"{seed}:conversions")
    converting: list[tuple[str, int]] = []
    now = now_ms if now_ms is not None else sandbox.clock_ms()
    if write_fields:
        add_write_fields(sandbox)
    webinar = sandbox.add("Campaign", Name="Webinar: scoring 101", Type="Webinar", IsActive=True)
    newsletter = sandbox.add("Campaign", Name="Newsletter", Type="Email", IsActive=True)
    ids = []
    for number in range(people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{number}@{rng.choice(DOMAINS)}".lower()
        if overlap is not None:
            email = overlap.email(seed, number)
        modified = now - rng.randrange(60) * DAY_MS - number
        title = rng.choice(TITLES)
        if number % 3 == 2:
            record_id = sandbox.add(
                "Contact", modified_ms=modified, Email=email, FirstName=first, LastName=last, Title=title,
                Department=rng.choice(["Marketing", "Sales", "Engineering", None]),
                MailingCountry=rng.choice(["US", "DE", "BR", None]),
            )  # fmt: skip
        else:
            record_id = sandbox.add(
                "Lead", modified_ms=modified, Email=email, FirstName=first, LastName=last, Title=title,
                Company=f"{last} Holdings", NumberOfEmployees=rng.choice([10, 80, 400, 2500, None]),
                Industry=rng.choice(INDUSTRIES), State=rng.choice(["CA", "NY", "Bavaria", None]), Status="Open",
            )  # fmt: skip
        ids.append(record_id)
        for _ in range(rng.randrange(4)):
            at = now - rng.randrange(40 * DAY_MS)
            subject = rng.choice(["Email: Spring launch (opened)", "Email: Pricing guide (clicked)", "Call"])
            subtype = "Call" if subject == "Call" else "Email"
            sandbox.add("Task", modified_ms=at, WhoId=record_id, Subject=subject, TaskSubtype=subtype,
                        Status="Completed", CreatedDate=_stamp(at), CompletedDateTime=_stamp(at))  # fmt: skip
        called = rng.random() < 0.1
        if called:
            at = now - rng.randrange(20 * DAY_MS)
            sandbox.add("Event", modified_ms=at, WhoId=record_id, Subject="Discovery call", StartDateTime=_stamp(at))
        if record_id.startswith("00Q") and outcomes.random() < convert_share * (1 if called else 0.1):
            converting.append((record_id, now - outcomes.randrange(30) * DAY_MS))
        if rng.random() < 0.25:
            campaign = rng.choice([webinar, newsletter])
            key = "LeadId" if record_id.startswith("00Q") else "ContactId"
            status = rng.choice(["Responded", "Attended", "Registered"])
            at = now - rng.randrange(30 * DAY_MS)
            sandbox.add("CampaignMember", modified_ms=at, CampaignId=campaign, Status=status,
                        HasResponded=status != "Registered", FirstRespondedDate=_stamp(at)[:10],
                        **{key: record_id})  # fmt: skip
    for lead_id, converted_ms in converting:
        sandbox.convert(lead_id, converted_ms=converted_ms)
    return ids


def _stamp(ms: int) -> str:
    from leadscore_sandbox.salesforce import stamp

    return stamp(ms)
