"""Text a database cannot keep, cleaned where records enter the store.

PostgreSQL refuses a NUL character in text and JSON, and no UTF-8 store can hold a
lone surrogate (half of a UTF-16 pair, which JSON's ``\\ud800`` escapes can carry).
One such value in one contact would fail every page that holds it, every cycle.
Both are replaced (NUL dropped, a lone surrogate by U+FFFD) and the record named
in the run report. Values without them pass through untouched and uncopied.

A page is first looked at whole, as one JSON text searched once: walking every value of a thousand contacts in
Python cost more than saving them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from leadscore.protocol import ContactPage, EventPage, RecordProblem
from leadscore.records import Contact, Event

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
IN_JSON = re.compile("\\\\u0000|[\ud800-\udfff]")
"""UNSTORABLE as it shows in ``json.dumps(..., ensure_ascii=False)``, which escapes a NUL and keeps surrogates."""
PROBLEM = "held a NUL character or a lone surrogate, which no store can keep; removed"


def _clean_text(text: str) -> str:
    return UNSTORABLE.sub(lambda found: "" if found.group() == "\x00" else "\ufffd", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value) if UNSTORABLE.search(value) else value
    if isinstance(value, Mapping):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(item) for item in value)
    return value


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(item) for item in value)
    return False


def _may_hold_unstorable(values: Any) -> bool:
    """False only when no text in ``values`` (keys included) holds a NUL or a lone surrogate. JSON writes a NUL as
    the escape ``\\u0000``, which also matches a value holding those six characters: then the values are walked."""
    try:
        text = json.dumps(values, ensure_ascii=False, default=str, check_circular=False)
    except (TypeError, ValueError):
        return True
    return IN_JSON.search(text) is not None


CONTACT_FIELDS = ("id", "email", "profile", "observed")
EVENT_FIELDS = ("id", "contact_id", "action", "attributes")


def _contact_values(contact: Contact) -> tuple[Any, ...]:
    return contact.id, contact.email, contact.profile, contact.observed


def _event_values(event: Event) -> tuple[Any, ...]:
    return event.id, event.contact_id, event.action, event.attributes


def clean_contacts(page: ContactPage) -> ContactPage:
    """The page with every contact's text storable; each cleaned contact is a problem of the page."""
    contacts_seen = [_contact_values(contact) for contact in page.contacts]
    if not _may_hold_unstorable([contacts_seen, [_event_values(event) for event in page.events]]):
        return page
    problems: list[RecordProblem] = []
    contacts: list[Contact] = []
    for contact, values in zip(page.contacts, contacts_seen, strict=True):
        fields = dict(zip(CONTACT_FIELDS, values, strict=True))
        if not _unstorable(fields):
            contacts.append(contact)
            continue
        named = [name for name, value in fields.items() if _unstorable(value)]
        problems.append(RecordProblem(_clean_text(contact.id), ", ".join(named), PROBLEM))
        contacts.append(dataclasses.replace(contact, **{name: _clean(fields[name]) for name in named}))
    events = [_clean_event(event, problems) for event in page.events]
    if not problems:
        return page
    return dataclasses.replace(page, contacts=contacts, events=events, problems=[*page.problems, *problems])


def clean_events(page: EventPage) -> EventPage:
    """The page with every event's text storable, those matched by email included."""
    seen = [_event_values(event) for event in page.events]
    seen += [(email, *_event_values(event)) for email, event in page.by_email]
    if not _may_hold_unstorable(seen):
        return page
    problems: list[RecordProblem] = []
    events = [_clean_event(event, problems) for event in page.events]
    by_email = [(_clean_email(email, event, problems), _clean_event(event, problems)) for email, event in page.by_email]
    if not problems:
        return page
    return dataclasses.replace(page, events=events, by_email=by_email, problems=[*page.problems, *problems])


def _clean_event(event: Event, problems: list[RecordProblem]) -> Event:
    fields = dict(zip(EVENT_FIELDS, _event_values(event), strict=True))
    if not _unstorable(fields):
        return event
    named = [name for name, value in fields.items() if _unstorable(value)]
    problems.append(RecordProblem(_clean_text(event.id), ", ".join(named), PROBLEM))
    return dataclasses.replace(event, **{name: _clean(fields[name]) for name in named})


def _clean_email(email: str, event: Event, problems: list[RecordProblem]) -> str:
    if not _unstorable(email):
        return email
    problems.append(RecordProblem(_clean_text(event.id), "recipient email", PROBLEM))
    return _clean_text(email)
