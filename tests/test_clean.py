"""Text no store can keep (a NUL, a lone surrogate) is found wherever it hides in a page, and only there."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from leadscore.protocol import ContactPage, EventPage
from leadscore.records import Contact, Event
from leadscore.sync.clean import clean_contacts, clean_events

AT = datetime(2026, 12, 1, tzinfo=UTC)


def page_of(*contacts: Contact, events: tuple[Event, ...] = ()) -> ContactPage:
    return ContactPage(contacts, cursor=None, events=events)  # type: ignore[arg-type]


def test_a_page_without_odd_text_passes_as_it_is_whatever_its_values() -> None:
    odd_but_fine = {"seats": Decimal("12.5"), "seen": AT, "tags": ("a", "b"), "note": "a literal \\u0000 is text"}
    page = page_of(Contact("s", "1", "ann@x.example", odd_but_fine), events=(Event("s", "e1", "1", "visit", AT),))
    assert clean_contacts(page) is page
    events = EventPage(
        [Event("s", "e2", "1", "visit", AT, {"url": "/p"})],
        None,
        by_email=[("a@x.example", Event("s", "e3", "", "open", AT))],
    )
    assert clean_events(events) is events


def test_a_nul_or_a_lone_surrogate_anywhere_is_cleaned_and_named() -> None:
    for profile in ({"title": "VP\x00"}, {"title\ud800": "VP"}, {"tags": ["x", {"deep": "y\udfff"}]}):
        cleaned = clean_contacts(page_of(Contact("s", "1", "ann@x.example", profile), Contact("s", "2")))
        assert [p.record_id for p in cleaned.problems] == ["1"], profile
        assert cleaned.contacts[1] == Contact("s", "2")
        assert "\x00" not in str(cleaned.contacts[0].profile)
    by_email = EventPage([], None, by_email=[("ann\x00@x.example", Event("s", "e1", "", "open", AT))])
    assert clean_events(by_email).by_email[0][0] == "ann@x.example"
    attributes = EventPage([Event("s", "e1", "1", "visit", AT, {"url": "/\ud800"})], None)
    assert clean_events(attributes).events[0].attributes == {"url": "/\ufffd"}


def test_an_event_a_clean_contact_implies_is_cleaned_too() -> None:
    derived = Event("s", "1:visits", "1", "visit", AT, {"page": "/a\x00"})
    cleaned = clean_contacts(page_of(Contact("s", "1", "ann@x.example"), events=(derived,)))
    assert cleaned.events[0].attributes == {"page": "/a"}
    assert [p.record_id for p in cleaned.problems] == ["1:visits"]
