"""Assembling a person from records of several sources: identity keys, profile precedence, folded actions,
and the same result whichever record is scored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadscore.engine import Engine, load_model_file, reasons_text
from leadscore.errors import ConfigError
from leadscore.people import LinkedRecord, PeopleScope, assemble, identity_key, load_people
from leadscore.people.config import Fold
from leadscore.records import Contact, EventRow
from leadscore.settings import load_people_scope, load_sources
from tests.conftest import DEFAULT_MODEL, NOW

NOW_MS = int(NOW.timestamp() * 1000)
SCOPE = PeopleScope(
    sources=("salesforce-main", "hubspot-main", "brevo-main"),
    precedence={"job_title": ("salesforce-main", "hubspot-main")},
    labels={"brevo-main": "Brevo", "hubspot-main": "HubSpot", "salesforce-main": "Salesforce"},
)


def record(
    source: str, contact_id: str, age_hours: float, events: Sequence[EventRow] = (), **profile: object
) -> LinkedRecord:
    return LinkedRecord(source, contact_id, "ann@acme.example", profile, NOW - timedelta(hours=age_hours), events)


def row(event_id: str, action: str, minutes_ago: float, **attributes: object) -> EventRow:
    return (event_id, action, NOW_MS - int(minutes_ago * 60_000), json.dumps(attributes) if attributes else None)


def scored(r: LinkedRecord) -> Contact:
    return Contact(r.source, r.contact_id, r.email, r.profile)


def test_identity_keys_fold_plus_addressing_only_when_asked() -> None:
    assert identity_key("  Ann+News@Acme.Example ") == "ann+news@acme.example"
    assert identity_key("Ann+News@Acme.Example", fold_plus_addressing=True) == "ann@acme.example"
    assert identity_key("+only@acme.example", fold_plus_addressing=True) == "+only@acme.example"
    assert identity_key("not-an-email", fold_plus_addressing=True) is None
    assert identity_key(None) is None


def test_a_listed_field_comes_from_the_first_source_with_a_value_and_others_from_the_newest_record() -> None:
    salesforce = record("salesforce-main", "00Q1", 48, job_title="VP Marketing", industry="retail")
    hubspot = record("hubspot-main", "101", 1, job_title="Marketing intern", industry="software", country="")
    brevo = record("brevo-main", "7", 5, country="France", job_title="   ")
    view = assemble(scored(brevo), [brevo, hubspot, salesforce], SCOPE)
    assert view.contact.profile["job_title"] == "VP Marketing"
    assert view.profile_sources["job_title"] == "salesforce-main"
    assert view.contact.profile["industry"] == "software", "not listed: the most recently updated record has it"
    assert view.profile_sources["industry"] == "hubspot-main"
    assert view.contact.profile["country"] == "France", "an empty value is no value; the next record's counts"
    assert view.contact.id == "7"
    assert view.contact.source == "brevo-main"


def test_a_listed_field_no_listed_source_has_falls_back_to_the_newest_record_with_a_value() -> None:
    salesforce = record("salesforce-main", "00Q1", 48)
    brevo = record("brevo-main", "7", 5, job_title="Founder")
    view = assemble(scored(salesforce), [salesforce, brevo], SCOPE)
    assert view.contact.profile["job_title"] == "Founder"
    assert view.profile_sources == {"job_title": "brevo-main"}


def test_every_record_scores_the_same_person_whichever_is_scored() -> None:
    engine = Engine("lead", load_model_file(DEFAULT_MODEL).models["lead"])
    records = [
        record("salesforce-main", "00Q1", 48, [row("t1", "demo_request", 60 * 24)], seniority="vp"),
        record("hubspot-main", "101", 1, [row("w1", "page_view", 30, url="https://x.example/pricing")]),
        record("brevo-main", "7", 5, [row("c1", "email_click", 10), row("o1", "email_open", 11)]),
    ]
    results = []
    for primary in records:
        view = assemble(scored(primary), list(reversed(records)), SCOPE)
        result = engine.score_rows(view.contact, view.rows, NOW)
        result = engine.with_sources(result, view.rows, [SCOPE.label(s) for s in view.row_sources], NOW)
        results.append((result.score, result.grade, result.band, result.contributions))
    assert results[0] == results[1] == results[2]
    alone = engine.score_rows(scored(records[0]), records[0].events, NOW)
    assert results[0][0] > alone.score, "the person's score counts every platform's engagement"
    sources = {c.rule_id: c.sources for c in results[0][3] if c.kind == "behaviour"}
    assert ("Brevo",) in sources.values()
    assert ("Salesforce",) in sources.values()


def test_reasons_name_the_source_of_each_contribution() -> None:
    engine = Engine("lead", load_model_file(DEFAULT_MODEL).models["lead"])
    brevo = record("brevo-main", "7", 5, [row("c1", "email_click", 60 * 48)])
    salesforce = record("salesforce-main", "00Q1", 48, [row("t1", "demo_request", 60)])
    view = assemble(scored(salesforce), [salesforce, brevo], SCOPE)
    result = engine.with_sources(
        engine.score_rows(view.contact, view.rows, NOW), view.rows, [SCOPE.label(s) for s in view.row_sources], NOW
    )
    text = reasons_text(result, NOW, 5)
    assert "(Brevo, 2d)" in text, text
    assert "(Salesforce, 0d)" in text, text


def test_one_action_reported_by_two_platforms_counts_once_within_the_fold_window() -> None:
    scope = PeopleScope(
        sources=("hubspot-main", "brevo-main"),
        folds=(Fold(frozenset({"email_click"}), 10 * 60_000, ("url",)),),
    )
    brevo = record(
        "brevo-main", "7", 5, [row("b1", "email_click", 30, url="/pricing"), row("b2", "email_click", 5, url="/blog")]
    )
    hubspot = record(
        "hubspot-main",
        "101",
        1,
        [
            row("h1", "email_click", 28, url="/pricing"),  # Brevo's b1, seen by HubSpot two minutes later: folded
            row("h2", "email_click", 4, url="/pricing"),  # another URL than b2: kept
            row("h3", "email_click", 200, url="/pricing"),  # long before: kept
        ],
    )
    view = assemble(scored(hubspot), [hubspot, brevo], scope)
    assert view.folded == 1
    assert sorted(r[0] for r in view.rows) == ["b1", "b2", "h2", "h3"]
    same_source = record("hubspot-main", "102", 1, [row("h9", "email_click", 29, url="/pricing")])
    twice = assemble(scored(hubspot), [hubspot, same_source], scope)
    assert twice.folded == 0, "two clicks in one platform are two clicks"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_people_section_is_checked_against_the_sources(tmp_path: Path) -> None:
    names = ["hubspot-main", "brevo-main"]
    assert load_people(write(tmp_path, "sources: []\n"), names) is None
    scope = load_people(
        write(tmp_path, "people: {sources: [hubspot-main, brevo-main], profile_precedence: {job_title: [brevo-main]}}"),
        names,
        {"brevo-main": "Brevo", "other": "x"},
    )
    assert scope is not None
    assert scope.sources == ("hubspot-main", "brevo-main")
    assert scope.labels == {"brevo-main": "Brevo"}
    assert scope.first_pull_wait == timedelta(minutes=30), "the default"
    patient = load_people(
        write(tmp_path, "people: {sources: [hubspot-main, brevo-main], first_pull_wait_minutes: 0}"), names
    )
    assert patient is not None
    assert patient.first_pull_wait == timedelta(0)
    problems = {
        "people: {sources: [hubspot-main, brevo-main], first_pull_wait_minutes: -5}": (
            "people.first_pull_wait_minutes: Input should be greater than or equal to 0"
        ),
        "people: {sources: [hubspot-main, salesforce-x]}": "people.sources names salesforce-x",
        "people: {sources: [hubspot-main, hubspot-main]}": "lists hubspot-main twice",
        "people: {sources: [hubspot-main, brevo-main], profile_precedence: {job_title: [salesforce-x]}}": (
            "people.profile_precedence.job_title names salesforce-x"
        ),
        "people: {sources: [hubspot-main]}": "people.sources",
        "people: {sources: [hubspot-main, brevo-main], same_action: [{actions: [email_click]}]}": (
            "people.same_action.0.within_seconds"
        ),
        "people: {sources: [hubspot-main, brevo-main], fold: yes}": "people.fold",
    }
    for text, expected in problems.items():
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as caught:
            load_people(path, names)
        assert str(path) in str(caught.value)
        assert expected in str(caught.value), str(caught.value)


def test_a_change_of_group_changes_its_fingerprint() -> None:
    base = PeopleScope(sources=("a", "b"))
    assert base.fingerprint() == PeopleScope(sources=("b", "a")).fingerprint()
    assert base.fingerprint() != PeopleScope(sources=("a", "b", "c")).fingerprint()
    assert base.fingerprint() != PeopleScope(sources=("a", "b"), precedence={"job_title": ("a",)}).fingerprint()
    assert base.fingerprint() != PeopleScope(sources=("a", "b"), fold_plus_addressing=True).fingerprint()


def test_records_are_ordered_by_their_own_rule_not_the_order_read() -> None:
    early = LinkedRecord("hubspot-main", "1", None, {"industry": "retail"}, datetime(2026, 1, 1, tzinfo=UTC))
    late = LinkedRecord("brevo-main", "2", None, {"industry": "software"}, datetime(2026, 2, 1, tzinfo=UTC))
    for order in ([early, late], [late, early]):
        assert assemble(scored(early), order, SCOPE).contact.profile["industry"] == "software"


def test_the_example_sources_file_s_people_group_loads_when_uncommented(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "sources.example.yaml").read_text(encoding="utf-8")
    uncommented = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") else line for line in text.splitlines()
    )
    uncommented = "\n".join(
        line[2:] if line.startswith(("# people:", "#   ")) else line for line in uncommented.splitlines()
    )
    path = write(tmp_path, uncommented)
    sources = load_sources(path)
    scope = load_people_scope(path, sources)
    assert scope is not None
    assert set(scope.sources) == {"hubspot-main", "salesforce-main", "brevo-main"}
    assert scope.label("brevo-main") == "Brevo"
    assert scope.folds[0].within_ms == 600_000
