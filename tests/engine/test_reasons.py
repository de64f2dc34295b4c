"""The reasons text and its shape: the planner tells a text that only aged from one that changed by the shape."""

from __future__ import annotations

from datetime import timedelta

from leadscore.engine import Engine, render_reasons
from leadscore.records import Contribution, ScoreResult
from tests.conftest import NOW, contact, event


def result(*contributions: Contribution, disqualified: bool = False) -> ScoreResult:
    return ScoreResult("c1", "lead", 40, 0.0, 40.0, "B", "Warm", "B Warm", None, contributions, disqualified)


def test_the_same_rules_older_and_faded_have_the_same_shape(engine: Engine) -> None:
    vp = contact(seniority="vp")
    before = render_reasons(engine.score(vp, [event("e1", "page_view", 2, url="https://x/pricing")], NOW), NOW)
    later = NOW + timedelta(days=9)
    after = render_reasons(engine.score(vp, [event("e1", "page_view", 2, url="https://x/pricing")], later), later)
    assert before.text != after.text
    assert after.same_parts(before.text)
    assert before.same_parts(after.text)


def test_a_text_edited_on_the_platform_or_naming_other_rules_does_not_match() -> None:
    clicked = Contribution("click", "behaviour", 15.0, "email click", 1, NOW - timedelta(days=2))
    vp = Contribution("vp", "fit", 15.0, "VP", 0)
    rendered = render_reasons(result(clicked, vp), NOW)
    assert rendered.text == "+15 email click (2d) · +15 VP"
    assert rendered.same_parts("+12.5 email click (30d) · +15 VP")
    for other in (
        "email click · VP",
        "+15 VP · +15 email click (2d)",
        "+15 email click (2d)",
        "+15 email click (2d) · +15 VP!",
    ):
        assert not rendered.same_parts(other), other


def test_reasons_with_separators_brackets_and_sources_are_matched_whole() -> None:
    odd = Contribution("odd", "behaviour", 20.0, "pricing · plans (en) [x]+", 3, NOW - timedelta(days=1), ("Brevo",))
    rendered = render_reasons(result(odd), NOW)
    assert rendered.text == "+20 pricing · plans (en) [x]+ (Brevo, 1d)"
    assert rendered.same_parts("+7.5 pricing · plans (en) [x]+ (Brevo, 40d)")
    assert not rendered.same_parts("+7.5 pricing · plans (en) [x]+ (HubSpot, 40d)")


def test_disqualified_and_empty_texts_match_only_themselves() -> None:
    student = Contribution("student", "fit", -50.0, "student", 0)
    rendered = render_reasons(result(student, disqualified=True), NOW)
    assert rendered.text == "disqualified: student"
    assert rendered.same_parts("disqualified: student")
    assert not rendered.same_parts("disqualified: students")
    assert render_reasons(result(), NOW).same_parts("no scoring activity")
