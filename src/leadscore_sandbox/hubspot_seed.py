"""Realistic synthetic HubSpot data, the same for the same seed.

Profiles carry the mess real portals have: employee counts as ranges
("1,000-5,000"), enumerated industries ("COMPUTER_SOFTWARE"), free-mail and
competitor domains, missing fields; engagement spans the last 60 days.
"""

from __future__ import annotations

import random

from leadscore_sandbox.hubspot import CUSTOMER_SINCE, HubSpotSandbox, iso
from leadscore_sandbox.people import Overlap

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Mia", "Noah"]
LAST = ["Ruiz", "Okafor", "Schmidt", "Tanaka", "Dubois", "Kowalski", "Silva", "Novak", "Berg", "Haddad", "Moreau"]
TITLES = [
    ("VP Marketing", "vp", "marketing"),
    ("Chief Revenue Officer", "c-level", "sales"),
    ("Director of Sales", "director", "sales"),
    ("Marketing Manager", "manager", "marketing"),
    ("Software Engineer", "entry", "engineering"),
    ("Student", None, None),
    ("Owner", "owner", None),
    ("Head of Operations", "head", "operations"),
    ("Analyst", "entry", "finance"),
    (None, None, None),
]
SIZES = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1,000-5,000", "5000+", None]
INDUSTRIES = ["COMPUTER_SOFTWARE", "SAAS", "RETAIL", "FINANCIAL_SERVICES", "HIGHER_EDUCATION", None]
REGIONS = ["Europe", "North America", "APAC", "LATAM", None]
DOMAINS = [
    "acme-software.example",
    "northwind.example",
    "globex.example",
    "initech.example",
    "gmail.com",
    "outlook.com",
    "competitor.example",
    "umbrella.example",
]
PAGES = ["/blog/lead-scoring-101", "/blog/revops", "/features", "/pricing", "/docs/start", "/customers"]
FORMS = [("ebook-landing", 6), ("newsletter", 3), ("contact-sales", 1), ("quote-request", 1)]
NEWSLETTER_CAMPAIGN, PROMO_CAMPAIGN = 1001, 1002
DAY_MS = 86_400_000
CUSTOMER_SHARE, CUSTOMER_SHARE_MET = 0.03, 0.4
"""Shares of contacts that became customers, without and with a meeting: outcomes a backtest can rank."""


def seed_hubspot(
    sandbox: HubSpotSandbox, contacts: int, seed: int = 1, now_ms: int | None = None, people: Overlap | None = None
) -> list[int]:
    """Create ``contacts`` contacts with engagement; returns their ids. With ``people``, emails are the shared
    people's, so that other sandboxes seeded alike hold some of the same people."""
    rng = random.Random(seed)
    outcomes = random.Random(f"{seed}:customers")
    now = now_ms if now_ms is not None else sandbox.clock_ms()
    ids = []
    for number in range(contacts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        title, seniority, role = rng.choice(TITLES)
        email: str | None = f"{first}.{last}{number}@{rng.choice(DOMAINS)}".lower()
        if people is not None:
            email = people.email(seed, number)
        if rng.random() < 0.01:
            email = None
        properties = {
            "email": email,
            "firstname": first,
            "lastname": last,
            "jobtitle": title,
            "hs_seniority": seniority,
            "hs_role": role,
            "company": f"{last} Holdings",
            "numemployees": rng.choice(SIZES),
            "industry": rng.choice(INDUSTRIES),
            "region": rng.choice(REGIONS),
            "lifecyclestage": "lead",
        }
        if rng.random() < 0.1:
            properties["hs_latest_meeting_activity"] = str(now - rng.randrange(40) * DAY_MS)
        if outcomes.random() < (CUSTOMER_SHARE_MET if "hs_latest_meeting_activity" in properties else CUSTOMER_SHARE):
            properties[CUSTOMER_SINCE] = iso(now - outcomes.randrange(30) * DAY_MS)
        contact_id = sandbox.add_contact(properties, modified_ms=now - rng.randrange(90) * DAY_MS)
        ids.append(contact_id)
        add_engagement(sandbox, contact_id, email, rng, now)
    return ids


def add_engagement(
    sandbox: HubSpotSandbox, contact_id: int, email: str | None, rng: random.Random, now_ms: int, scale: int = 1
) -> None:
    """Page views, form submissions and email events for one contact."""
    for _ in range(rng.randrange(6) * scale):
        sandbox.add_web_event(
            contact_id,
            "e_visited_page",
            now_ms - rng.randrange(60 * DAY_MS),
            hs_url=f"https://www.example.com{rng.choice(PAGES)}",
        )
    if rng.random() < 0.3 * scale:
        form = rng.choices([f for f, _ in FORMS], [w for _, w in FORMS])[0]
        sandbox.add_web_event(contact_id, "e_submitted_form", now_ms - rng.randrange(45 * DAY_MS), hs_form_id=form)
    if email is None:
        return
    for _ in range(rng.randrange(4) * scale):
        campaign = rng.choice([NEWSLETTER_CAMPAIGN, PROMO_CAMPAIGN])
        sent = now_ms - rng.randrange(50 * DAY_MS)
        sandbox.add_email_event(email, "OPEN", sent + 3_600_000, campaign)
        if rng.random() < 0.4:
            sandbox.add_email_event(email, "CLICK", sent + 3_700_000, campaign, url="https://www.example.com/pricing")
    if rng.random() < 0.03:
        sandbox.add_email_event(
            email, "STATUSCHANGE", now_ms - rng.randrange(30 * DAY_MS), PROMO_CAMPAIGN, subscriptionAction="UNSUBSCRIBE"
        )
    if rng.random() < 0.01:
        sandbox.add_email_event(
            email, "BOUNCE", now_ms - rng.randrange(30 * DAY_MS), PROMO_CAMPAIGN, category="HARD_BOUNCE"
        )
