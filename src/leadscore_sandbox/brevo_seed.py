"""Realistic synthetic Brevo data, the same for the same seed.

Brevo holds what a marketing team puts there: free-text job titles and company
sizes, a few blacklisted (unsubscribed) contacts, campaigns whose openers,
clickers, unsubscribers and hard bounces are known per campaign,
transactional email events, and deals in the sales CRM.
"""

from __future__ import annotations

import random

from leadscore_sandbox.brevo import BrevoSandbox
from leadscore_sandbox.people import Overlap

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Mia", "Noah"]
LAST = ["Ruiz", "Okafor", "Schmidt", "Tanaka", "Dubois", "Kowalski", "Silva", "Novak", "Berg", "Haddad", "Moreau"]
TITLES = [
    ("VP Marketing", "vp", "marketing"),
    ("Chief Revenue Officer", "c-level", "sales"),
    ("Director of Sales", "director", "sales"),
    ("Marketing Manager", "manager", "marketing"),
    ("Software Engineer", "entry", "engineering"),
    ("Student", "", ""),
    ("Head of Operations", "head", "operations"),
    ("", "", ""),
]
SIZES = [3, 20, 45, 80, 250, 800, 2500, 9000, None]
INDUSTRIES = ["Software", "SaaS", "Retail", "Financial services", "Higher education", None]
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
PROFILE_ATTRIBUTES = {
    "JOB_TITLE": "text",
    "SENIORITY": "text",
    "DEPARTMENT": "text",
    "COMPANY": "text",
    "COMPANY_SIZE": "float",
    "INDUSTRY": "text",
    "COUNTRY": "text",
    "REGION": "text",
    "LIFECYCLE_STAGE": "text",
}
DAY_MS = 86_400_000
NEWSLETTER_TAG = "newsletter"


def seed_brevo(
    sandbox: BrevoSandbox, contacts: int, seed: int = 1, now_ms: int | None = None, people: Overlap | None = None
) -> list[int]:
    """Create the profile attributes, ``contacts`` contacts, and campaigns and transactional events for them
    (with ``people``, under the shared people's emails)."""
    rng = random.Random(seed)
    now = now_ms if now_ms is not None else sandbox.clock_ms()
    for name, kind in PROFILE_ATTRIBUTES.items():
        sandbox.add_attribute(name, kind)
    ids: list[int] = []
    emails: list[str] = []
    for number in range(contacts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        title, seniority, department = rng.choice(TITLES)
        email = f"{first}.{last}{number}@{rng.choice(DOMAINS)}".lower()
        if people is not None:
            email = people.email(seed, number)
        attributes = {
            "FIRSTNAME": first,
            "LASTNAME": last,
            "JOB_TITLE": title,
            "SENIORITY": seniority,
            "DEPARTMENT": department,
            "COMPANY": f"{last} Holdings",
            "COMPANY_SIZE": rng.choice(SIZES),
            "INDUSTRY": rng.choice(INDUSTRIES),
            "REGION": rng.choice(REGIONS),
            "LIFECYCLE_STAGE": "lead",
        }
        attributes = {k: v for k, v in attributes.items() if v not in (None, "")}
        contact_id = sandbox.add_contact(email, attributes, modified_ms=now - rng.randrange(90) * DAY_MS)
        if rng.random() < 0.04:
            sandbox.contacts[contact_id].email_blacklisted = True
        ids.append(contact_id)
        emails.append(email)
    add_campaigns(sandbox, emails, rng, now)
    add_deals(sandbox, ids, random.Random(f"{seed}:deals"), now)
    return ids


def add_deals(sandbox: BrevoSandbox, ids: list[int], rng: random.Random, now_ms: int) -> None:
    """Deals for some contacts, more for senior ones; the won ones are the conversions a backtest can rank."""
    for contact_id in ids:
        senior = sandbox.contacts[contact_id].attributes.get("SENIORITY") in ("vp", "c-level", "director")
        if rng.random() < (0.25 if senior else 0.04):
            stage = rng.choices(["Won", "Proposal", "Lost"], [3, 1, 1])[0]
            sandbox.add_deal(f"Deal {contact_id}", stage, [contact_id], now_ms - rng.randrange(30) * DAY_MS)


def add_campaigns(sandbox: BrevoSandbox, emails: list[str], rng: random.Random, now_ms: int, count: int = 4) -> None:
    """A few sent campaigns (every other one a newsletter) and some transactional mail, over the last 50 days."""
    for number in range(count):
        newsletter = number % 2 == 0
        sent = now_ms - (5 + 11 * number) * DAY_MS
        campaign = sandbox.add_campaign(
            f"{'Newsletter' if newsletter else 'Promo'} #{number + 1}", sent, NEWSLETTER_TAG if newsletter else "promo"
        )
        for email in emails:
            if rng.random() < 0.35:
                sandbox.add_recipient(campaign, "openers", email)
                if rng.random() < 0.3:
                    sandbox.add_recipient(campaign, "clickers", email)
            if rng.random() < 0.01:
                sandbox.add_recipient(campaign, "unsubscribed", email)
            if rng.random() < 0.005:
                sandbox.add_recipient(campaign, "hardBounces", email)
    for email in emails:
        if rng.random() < 0.2:
            at = now_ms - rng.randrange(20 * DAY_MS)
            sandbox.add_smtp_event(email, "opened", at, tag="onboarding")
            if rng.random() < 0.5:
                sandbox.add_smtp_event(
                    email, "clicks", at + 60_000, tag="onboarding", link="https://www.example.com/pricing"
                )
