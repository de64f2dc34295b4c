"""The cycle tests every platform must pass, run against each platform's sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leadscore.sync.pipeline import CycleReport, Pipeline
from tests.spec_check import SpecValidator, validator_for
from tests.sync.platforms import PLATFORMS, PlatformRig, build_rig, two_models

BANDS = ("New", "Warm", "MQL", "SQL")


@pytest.fixture(params=sorted(PLATFORMS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., PlatformRig]]:
    """Each sandbox's exchanges are validated against the vendor's spec where there is one (tests/spec_check.py):
    a request or an answer that differs from it in a way no recorded quirk explains fails the test."""
    made: list[PlatformRig] = []
    validators: list[SpecValidator] = []

    def build(
        contacts: int = 150, seed: int = 5, sandbox: dict[str, Any] | None = None, **overrides: Any
    ) -> PlatformRig:
        platform = PLATFORMS[request.param](**(sandbox or {}))
        validator = validator_for(request.param)
        if validator is not None:
            validator.attach(platform.sandbox)
            validators.append(validator)
        rig = build_rig(platform, tmp_path, f"state{len(made)}.db", contacts, seed, **overrides)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        rig.close()
    for validator in validators:
        assert not validator.unexplained, validator.report()


def band_of(rig: PlatformRig, contact_id: str) -> str:
    band = rig.platform.shown(contact_id)["band"]
    assert band in BANDS, band
    return band


def test_first_cycle_writes_every_contact_and_puts_it_in_one_band_list(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=220)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    ids = rig.platform.contact_ids()
    assert report.contacts_scored == len(ids) == 220
    for contact_id in ids:
        shown = rig.platform.shown(contact_id)
        assert shown["score"] is not None
        assert 0 <= int(shown["score"]) <= 100
        assert shown["grade"] in {"A", "B", "C", "D"}
        assert shown["reasons"]
        assert [b for b in BANDS if contact_id in rig.platform.members(b)] == [band_of(rig, contact_id)]


def test_idle_second_cycle_writes_nothing(make: Callable[..., PlatformRig]) -> None:
    """user-pain W4: our own writes come back as modified contacts; they must not be written again."""
    rig = make()
    rig.pipeline.run_cycle()
    writes = rig.platform.write_calls()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert rig.platform.write_calls() == writes
    assert sum(report.changes.values()) == 0


def test_records_re_read_after_a_write_are_not_rescored(make: Callable[..., PlatformRig]) -> None:
    """Each platform shows the moment leadscore stamped in its own form (Salesforce ``...+0000``, Brevo a bare
    date) and reports the written records as modified: the re-read is no reason to rescore them, which cost one
    scoring of the whole account and, for records whose reasons aged, a write of their own."""
    rig = make()
    rig.pipeline.run_cycle()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert report.contacts_scored == 0, f"{report.contacts_read} re-read, {report.contacts_scored} rescored"


def restarted_cycle(rig: PlatformRig, *, dry_run: bool = False) -> CycleReport:
    """A cycle of the same source and store in a new process: a connector that has made no call yet."""
    connector = rig.platform.connector()
    try:
        pipeline = Pipeline(rig.store, connector, rig.pipeline.engines, clock=rig.pipeline.clock)
        return pipeline.run_cycle(dry_run=dry_run)
    finally:
        connector.close()


def test_a_dry_run_of_an_account_in_sync_plans_nothing_and_leaves_nothing_behind(
    make: Callable[..., PlatformRig],
) -> None:
    """A dry run reads what a real run reads: on an account already in sync it plans 0 changes, and the real
    cycle after it has nothing to rewrite either (a dry run that read the account without leadscore's own
    properties used to plan a rewrite of every contact, and record those reads as what the platform shows)."""
    rig = make()
    assert rig.pipeline.run_cycle().status == "ok"
    writes = rig.platform.write_calls()
    dry = restarted_cycle(rig, dry_run=True)
    assert dry.status == "dry-run"
    assert dict(dry.changes) == {}
    after = restarted_cycle(rig)
    assert after.status == "ok"
    assert dict(after.changes) == {}
    assert rig.platform.write_calls() == writes


def test_new_engagement_rewrites_exactly_the_contacts_it_touched(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=120)
    rig.pipeline.run_cycle()
    before = {c: rig.platform.shown(c) for c in rig.platform.contact_ids()}
    chosen = [c for c in rig.platform.contact_ids() if int(before[c]["score"] or 0) < 50 and before[c]["grade"] != "D"][
        :10
    ]
    assert len(chosen) == 10
    for contact_id in chosen:
        rig.platform.high_intent(contact_id, rig.store)
    writes = rig.platform.write_calls()
    report = rig.pipeline.run_cycle()
    after = {c: rig.platform.shown(c) for c in rig.platform.contact_ids()}
    assert {c for c in after if after[c] != before[c]} == set(chosen)
    assert report.changes["set_properties"] == 10
    assert rig.platform.write_calls() - writes <= 1 + len(BANDS), "one batch, and at most one call per list"


def test_band_change_moves_the_contact_between_lists(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=80)
    rig.pipeline.run_cycle()
    low = next(
        c for c in rig.platform.contact_ids() if band_of(rig, c) == "New" and rig.platform.shown(c)["grade"] != "D"
    )
    rig.platform.high_intent(low, rig.store)
    rig.pipeline.run_cycle()
    band = band_of(rig, low)
    assert band in {"MQL", "SQL"}
    assert low in rig.platform.members(band)
    assert low not in rig.platform.members("New")


def test_hand_edited_score_is_healed_with_one_write(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=60)
    rig.pipeline.run_cycle()
    victim = rig.platform.contact_ids()[7]
    true_score = rig.platform.shown(victim)["score"]
    rig.platform.hand_edit(victim, "99")
    writes = rig.platform.write_calls()
    report = rig.pipeline.run_cycle()
    assert rig.platform.shown(victim)["score"] == true_score
    assert report.changes["set_properties"] == 1
    assert rig.platform.write_calls() == writes + 1


def test_dry_run_plans_everything_and_writes_nothing(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=40)
    report = rig.pipeline.run_cycle(dry_run=True)
    assert report.status == "dry-run"
    assert report.changes["set_properties"] == 40
    assert rig.platform.write_calls() == 0
    assert rig.store.outbox_depth(rig.platform.name) == 0
    assert rig.pipeline.run_cycle().changes["set_properties"] == 40


def test_storm_of_429_5xx_and_dropped_connections_ends_like_a_clean_run(make: Callable[..., PlatformRig]) -> None:
    clean = make(contacts=120, seed=9)
    clean.pipeline.run_cycle()
    stormy = make(contacts=120, seed=9)
    faults = stormy.platform.sandbox.faults
    faults.rate_429, faults.retry_after_seconds, faults.rate_5xx, faults.rate_drop = 0.2, 0.01, 0.1, 0.05
    faults.seed = 3
    faults.__post_init__()
    report = stormy.pipeline.run_cycle()
    assert report.status == "ok", report.error
    if stormy.platform.throttles_with_429:
        assert report.rate_limited > 0
    assert sum(n for status, n in stormy.platform.sandbox.log.statuses.items() if status >= 500) > 0
    shown = {c: stormy.platform.shown(c) for c in stormy.platform.contact_ids()}
    expected = {c: clean.platform.shown(c) for c in clean.platform.contact_ids()}
    assert sorted(shown.values(), key=str) == sorted(expected.values(), key=str)


def test_html_pages_answered_200_are_retried_and_the_cycle_ends_like_a_clean_run(
    make: Callable[..., PlatformRig],
) -> None:
    """Issue 13, item 8: a proxy's or an outage page's HTML with status 200 is a retryable error, not a crash."""
    clean = make(contacts=80, seed=4)
    clean.pipeline.run_cycle()
    garbled = make(contacts=80, seed=4)
    faults = garbled.platform.sandbox.faults
    faults.rate_html, faults.seed = 0.1, 5
    faults.__post_init__()
    report = garbled.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert garbled.platform.sandbox.log.html_pages > 0
    shown = {c: garbled.platform.shown(c) for c in garbled.platform.contact_ids()}
    expected = {c: clean.platform.shown(c) for c in clean.platform.contact_ids()}
    assert sorted(shown.values(), key=str) == sorted(expected.values(), key=str)


def test_a_platform_that_answers_only_html_fails_the_cycle_with_a_clear_message(
    make: Callable[..., PlatformRig],
) -> None:
    rig = make(contacts=10, limits={"max_attempts": 2, "max_wait_seconds": 0.01})
    rig.platform.sandbox.faults.rate_html = 1.0
    with pytest.raises(Exception, match="JSON"):
        rig.pipeline.run_cycle()
    assert rig.pipeline.last_report is not None
    assert rig.pipeline.last_report.status == "failed"


def test_the_outbox_is_empty_and_every_change_acknowledged_after_a_cycle(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=90)
    report = rig.pipeline.run_cycle()
    assert rig.store.outbox_depth(rig.platform.name) == 0
    assert report.applied == sum(report.changes.values())


def test_bad_data_from_the_api_is_reported_and_the_sync_goes_on(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=20)
    nameless, sizeless = rig.platform.add_odd()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert any(p.record_id == nameless and p.field.lower() == "email" for p in report.problems), report.problems
    assert any(p.record_id == sizeless and "'lots' is not a number" in p.problem for p in report.problems)
    for contact_id in (nameless, sizeless):
        assert rig.platform.shown(contact_id)["score"] is not None, "scored without the odd field"


FIELD_RULES = """    fields:
      seats: {type: number}
      company.industry: {type: text}
    fit:
      - {id: big_team, field: seats, operator: at_least, value: 50, points: 40, reason: 50+ seats}
      - {id: software_company, field: company.industry, operator: in, value: [software, saas], points: 35,
         reason: software company}
"""


COMPANY_READS = {"hubspot": 1, "brevo": 1, "salesforce": 0}
"""HubSpot: one batch read of the page's primary companies; Brevo: one page of the companies list; Salesforce:
none, the Account's fields come in the contacts' own query."""


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_a_custom_field_and_a_company_field_score_on_every_platform(name: str, tmp_path: Path) -> None:
    """A model field fed by a custom contact field and one by the associated company (HubSpot's primary company,
    Salesforce's Account, Brevo's linked company), read with no call per contact; an unreadable value is a problem
    in the run report and earns nothing."""
    from tests.conftest import DEFAULT_MODEL

    model = tmp_path / "fields.yaml"
    model.write_text(DEFAULT_MODEL.read_text(encoding="utf-8").replace("    fit:\n", FIELD_RULES, 1), encoding="utf-8")
    platform = PLATFORMS[name]()
    rig = build_rig(platform, tmp_path, "state.db", 30, 5, model=model, **platform.field_mapping())
    try:
        fitting = platform.add_with_fields("big@firm.example", "120", "SaaS")
        unreadable = platform.add_with_fields("odd@shop.example", "lots", "retail")
        report = rig.pipeline.run_cycle()
        assert report.status == "ok", report
        shown = platform.shown(fitting)
        assert shown["score"] == "75"
        assert shown["reasons"] == "+40 50+ seats · +35 software company"
        assert platform.shown(unreadable)["score"] == "0"
        assert any(p.record_id == unreadable and p.field == "seats" for p in report.problems), report.problems
        company_reads = {name: count for name, count in platform.sandbox.log.calls.items() if "compan" in name.lower()}
        assert sum(company_reads.values()) == COMPANY_READS[name], f"one read for all companies: {company_reads}"
    finally:
        rig.close()


LARGE_CHANGE_SETS = {
    "hubspot": ({}, None),
    "brevo": (
        {"limits": {"import_threshold": 5, "process_poll_seconds": 0, "max_wait_seconds": 0.2}},
        "POST /v3/contacts/import",
    ),
    "salesforce": ({"limits": {"bulk_threshold": 5, "bulk_poll_seconds": 0}}, "POST /services/data/v59.0/jobs/ingest"),
}
"""Overrides that send a change-set of a few records the way a very large one goes, and the call that path makes
(Brevo's imports, Salesforce's Bulk API); HubSpot has one path."""


@pytest.mark.parametrize("large", [False, True], ids=["batches", "bulk"])
@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_two_models_put_every_record_in_a_band_list_of_each(tmp_path: Path, name: str, large: bool) -> None:
    """Each model writes its own properties and keeps its own band lists; what a cycle acknowledges is what the
    platform shows, so the next cycle changes nothing."""
    platform = PLATFORMS[name]()
    overrides, large_call = LARGE_CHANGE_SETS[name] if large else ({}, None)
    if name == "salesforce":
        overrides = {**overrides, "manage_fields": True}
    rig = build_rig(platform, tmp_path, "state.db", 60, 6, model=two_models(tmp_path), **overrides)
    try:
        first = rig.pipeline.run_cycle()
        assert first.status == "ok", first.error
        again = rig.pipeline.run_cycle()
        members = {model: [platform.members(band, model) for band in BANDS] for model in ("lead", "partner")}
        calls = dict(platform.sandbox.log.calls)
    finally:
        rig.close()
    assert large_call is None or calls.get(large_call, 0) >= 1, f"the large path ({large_call}) was taken"
    assert again.changes == {}, "what was acknowledged is what the platform shows"
    ids = set(platform.contact_ids())
    for model, lists in members.items():
        assert sorted(m for band in lists for m in band) == sorted(ids), f"every record in one {model} band list"
