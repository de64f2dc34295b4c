"""Properties the engine must hold for any input, checked with hypothesis."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.engine import Engine, load_model_file, parse_model_text
from leadscore.records import Contact, Event, to_epoch_ms
from tests.conftest import DEFAULT_MODEL, NOW

ENGINE = Engine("lead", load_model_file(DEFAULT_MODEL).models["lead"])
POSITIVE_ACTIONS = [r.action for r in ENGINE.model.behaviour if r.points > 0]
ALL_ACTIONS = [*POSITIVE_ACTIONS, "unsubscribe", "hard_bounce", "podcast_listen"]

profiles = st.fixed_dictionaries(
    {},
    optional={
        "seniority": st.sampled_from(["vp", "director", "intern", "C-Level"]),
        "company_size": st.one_of(st.integers(-5, 5000), st.text(max_size=8)),
        "industry": st.sampled_from(["software", "retail", ""]),
        "region": st.sampled_from(["europe", "asia"]),
        "job_title": st.sampled_from(["Student", "CEO", "Engineer"]),
    },
)
contacts = st.builds(
    lambda email, profile: Contact("t", "c1", email, profile),
    st.sampled_from([None, "a@gmail.com", "b@acme.example", "c@competitor.example"]),
    profiles,
)
urls = st.sampled_from(["https://x.example/pricing", "https://x.example/blog/a", ""])
campaign_types = st.sampled_from(["newsletter", "promo"])


def events_of(actions: list[str]) -> st.SearchStrategy[list[Event]]:
    single = st.builds(
        lambda eid, action, age, url, ctype: Event(
            "t", f"e{eid}", "c1", action, NOW - timedelta(hours=age), {"url": url, "campaign_type": ctype}
        ),
        st.integers(0, 60),
        st.sampled_from(actions),
        st.integers(0, 24 * 120),
        urls,
        campaign_types,
    )
    return st.lists(single, max_size=25)


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS))
def test_score_stays_within_0_and_100(contact: Contact, events: list[Event]) -> None:
    assert 0 <= ENGINE.score(contact, events, NOW).score <= 100


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.sampled_from(POSITIVE_ACTIONS), st.integers(0, 24 * 120), urls)
def test_adding_a_positive_event_never_lowers_the_score(
    contact: Contact, events: list[Event], action: str, age_hours: int, url: str
) -> None:
    extra = Event("t", "new-event", "c1", action, NOW - timedelta(hours=age_hours), {"url": url})
    before = ENGINE.score(contact, events, NOW).score
    assert ENGINE.score(contact, [*events, extra], NOW).score >= before


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.integers(0, 24 * 90))
def test_moving_now_forward_never_raises_behaviour_points(contact: Contact, events: list[Event], hours: int) -> None:
    earlier = ENGINE.score(contact, events, NOW)
    later = ENGINE.score(contact, events, NOW + timedelta(hours=hours))
    assert later.behaviour <= earlier.behaviour


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.randoms(use_true_random=False))
def test_event_order_does_not_matter(contact: Contact, events: list[Event], rng: object) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert ENGINE.score(contact, shuffled, NOW) == ENGINE.score(contact, events, NOW)


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.data())
def test_a_duplicated_event_id_counts_once(contact: Contact, events: list[Event], data: st.DataObject) -> None:
    distinct = list({e.id: e for e in events}.values())
    duplicates = data.draw(st.lists(st.sampled_from(distinct), max_size=10)) if distinct else []
    assert ENGINE.score(contact, distinct + duplicates, NOW) == ENGINE.score(contact, distinct, NOW)


@settings(max_examples=200, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.randoms(use_true_random=False))
def test_conflicting_copies_of_one_id_resolve_the_same_in_any_order(
    contact: Contact, events: list[Event], rng: object
) -> None:
    conflicting = [Event(e.source, "same-id", e.contact_id, e.action, e.occurred_at, e.attributes) for e in events]
    shuffled = list(conflicting)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert ENGINE.score(contact, shuffled, NOW) == ENGINE.score(contact, conflicting, NOW)


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.randoms(use_true_random=False))
def test_store_rows_score_exactly_as_the_events_they_hold(contact: Contact, events: list[Event], rng: object) -> None:
    """The full rescore reads rows (epoch ms, attributes as JSON text, any order); the result must not change."""
    distinct = list({e.id: e for e in events}.values())
    rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), json.dumps(dict(e.attributes))) for e in distinct]
    rng.shuffle(rows)  # type: ignore[attr-defined]
    fresh = Engine("lead", ENGINE.model)
    assert fresh.score_rows(contact, rows, NOW) == ENGINE.score(contact, distinct, NOW)
    assert fresh.score_rows(contact, rows, NOW) == ENGINE.score(contact, distinct, NOW), "remembered rules agree"
    assert fresh.score_rows(contact, [(*row[:3], None) for row in rows], NOW) == ENGINE.score(
        contact, [Event(e.source, e.id, e.contact_id, e.action, e.occurred_at) for e in distinct], NOW
    ), "no stored attributes reads as none"


WINDOWED = Engine(
    "windowed",
    parse_model_text(
        """
version: 1
models:
  windowed:
    writes: {score: s, grade: g, band: b}
    fit:
      - {id: vp, field: seniority, operator: in, value: [vp, c-level], points: 20, reason: VP}
      - {id: rival, field: email_domain, operator: equals, value: competitor.example, points: -100, disqualify: true,
         reason: competitor}
    behaviour:
      - {id: pricing, action: page_view, where: [{attribute: url, operator: contains, value: /pricing}], points: 30,
         cap: 45, reason: pricing}
      - {id: visit, action: page_view, points: 4, reason: visit}
      - {id: quote, action: quote_request, points: 40, reason: quote}
      - {id: unsubscribed, action: unsubscribe, points: -15, cap: 20, reason: unsubscribed}
    decay: {window_days: 45, reset_after_days: 60}
    grades: [{name: A, min_fit: 15}, {name: D}]
    bands: [{name: New, min: 0}, {name: MQL, min: 50}, {name: SQL, min: 81}]
    fast_track: {actions: [quote_request], band: SQL, within_days: 20}
""",
        "windowed.yaml",
    ).models["windowed"],
)


@settings(max_examples=300, deadline=None)
@given(contacts, events_of(ALL_ACTIONS), st.randoms(use_true_random=False))
def test_the_fast_path_equals_the_reference_with_a_window_caps_and_a_fast_track(
    contact: Contact, events: list[Event], rng: object
) -> None:
    """The other decay branch (a window, no half-life), a capped negative rule and a fast track to the top band."""
    distinct = list({e.id: e for e in events}.values())
    rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), json.dumps(dict(e.attributes))) for e in distinct]
    rng.shuffle(rows)  # type: ignore[attr-defined]
    fresh = Engine("windowed", WINDOWED.model)
    assert fresh.score_rows(contact, rows, NOW) == WINDOWED.score(contact, distinct, NOW)


LANGUAGE = Engine("lead", load_model_file(Path(__file__).parent / "models" / "language.yaml").models["lead"])
LANGUAGE_ACTIONS = ["page_view", "content_download", "email_open", "email_click", "unsubscribe", "podcast_listen"]
typed_profiles = st.fixed_dictionaries(
    {},
    optional={
        "seats": st.one_of(st.integers(0, 200), st.sampled_from(["75", "lots", ""])),
        "trial_started": st.sampled_from(["2026-11-20", "2026-10-01", "soon", "2026-11-20T23:00:00-08:00"]),
        "is_customer": st.sampled_from([True, False, "Yes", "no", "maybe"]),
        "company_size": st.integers(0, 5000),
        "department": st.sampled_from(["it", "sales"]),
        "company.industry": st.sampled_from(["saas", "retail"]),
    },
)
typed_contacts = st.builds(
    lambda email, profile: Contact("t", "c1", email, profile),
    st.sampled_from([None, "a@acme.example", "b@rival.example"]),
    typed_profiles,
)


def language_events() -> st.SearchStrategy[list[Event]]:
    single = st.builds(
        lambda eid, action, age, url, seconds: Event(
            "t", f"e{eid}", "c1", action, NOW - timedelta(hours=age), {"url": url, "seconds": seconds}
        ),
        st.integers(0, 60),
        st.sampled_from(LANGUAGE_ACTIONS),
        st.integers(0, 24 * 40),
        st.sampled_from(["/pricing", "/blog"]),
        st.sampled_from([10, 400, "350"]),
    )
    return st.lists(single, max_size=30)


@settings(max_examples=300, deadline=None)
@given(typed_contacts, language_events(), st.randoms(use_true_random=False))
def test_the_language_is_order_free_and_the_fast_path_agrees(
    contact: Contact, events: list[Event], rng: object
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    reference = LANGUAGE.score(contact, events, NOW)
    assert LANGUAGE.score(contact, shuffled, NOW) == reference
    distinct = list({e.id: e for e in events}.values())
    rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), json.dumps(dict(e.attributes))) for e in distinct]
    rng.shuffle(rows)  # type: ignore[attr-defined]
    assert Engine("lead", LANGUAGE.model).score_rows(contact, rows, NOW) == LANGUAGE.score(contact, distinct, NOW)


@settings(max_examples=300, deadline=None)
@given(typed_contacts, language_events())
def test_a_group_total_stays_within_its_bounds_and_totals_within_their_limits(
    contact: Contact, events: list[Event]
) -> None:
    result = LANGUAGE.score(contact, events, NOW)
    model = LANGUAGE.model
    group = model.groups["email"]
    in_group = sum(c.points for c in result.contributions if c.rule_id in group.rules or c.rule_id == "email_limit")
    assert group.min is not None
    assert group.max is not None
    assert group.min - 1e-9 <= in_group <= group.max + 1e-9
    assert model.limits.fit.min is not None
    assert model.limits.fit.max is not None
    assert model.limits.fit.min <= result.fit <= model.limits.fit.max
    assert model.limits.behaviour.max is not None
    assert result.behaviour <= model.limits.behaviour.max


def repointed(engine: Engine, scale: float, shift: int, cap: float) -> Engine:
    """The same rules with other points, caps, decay, grade and band thresholds: what calibrate writes."""
    model = engine.model
    fit = tuple(rule.model_copy(update={"points": round(rule.points * scale, 1)}) for rule in model.fit)
    behaviour = tuple(
        rule.model_copy(update={"points": round(rule.points * scale - 1, 1), "cap": cap if rule.cap else None})
        for rule in model.behaviour
    )
    bands = tuple(
        band.model_copy(update={"min": min(100, band.min + shift * position)}) if position else band
        for position, band in enumerate(model.bands)
    )
    grades = tuple(
        grade.model_copy(update={"min_fit": grade.min_fit * scale}) if grade.min_fit is not None else grade
        for grade in model.grades
    )
    decay = model.decay.model_copy(update={"reset_after_days": 10 + shift})
    return Engine(engine.name, model.model_copy(update={"fit": fit, "behaviour": behaviour, "bands": bands,
                                                        "grades": grades, "decay": decay}))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    contacts,
    events_of(ALL_ACTIONS),
    st.sampled_from([ENGINE, WINDOWED]),
    st.floats(0.2, 3.0),
    st.integers(0, 6),
    st.floats(5, 80),
    st.sampled_from([None, "New", "MQL"]),
)
def test_a_repointed_model_finishes_what_the_original_found_as_it_would_score_alone(
    contact: Contact,
    events: list[Event],
    original: Engine,
    scale: float,
    shift: int,
    cap: float,
    band_on_record: str | None,
) -> None:
    """`leadscore plan` matches a contact once for a model in force and a re-pointed one; finishing the shared
    matching with the re-pointed model must give exactly its own score, grade, band and reasons."""
    distinct = list({e.id: e for e in events}.values())
    rows = [(e.id, e.action, to_epoch_ms(e.occurred_at), json.dumps(dict(e.attributes))) for e in distinct]
    variant = repointed(original, scale, shift, cap)
    assert variant.matches_like(original)
    found = original.find_rows(contact, rows, NOW)
    shared = variant.finish_found(contact, found, band_on_record)
    assert shared == Engine(variant.name, variant.model).score_rows(contact, rows, NOW, band_on_record)
    assert original.finish_found(contact, found, band_on_record) == original.score_rows(
        contact, rows, NOW, band_on_record
    )


def test_a_model_that_finds_other_rules_does_not_match_like_the_original() -> None:
    model = ENGINE.model
    first = model.behaviour[0]
    other_action = model.model_copy(
        update={"behaviour": (first.model_copy(update={"action": "podcast_listen"}), *model.behaviour[1:])}
    )
    other_window = model.model_copy(
        update={"behaviour": (first.model_copy(update={"within_days": 3.0}), *model.behaviour[1:])}
    )
    reordered = model.model_copy(update={"fit": tuple(reversed(model.fit))})
    other_value = model.model_copy(
        update={"fit": (model.fit[0].model_copy(update={"value": ["nobody"]}), *model.fit[1:])}
    )
    for changed in (other_action, other_window, reordered, other_value):
        assert not Engine("lead", changed).matches_like(ENGINE)
    assert Engine("lead", model).matches_like(ENGINE)
