"""Planning, pure: desired state from scores, minus what is known to be on the platform."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadscore.engine import Engine, engines, load_model_file
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Change, Contact, Event, WrittenState
from leadscore.sync.plan import Desired, desired_state, plan_contact, rendered_reasons, write_targets
from tests.conftest import DEFAULT_MODEL, NOW

ENGINES = engines(load_model_file(DEFAULT_MODEL))
LEAD: Engine = ENGINES[0]
VP = Contact("hs", "1", "ana@acme.example", {"seniority": "vp", "company_size": 200})


def scored(*events: Event) -> Desired:
    results = [LEAD.score(VP, events, NOW)]
    return desired_state(ENGINES, results, rendered_reasons(ENGINES, results, NOW))


def pricing(number: int, days_ago: float) -> Event:
    return Event("hs", f"e{number}", "1", "page_view", NOW - timedelta(days=days_ago), {"url": "https://x/pricing"})


def test_write_targets_name_every_property_and_one_list_per_band() -> None:
    targets = write_targets(ENGINES)
    roles = {p.role: p for p in targets.properties}
    assert set(roles) == {"score", "grade", "band", "label", "reasons", "scored_at"}
    assert roles["band"].options == ("New", "Warm", "MQL", "SQL")
    assert roles["grade"].options == ("A", "B", "C", "D")
    assert targets.lists == ("lead:New", "lead:Warm", "lead:MQL", "lead:SQL")


def test_desired_state_holds_the_visible_values_and_the_one_band_list() -> None:
    desired = scored(pricing(1, 1))
    result = LEAD.score(VP, [pricing(1, 1)], NOW)
    assert desired.properties["leadscore_score"] == str(result.score)
    assert desired.properties["leadscore_band"] == result.band
    assert desired.properties["leadscore_label"] == result.label
    assert desired.properties["leadscore_reasons"].startswith("+")
    assert desired.lists == frozenset({f"lead:{result.band}"})
    assert desired.managed_lists == frozenset({"lead:New", "lead:Warm", "lead:MQL", "lead:SQL"})


def test_a_contact_never_written_gets_its_properties_and_its_band_list() -> None:
    desired = scored(pricing(1, 1))
    changes = plan_contact("hs", "1", desired, None, NOW, ("leadscore_scored_at",))
    assert [c.kind for c in changes] == [SET_PROPERTIES, LIST_ADD]
    assert changes[0].payload["leadscore_scored_at"] == "2026-11-23T12:00:00.000Z"
    assert changes[1] == Change("hs", "1", LIST_ADD, {"list": next(iter(desired.lists))})


def test_a_platform_that_shows_the_desired_state_gets_nothing() -> None:
    desired = scored(pricing(1, 1))
    shown = WrittenState(dict(desired.properties) | {"leadscore_scored_at": "2026-11-20T00:00:00.000Z"}, desired.lists)
    assert plan_contact("hs", "1", desired, shown, NOW, ("leadscore_scored_at",)) == []


def test_a_number_read_back_as_a_float_is_not_a_change() -> None:
    desired = scored(pricing(1, 1))
    score = float(desired.properties["leadscore_score"])
    shown = WrittenState(dict(desired.properties) | {"leadscore_score": score}, desired.lists)
    assert plan_contact("hs", "1", desired, shown, NOW) == []


def test_reasons_that_only_aged_are_not_rewritten_alone() -> None:
    """'+28.5 pricing page (2d)' becoming '+27.9 pricing page (3d)' is not worth a write on its own."""
    yesterday, today = scored(pricing(1, 2.0)), scored(pricing(1, 2.2))
    assert yesterday.properties["leadscore_reasons"] != today.properties["leadscore_reasons"]
    assert yesterday.properties["leadscore_score"] == today.properties["leadscore_score"]
    shown = WrittenState(dict(yesterday.properties), yesterday.lists)
    assert plan_contact("hs", "1", today, shown, NOW) == []


def test_reasons_naming_other_rules_are_rewritten() -> None:
    before = scored(pricing(1, 2))
    after = scored(pricing(1, 2), Event("hs", "q", "1", "quote_request", NOW - timedelta(days=1)))
    shown = WrittenState(dict(before.properties), before.lists)
    [update, *_] = plan_contact("hs", "1", after, shown, NOW)
    assert update.kind == SET_PROPERTIES
    assert "leadscore_reasons" in update.payload


def test_a_hand_edited_score_is_set_back_without_touching_the_lists() -> None:
    desired = scored(pricing(1, 1))
    shown = WrittenState(dict(desired.properties) | {"leadscore_score": "99"}, desired.lists)
    [update] = plan_contact("hs", "1", desired, shown, NOW)
    assert update.payload["leadscore_score"] == desired.properties["leadscore_score"]


@pytest.mark.parametrize("other", ["lead:New", "lead:SQL"])
def test_a_band_move_adds_the_new_list_and_removes_the_old_one_but_no_foreign_list(other: str) -> None:
    desired = scored(pricing(1, 1), pricing(2, 1))
    (band_list,) = desired.lists
    if other == band_list:
        other = "lead:Warm"
    shown = WrittenState(dict(desired.properties), frozenset({other, "someone-elses:list"}))
    changes = plan_contact("hs", "1", desired, shown, NOW)
    assert [(c.kind, c.payload["list"]) for c in changes] == [(LIST_ADD, band_list), (LIST_REMOVE, other)]


def test_reasons_edited_on_the_platform_are_written_again() -> None:
    """A salesperson who strips the points ('pricing page · VP') edited the text; the labels alone are the same."""
    desired = scored(pricing(1, 1))
    text = desired.properties["leadscore_reasons"]
    labels = [part.split(" ", 1)[1].rsplit(" (", 1)[0] for part in text.split(" · ")]
    shown = WrittenState(dict(desired.properties) | {"leadscore_reasons": " · ".join(labels)}, desired.lists)
    [update] = plan_contact("hs", "1", desired, shown, NOW)
    assert update.payload["leadscore_reasons"] == text
