"""The default model of DESIGN.md, row by row, and the scenarios issue 2 names as 'done when'."""

from __future__ import annotations

import pytest

from leadscore.engine import Engine
from tests.conftest import NOW, contact, event

BEHAVIOUR_ROWS = [
    ("site visit", "page_view", {"url": "https://x.example/blog/a"}, 5),
    ("newsletter sign-up", "newsletter_signup", {}, 5),
    ("social follow", "social_follow", {}, 5),
    ("social engagement", "social_engagement", {}, 10),
    ("email open", "email_open", {}, 2),
    ("email click", "email_click", {"campaign_type": "promotional"}, 10),
    ("newsletter click", "email_click", {"campaign_type": "Newsletter"}, 15),
    ("content download", "content_download", {}, 15),
    ("form submission", "form_submit", {}, 20),
    ("webinar", "webinar_attended", {}, 15),
    ("event", "event_attended", {}, 15),
    ("pricing page", "page_view", {"url": "https://x.example/pricing?plan=pro"}, 30),
    ("contact sales", "contact_sales", {}, 30),
    ("quote request", "quote_request", {}, 40),
    ("demo request", "demo_request", {}, 40),
]


@pytest.mark.parametrize(("row", "action", "attributes", "points"), BEHAVIOUR_ROWS, ids=[r[0] for r in BEHAVIOUR_ROWS])
def test_each_behaviour_row_earns_its_points_when_fresh(
    engine: Engine, row: str, action: str, attributes: dict[str, str], points: int
) -> None:
    result = engine.score(contact(email=None), [event("e1", action, 0, **attributes)], NOW)
    assert result.behaviour == points
    assert result.score == points
    assert [c.reason for c in result.contributions if c.kind == "behaviour"] == [row]


@pytest.mark.parametrize(("action", "points"), [("unsubscribe", -20), ("hard_bounce", -50)])
def test_negative_rows_subtract_and_never_fade(engine: Engine, action: str, points: int) -> None:
    fresh = engine.score(contact(email=None), [event("e1", action, 0)], NOW)
    old = engine.score(contact(email=None), [event("e1", action, 200)], NOW)
    assert fresh.behaviour == old.behaviour == points


FIT_ROWS = [
    ("C-level/VP", {"seniority": "VP"}, 15),
    ("C-level/VP", {"seniority": "c-level"}, 15),
    ("director/manager", {"seniority": "Director"}, 10),
    ("target department", {"department": "Marketing"}, 5),
    ("50-1000 employees", {"company_size": 250}, 10),
    ("50-1000 employees", {"company_size": "1000"}, 10),
    ("target industry", {"industry": "SaaS"}, 10),
    ("target region", {"region": "Europe"}, 5),
    ("student", {"job_title": "PhD Student"}, -20),
]


@pytest.mark.parametrize(("reason", "profile", "points"), FIT_ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(FIT_ROWS)])
def test_each_fit_row(engine: Engine, reason: str, profile: dict[str, object], points: int) -> None:
    result = engine.score(contact(email="x@corp.example", **profile), [], NOW)
    assert result.fit == points
    assert [c.reason for c in result.contributions] == [reason]


def test_company_size_outside_the_target_range_earns_nothing(engine: Engine) -> None:
    for size in (49, 1001, "1,000-5,000", None):
        assert engine.score(contact(company_size=size), [], NOW).fit == 0


def test_free_mail_domain_costs_ten(engine: Engine) -> None:
    result = engine.score(contact(email="Someone@GMail.com"), [], NOW)
    assert result.fit == -10
    assert result.contributions[0].reason == "free mail"


def test_grades_follow_fit_points(engine: Engine) -> None:
    a = contact(seniority="vp", company_size=100, industry="software")
    b = contact(seniority="director", industry="software")
    c = contact(region="europe")
    assert [engine.score(x, [], NOW).grade for x in (a, b, c, contact())] == ["A", "B", "C", "D"]


def test_bands_by_score(engine: Engine) -> None:
    def band_for(events: list[tuple[str, str, dict[str, str]]]) -> str:
        built = [event(eid, action, 0, **attrs) for eid, action, attrs in events]
        return engine.score(contact(email=None), built, NOW).band

    assert band_for([("1", "page_view", {})]) == "New"
    assert band_for([("1", "form_submit", {})]) == "Warm"
    assert band_for([("1", "contact_sales", {}), ("2", "form_submit", {})]) == "MQL"
    assert band_for([("1", "contact_sales", {}), ("2", "contact_sales", {}), ("3", "form_submit", {})]) == "MQL"
    assert (
        band_for(
            [("1", "contact_sales", {}), ("2", "contact_sales", {}), ("3", "form_submit", {}), ("4", "form_submit", {})]
        )
        == "SQL"
    )


def test_done_when_form_newsletter_click_and_two_blog_visits_is_warm(engine: Engine) -> None:
    events = [
        event("e1", "form_submit", 2),
        event("e2", "email_click", 3, campaign_type="newsletter"),
        event("e3", "page_view", 1, url="https://x.example/blog/one"),
        event("e4", "page_view", 6, url="https://x.example/blog/two"),
    ]
    assert engine.score(contact(), events, NOW).band == "Warm"


def test_done_when_quote_request_yesterday_is_at_least_mql(engine: Engine) -> None:
    result = engine.score(contact(), [event("e1", "quote_request", 1)], NOW)
    assert result.score < 50
    assert result.band in ("MQL", "SQL")


def test_fast_track_expires_with_the_window(engine: Engine) -> None:
    result = engine.score(contact(), [event("e1", "quote_request", 31), event("e2", "page_view", 1)], NOW)
    assert result.band != "MQL"


def test_done_when_old_clicks_score_lower_than_recent_ones(engine: Engine) -> None:
    recent = engine.score(contact(), [event("e1", "email_click", 1), event("e2", "email_click", 1.5)], NOW)
    old = engine.score(contact(), [event("e1", "email_click", 45), event("e2", "email_click", 45.5)], NOW)
    assert old.score < recent.score
    assert old.behaviour == 0
    assert any(c.rule_id == "inactivity_reset" for c in old.contributions)


def test_done_when_competitor_scores_zero_whatever_it_did(engine: Engine) -> None:
    events = [
        event(str(i), action, 0.5)
        for i, action in enumerate(
            ["quote_request", "demo_request", "contact_sales", "form_submit", "meeting_booked"] * 3
        )
    ]
    result = engine.score(contact(email="spy@competitor.example", seniority="vp", company_size=100), events, NOW)
    assert result.score == 0
    assert result.disqualified
    assert result.band == "New"
    assert result.grade == "D"


def test_done_when_duplicated_event_id_counts_once(engine: Engine) -> None:
    once = engine.score(contact(), [event("e1", "form_submit", 1)], NOW)
    twice = engine.score(contact(), [event("e1", "form_submit", 1), event("e1", "form_submit", 1)], NOW)
    assert once == twice


def test_caps_stop_one_action_dominating(engine: Engine) -> None:
    visits = [event(str(i), "page_view", 0, url=f"https://x.example/blog/{i}") for i in range(40)]
    assert engine.score(contact(email=None), visits, NOW).behaviour == 25


def test_unknown_actions_earn_nothing_and_are_counted(engine: Engine) -> None:
    result = engine.score(contact(), [event("e1", "podcast_listen", 1), event("e2", "podcast_listen", 2)], NOW)
    assert result.score == 0
    assert result.unmatched_actions == {"podcast_listen": 2}


def test_future_events_are_not_scored_but_counted(engine: Engine) -> None:
    result = engine.score(contact(), [event("e1", "quote_request", -2)], NOW)
    assert result.score == 0
    assert result.unmatched_actions == {"(in the future)": 1}


def test_hysteresis_keeps_a_lead_in_its_band_within_the_exit_margin(engine: Engine) -> None:
    # 30 (contact sales) + 20 (form) decayed over 2 days: just under 50
    events = [event("e1", "contact_sales", 2), event("e2", "form_submit", 2)]
    result = engine.score(contact(email=None), events, NOW)
    assert 47 <= result.score < 50
    assert result.band == "Warm"
    assert engine.score(contact(email=None), events, NOW, previous_band="MQL").band == "MQL"
    assert engine.score(contact(email=None), events, NOW, previous_band="New").band == "Warm"


def test_hysteresis_lets_go_beyond_the_margin(engine: Engine) -> None:
    result = engine.score(contact(email=None), [event("e1", "contact_sales", 0)], NOW, previous_band="MQL")
    assert result.score == 30
    assert result.band == "Warm"


def test_label_combines_grade_and_band(engine: Engine) -> None:
    result = engine.score(
        contact(seniority="vp", company_size=100, industry="software"), [event("e1", "contact_sales", 0)], NOW
    )
    assert result.label == "A-MQL"
    assert result.lifecycle_stage == "marketing_qualified"
