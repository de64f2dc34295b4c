"""Records held for Brevo's import path: each record once, a later plan's changes winning, every key answered once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadscore.connectors.brevo.held import HeldWrites, RecordWrite

NEW, WARM, MQL = 11, 12, 13


@pytest.fixture
def held() -> Iterator[HeldWrites]:
    spool = HeldWrites()
    yield spool
    spool.close()


def test_a_record_held_twice_takes_the_later_plan_and_answers_every_key(held: HeldWrites) -> None:
    earlier = RecordWrite("7", "a@x.example", {"SCORE": 10.0, "GRADE": "B"}, carried=(1,), adds=((NEW, 2),))
    later = RecordWrite("7", "a@x.example", {"SCORE": 65.0}, carried=(5,), adds=((MQL, 6),), removes=((NEW, 7),))
    held.hold([earlier])
    held.hold([later])
    (record,) = held.records()
    assert record.attributes == {"SCORE": 65.0, "GRADE": "B"}
    assert record.adds == ((MQL, 6),)
    assert record.removes == ((NEW, 7),)
    assert sorted(record.outbox_keys()) == [1, 2, 5, 6, 7]
    assert held.lists() == [MQL]
    assert [(r.contact_id, first) for r, first in held.arrivals(MQL)] == [("7", True)]


def test_a_record_whose_later_plan_undoes_its_add_enters_no_list(held: HeldWrites) -> None:
    held.hold([RecordWrite("7", "a@x.example", {"SCORE": 30.0}, carried=(1,), adds=((WARM, 2),))])
    held.hold([RecordWrite("7", "a@x.example", {"SCORE": 5.0}, carried=(3,), removes=((WARM, 4),))])
    assert held.lists() == []
    (record,) = held.records(importable=False)
    assert record.item() == {"id": 7, "attributes": {"SCORE": 5.0}, "unlinkListIds": [WARM]}
    assert sorted(record.outbox_keys()) == [1, 2, 3, 4]


def test_a_record_entering_two_lists_carries_its_attributes_to_the_first(held: HeldWrites) -> None:
    held.hold(
        [
            RecordWrite("7", "a@x.example", {"SCORE": 30.0}, carried=(1,), adds=((WARM, 2), (MQL, 3))),
            RecordWrite("8", "b@x.example", {"SCORE": 40.0}, carried=(4,), adds=((WARM, 5),)),
        ]
    )
    assert held.lists() == [WARM, MQL]
    assert [(r.contact_id, first) for r, first in held.arrivals(WARM)] == [("7", True), ("8", True)]
    assert [(r.contact_id, first) for r, first in held.arrivals(MQL)] == [("7", False)]
