"""The model language: typed fields, compound conditions, windows, counts, groups, limits, base and grades.

Each construct is pinned by a table or a worked example against tests/engine/models/language.yaml,
the model language issue's example file completed into a whole model.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadscore.engine import Engine, load_model_file, parse_model_text
from leadscore.records import Contact, Event, ScoreResult
from tests.conftest import NOW

LANGUAGE = Path(__file__).parent / "models" / "language.yaml"
ENGINE = Engine("lead", load_model_file(LANGUAGE).models["lead"])


def contact(**profile: Any) -> Contact:
    return Contact("t", "c1", profile.pop("email", "x@acme.example"), profile)


def event(number: int, action: str, days_ago: float, **attributes: Any) -> Event:
    return Event("t", f"e{number}", "c1", action, NOW - timedelta(days=days_ago), attributes)


def points(result: ScoreResult) -> dict[str, float]:
    return {c.rule_id: round(c.points, 6) for c in result.contributions}


def fit_rules(**profile: Any) -> set[str]:
    result = ENGINE.score(contact(**profile), [], NOW)
    return {c.rule_id for c in result.contributions if c.kind == "fit"} - {"not_a_student"}


@pytest.mark.parametrize(
    ("profile", "fired"),
    [
        ({"seats": 50}, {"big_team"}),
        ({"seats": "50"}, {"big_team"}),
        ({"seats": 49.9}, set()),
        ({"seats": " 120 "}, {"big_team"}),
        ({"company_size": 1000, "department": "IT"}, {"enterprise_it"}),
        ({"company_size": "5000", "department": "engineering"}, {"enterprise_it"}),
        ({"company_size": 999, "department": "it"}, set()),
        ({"company_size": 1000, "department": "sales"}, set()),
        ({"company.industry": "SaaS"}, {"software_not_student"}),
        ({"product_interest": "Analytics suite"}, {"software_not_student"}),
        ({"is_customer": "Yes"}, {"customer"}),
        ({"is_customer": "true"}, {"customer"}),
        ({"is_customer": True}, {"customer"}),
        ({"is_customer": 1}, {"customer"}),
        ({"is_customer": "no"}, set()),
        ({"is_customer": False}, set()),
    ],
)
def test_field_operators_and_coercion(profile: dict[str, Any], fired: set[str]) -> None:
    assert fit_rules(**profile) == fired


@pytest.mark.parametrize(
    ("started", "fresh"),
    [
        (NOW - timedelta(days=14), True),
        (NOW - timedelta(days=14, seconds=1), False),
        (NOW - timedelta(days=3), True),
        (NOW + timedelta(days=1), False),
        ("2026-11-10", True),
        ("2026-11-09", False),
        # the 14 days end at 2026-11-23T12:00Z, so they start at 2026-11-09T12:00Z
        ("2026-11-09T07:30:00-05:00", True),  # 12:30Z
        ("2026-11-09T13:30:00+02:00", False),  # 11:30Z
        (str(int((NOW - timedelta(days=2)).timestamp() * 1000)), True),
    ],
)
def test_within_days_counts_from_now_in_utc_whatever_the_zone(started: Any, fresh: bool) -> None:
    assert ("fresh_trial" in fit_rules(trial_started=started)) is fresh


def test_older_than_days_is_the_other_side_of_the_window() -> None:
    model = parse_model_text(
        """
version: 1
models:
  m:
    writes: {score: s, grade: g, band: b}
    fields: {signed_up: {type: date}}
    fit: [{id: old, field: signed_up, operator: older_than_days, value: 30, points: 5, reason: long-time user}]
    grades: [{name: D}]
    bands: [{name: New, min: 0}]
"""
    ).models["m"]
    engine = Engine("m", model)
    assert engine.score(contact(signed_up=NOW - timedelta(days=31)), [], NOW).fit == 5
    assert engine.score(contact(signed_up=NOW - timedelta(days=30)), [], NOW).fit == 0
    assert engine.score(contact(), [], NOW).fit == 0


def test_a_value_that_is_not_its_type_is_a_problem_and_matches_no_rule() -> None:
    result = ENGINE.score(contact(seats="lots", is_customer="maybe", trial_started="soon"), [], NOW)
    assert {p.field for p in result.problems} == {"seats", "is_customer", "trial_started"}
    assert "'lots' is not a number" in {p.problem for p in result.problems}
    assert fit_rules(seats="lots") == set()
    assert ENGINE.score(contact(seats="lots"), [], NOW).grade != "B", "a grade reading it does not hold either"


def test_not_holds_when_none_of_its_conditions_does() -> None:
    assert "not_a_student" in points(ENGINE.score(contact(job_title="Engineer"), [], NOW))
    assert "not_a_student" in points(ENGINE.score(contact(), [], NOW))
    assert "not_a_student" not in points(ENGINE.score(contact(job_title="PhD student"), [], NOW))


def test_base_points_are_added_to_every_score() -> None:
    result = ENGINE.score(contact(), [], NOW)
    assert points(result)["base"] == 5
    assert result.score == 5 + 2  # base + not a student


def test_fit_limit_bounds_the_fit_total_and_says_so() -> None:
    rich = contact(seats=90, company_size=2000, department="it", trial_started=NOW, **{"company.industry": "saas"})
    result = ENGINE.score(rich, [], NOW)
    assert result.fit == 40  # 10 + 15 + 10 + 5 + 2 = 42, limited to 40
    assert points(result)["fit_limit"] == -2
    assert result.score == 45


def test_a_disqualifying_rule_forces_zero_whatever_the_limits() -> None:
    result = ENGINE.score(contact(email="boss@rival.example", is_customer=True, seats=1), [], NOW)
    assert result.fit == -50  # -100 - 30 + 2, limited to -50
    assert (result.score, result.grade, result.disqualified) == (0, "D", True)


@pytest.mark.parametrize(
    ("ages", "earned"),
    [
        ([1, 2, 14], 20),
        ([1, 2, 14.001], 0),
        ([1, 2], 0),
        ([1, 2, 3, 4, 5, 6], 20),
    ],
)
def test_a_count_earns_its_points_once_when_reached_inside_its_window(ages: list[float], earned: float) -> None:
    events = [event(n, "page_view", age, url="https://x.example/pricing") for n, age in enumerate(ages)]
    result = ENGINE.score(contact(), events, NOW)
    pricing = next(c for c in result.contributions if c.rule_id == "pricing_again")
    assert pricing.points == earned
    assert pricing.events == sum(1 for age in ages if age <= 14), "explain shows every event the count took"


def test_then_continue_also_scores_the_next_match_and_old_events_fall_through() -> None:
    events = [event(n, "page_view", age, url="https://x.example/pricing") for n, age in enumerate([1, 2, 3, 40])]
    result = ENGINE.score(contact(), events, NOW)
    contributions = {c.rule_id: c for c in result.contributions}
    assert contributions["pricing_again"].events == 3
    assert contributions["visit"].events == 4, "counted events continue; the one outside the window falls through"
    assert result.unmatched_actions == {}


def test_a_windowed_rule_passes_older_events_to_the_next_rule() -> None:
    result = ENGINE.score(contact(), [event(1, "content_download", 6.9), event(2, "content_download", 7.1)], NOW)
    contributions = {c.rule_id: c for c in result.contributions}
    assert contributions["recent_download"].events == 1
    assert contributions["old_download"].events == 1


def test_attribute_filters_take_the_new_operators() -> None:
    result = ENGINE.score(
        contact(), [event(1, "page_view", 0, seconds="301"), event(2, "page_view", 0, seconds=12)], NOW
    )
    assert {c.rule_id: c.events for c in result.contributions if c.kind == "behaviour"} == {"long_visit": 1, "visit": 1}


def test_a_group_bounds_its_rules_and_fades_them_by_its_own_half_life() -> None:
    clicks = [event(n, "email_click", 0) for n in range(5)]
    result = ENGINE.score(contact(), clicks, NOW)
    assert points(result)["email_click"] == 40
    assert points(result)["email_limit"] == -20
    assert result.behaviour == 20

    fortnight = ENGINE.score(contact(), [event(1, "email_click", 14)], NOW)
    assert points(fortnight)["email_click"] == 4, "the group's 14-day half-life, not the model's"


def test_a_group_with_a_negative_rule_is_bounded_below_too() -> None:
    result = ENGINE.score(contact(), [event(1, "unsubscribe", 1), event(2, "email_open", 0)], NOW)
    assert points(result)["unsubscribe"] == -15
    assert points(result)["email_limit"] == 1  # -15 + 4 = -11, at least -10
    assert result.behaviour == -10


def test_behaviour_limit_bounds_the_total() -> None:
    many = [event(n, "content_download", 1) for n in range(8)]
    result = ENGINE.score(contact(), many, NOW)
    assert result.behaviour == 80
    assert points(result)["behaviour_limit"] == -40


def test_reset_after_days_null_turns_the_reset_off() -> None:
    result = ENGINE.score(contact(), [event(1, "content_download", 400)], NOW)
    assert result.behaviour == 3


@pytest.mark.parametrize(
    ("profile", "events", "grade"),
    [
        ({"seats": 60, "company_size": 1000, "department": "it"}, [event(1, "content_download", 1)], "A"),
        ({"seats": 60, "company_size": 1000, "department": "it"}, [], "B"),
        ({"seats": 10}, [], "B"),
        ({"seats": 9, "company.industry": "saas"}, [], "C"),
        ({}, [], "D"),
    ],
)
def test_grades_can_read_fields_and_the_behaviour_total(
    profile: dict[str, Any], events: list[Event], grade: str
) -> None:
    assert ENGINE.score(contact(**profile), events, NOW).grade == grade


def test_the_fast_path_scores_the_language_exactly_as_the_reference() -> None:
    import json

    from leadscore.records import to_epoch_ms

    events = [
        event(1, "page_view", 1, url="/pricing"),
        event(2, "page_view", 2, url="/pricing", seconds=400),
        event(3, "page_view", 13, url="/pricing"),
        event(4, "page_view", 20, url="/pricing"),
        event(5, "content_download", 3),
        event(6, "content_download", 9),
        event(7, "email_click", 1),
        event(8, "email_click", 2),
        event(9, "email_open", 0),
        event(10, "unsubscribe", 5),
    ]
    rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), json.dumps(dict(e.attributes))) for e in events]
    person = contact(seats="75", trial_started="2026-11-20", is_customer="no", company_size=3000, department="it")
    fresh = Engine("lead", ENGINE.model)
    for now in (NOW, NOW + timedelta(days=5)):
        assert fresh.score_rows(person, rows, now) == ENGINE.score(person, events, now)


def test_when_a_count_is_not_reached_explain_still_lists_what_it_took() -> None:
    result = ENGINE.score(contact(), [event(1, "page_view", 1, url="/pricing")], NOW)
    pricing = next(c for c in result.contributions if c.rule_id == "pricing_again")
    assert (pricing.points, pricing.events) == (0, 1)
    assert pricing.last_seen == datetime(2026, 11, 22, 12, 0, tzinfo=NOW.tzinfo)
