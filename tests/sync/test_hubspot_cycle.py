"""Whole sync cycles against the HubSpot sandbox over real HTTP (issue 3's cycle tests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from leadscore.connectors.hubspot.mapping import HubSpotMapping
from leadscore.connectors.mapping import load_mapping
from leadscore.errors import LeaseLostError
from leadscore.protocol import Outcome, PendingChange
from leadscore.records import SET_PROPERTIES, Change
from leadscore_sandbox.hubspot_seed import PROMO_CAMPAIGN
from tests.spec_check import validator_for
from tests.sync.conftest import MAPPING, NOW_MS, Rig, portal_state
from tests.sync.platforms import stop_after_saved_pages

WEB_CALLS, EMAIL_CALLS = "GET /events/v3/events", "GET /email/public/v1/events"


def band_list(rig: Rig, band: str) -> set[int]:
    found = rig.sandbox.list_named(f"leadscore lead - {band}")
    assert found is not None
    return found.members


def test_first_cycle_writes_every_contact_score_and_list(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=250)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    live = rig.sandbox.live_contacts()
    assert len(live) == 250
    for contact in live:
        assert contact.properties["leadscore_score"] is not None
        assert contact.properties["leadscore_grade"] in {"A", "B", "C", "D"}
        band = contact.properties["leadscore_band"]
        assert contact.id in band_list(rig, str(band))
    members = [m for lst in rig.sandbox.lists.values() for m in lst.members]
    assert sorted(members) == sorted(c.id for c in live)
    assert report.applied == report.changes["set_properties"] + report.changes["list_add"]


def test_idle_second_cycle_makes_zero_write_calls(make_rig: Callable[..., Rig]) -> None:
    """user-pain W4: our own writes come back as changes; they must not be written again."""
    rig = make_rig()
    rig.pipeline.run_cycle()
    writes = rig.writes()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert rig.writes() == writes
    assert sum(report.changes.values()) == 0


def test_new_engagement_for_ten_contacts_writes_exactly_those(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=150)
    rig.pipeline.run_cycle()
    before = portal_state(rig.sandbox)
    chosen = [
        c.id
        for c in rig.sandbox.live_contacts()
        if "competitor" not in str(c.properties.get("email")) and int(str(c.properties["leadscore_score"])) < 60
    ][:10]
    assert len(chosen) == 10
    for contact_id in chosen:
        rig.sandbox.add_web_event(contact_id, "e_submitted_form", NOW_MS - 3600_000, hs_form_id="quote-request-2")
    updates_before = rig.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"]
    report = rig.pipeline.run_cycle()
    after = portal_state(rig.sandbox)
    changed = {cid for cid in after["contacts"] if after["contacts"][cid] != before["contacts"][cid]}
    assert changed == set(chosen)
    assert rig.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"] == updates_before + 1
    assert report.changes["set_properties"] == 10


def test_band_change_moves_the_contact_between_lists(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=80)
    rig.pipeline.run_cycle()
    low = next(
        c
        for c in rig.sandbox.live_contacts()
        if c.properties["leadscore_band"] == "New" and "competitor" not in str(c.properties.get("email"))
    )
    for number in range(4):
        rig.sandbox.add_web_event(low.id, "e_submitted_form", NOW_MS - number * 1000, hs_form_id=f"quote-{number}")
        rig.sandbox.add_web_event(
            low.id, "e_visited_page", NOW_MS - number * 1000, hs_url=f"https://www.example.com/pricing?{number}"
        )
    rig.pipeline.run_cycle()
    assert low.properties["leadscore_band"] == "SQL"
    assert low.id in band_list(rig, "SQL")
    assert low.id not in band_list(rig, "New")


def test_hand_edited_score_is_healed_on_the_next_cycle(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=60)
    rig.pipeline.run_cycle()
    victim = rig.sandbox.live_contacts()[7]
    true_score = victim.properties["leadscore_score"]
    rig.sandbox.touch(victim.id, leadscore_score="99", leadscore_grade="A")
    updates = rig.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"]
    report = rig.pipeline.run_cycle()
    assert victim.properties["leadscore_score"] == true_score
    assert rig.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"] == updates + 1
    assert report.changes["set_properties"] == 1


def test_dry_run_prints_a_plan_and_writes_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=40)
    report = rig.pipeline.run_cycle(dry_run=True)
    assert report.status == "dry-run"
    assert report.changes["set_properties"] == 40
    assert report.sample
    assert rig.writes() == 0
    assert not rig.sandbox.lists
    assert rig.store.outbox_depth("hubspot") == 0
    real = rig.pipeline.run_cycle()
    assert real.changes["set_properties"] == 40


def test_email_events_resolve_recipients_and_newsletter_clicks_score_more(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=3, seed=11)
    target = next(c for c in rig.sandbox.live_contacts() if c.properties.get("email"))
    email = str(target.properties["email"])
    rig.sandbox.web_events.clear()
    rig.sandbox.email_events.clear()
    rig.sandbox.add_email_event(email, "CLICK", NOW_MS - 1000, PROMO_CAMPAIGN)
    rig.sandbox.add_email_event(email.upper(), "CLICK", NOW_MS - 2000, 1001)
    rig.sandbox.add_email_event("stranger@nowhere.example", "OPEN", NOW_MS - 2000, 1001)
    report = rig.pipeline.run_cycle()
    assert report.events_unresolved == 1
    assert "+15 newsletter click" in str(target.properties["leadscore_reasons"])
    [[(_, events)]] = [
        [(c, e) for c, e in page if c.id == str(target.id)]
        for page in rig.store.contacts_with_events("hubspot")
        if any(c.id == str(target.id) for c, _ in page)
    ]
    clicks = sorted(
        (action, json.loads(attributes or "{}").get("campaign_type", "")) for _, action, _, attributes in events
    )
    assert clicks == [("email_click", ""), ("email_click", "newsletter")]


def small_email_pages(rig: Rig) -> Rig:
    """Email events come 1,000 a page; a few hundred contacts hold one page, so read them 50 at a time."""
    client = rig.connector.client
    client.limits = client.limits.model_copy(update={"email_events_page": 50})
    return rig


@pytest.mark.parametrize(("stream", "endpoint"), [("web_events", WEB_CALLS), ("email_events", EMAIL_CALLS)])
def test_an_event_stream_interrupted_after_page_k_resumes_at_page_k_plus_one(
    make_rig: Callable[..., Rig], stream: str, endpoint: str
) -> None:
    """Each page's cursor is committed with the page, mid-stream too: a cycle stopped (SIGTERM, a crash) after page
    k of n reads n - k pages next time, not all n again, and the store ends as after one clean cycle."""
    clean = small_email_pages(make_rig(contacts=400))
    clean.pipeline.run_cycle()
    pages = clean.sandbox.log.calls[endpoint]
    assert pages >= 4, "the stream must span several pages for this test to mean anything"

    rig = small_email_pages(make_rig(contacts=400))
    k = pages // 2
    restore = stop_after_saved_pages(rig.pipeline, rig.store, stream, k)
    assert rig.pipeline.run_cycle().status == "interrupted"
    first = rig.sandbox.log.calls[endpoint]
    restore()
    rig.pipeline.stop.clear()
    assert rig.pipeline.run_cycle().status == "ok"
    assert rig.sandbox.log.calls[endpoint] - first == pages - k
    assert rig.store.count("events", "hubspot") == clean.store.count("events", "hubspot")
    assert portal_state(rig.sandbox) == portal_state(clean.sandbox)


def test_an_idle_cycle_re_reads_no_contact_stamped_at_the_last_millisecond(make_rig: Callable[..., Rig]) -> None:
    """issue 13, item 15: the saved position dropped the last id, so every cycle re-read (and re-queued) the
    contacts modified at its last millisecond; 19 of 20,000 on an idle portal."""
    rig = make_rig(contacts=30)
    rig.pipeline.run_cycle()
    rig.pipeline.run_cycle()
    stamp = NOW_MS + 10_000_000
    tied = sorted(rig.sandbox.contacts)[:5]
    for contact_id in tied:
        rig.sandbox.touch(contact_id, stamp, jobtitle="VP Sales")
    assert rig.pipeline.run_cycle().contacts_read >= len(tied)
    idle = rig.pipeline.run_cycle()
    assert idle.contacts_read == 0, f"{idle.contacts_read} contacts re-read by an idle cycle"
    rig.sandbox.touch(tied[0], stamp + 1, jobtitle="CEO")
    assert rig.pipeline.run_cycle().contacts_read == 1, "a later change is still read"


def test_a_portal_without_the_web_events_api_still_syncs_and_says_so_once(make_rig: Callable[..., Rig]) -> None:
    """issue 14, divergence 3: /events/v3/events needs Enterprise; its 403 failed the whole cycle after storing
    contacts, scoring and writing nothing."""
    rig = make_rig(contacts=60)
    rig.sandbox.tier = "professional"
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert "web_events" in report.streams_off
    assert "Enterprise" in report.streams_off["web_events"]
    assert report.contacts_scored == 60
    assert rig.writes() >= 1, "scores were written"
    assert report.events_new > 0, "the email events stream still ran"
    refused = rig.sandbox.log.statuses[403]
    again = rig.pipeline.run_cycle()
    assert again.status == "ok"
    assert "web_events" in again.streams_off
    assert rig.sandbox.log.statuses[403] == refused, "a refused stream is not asked again within a day"


def test_a_mapping_setting_turns_a_stream_off(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=30)
    rig.connector.mapping = load_mapping("hubspot", HubSpotMapping, {**MAPPING, "disabled_streams": ["web_events"]})
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert rig.sandbox.log.calls["GET /events/v3/events"] == 0
    assert report.streams_off == {}


def title_of(rig: Rig, contact_id: int) -> Any:
    return rig.store.records_of("hubspot", str(contact_id))[0].record.profile.get("job_title")


def test_a_contact_indexed_late_by_search_is_still_read(make_rig: Callable[..., Rig]) -> None:
    """issue 14, divergence 2: search's index lags; a contact modified before one already read, but indexed after
    it, fell behind the cursor and was never read."""
    rig = make_rig(contacts=40)
    moment = [NOW_MS]
    rig.sandbox.clock_ms = lambda: moment[0]
    assert rig.pipeline.run_cycle().status == "ok"
    late, prompt = 3, 4
    moment[0] += 60_000
    rig.sandbox.touch(late, jobtitle="Chief Executive Officer")
    rig.sandbox.index_lag_ms[late] = 90_000
    moment[0] += 1_000
    rig.sandbox.touch(prompt, jobtitle="Chief Financial Officer")
    moment[0] += 2_000
    assert rig.pipeline.run_cycle().status == "ok"
    assert title_of(rig, prompt) == "Chief Financial Officer"
    assert title_of(rig, late) != "Chief Executive Officer"
    moment[0] += 120_000
    for _ in range(3):
        assert rig.pipeline.run_cycle().status == "ok"
    assert title_of(rig, late) == "Chief Executive Officer"
    idle = rig.pipeline.run_cycle()
    assert idle.contacts_read == 0, "records re-read in the look-back window are not handed on again"


def test_a_record_re_read_only_because_leadscore_wrote_it_is_not_rescored(make_rig: Callable[..., Rig]) -> None:
    """HubSpot reports every contact leadscore wrote as modified, so the cycle after a write re-read them all and
    rescored every one for nothing (a 100,000-contact account: 100,000 rescores per cycle with no new data). A hand
    edit of leadscore's property, or a changed profile, still brings its record back to scoring."""
    rig = make_rig(contacts=80)
    assert rig.pipeline.run_cycle().contacts_scored == 80
    again = rig.pipeline.run_cycle()
    assert again.contacts_read == 80, "the platform reports the written records as modified"
    assert again.contacts_scored == 0
    edited, retitled = (c.id for c in rig.sandbox.live_contacts()[:2])
    rig.sandbox.touch(edited, leadscore_score="99")
    rig.sandbox.touch(retitled, jobtitle="Chief Executive Officer")
    third = rig.pipeline.run_cycle()
    assert third.contacts_read == 2
    assert third.contacts_scored == 2
    assert rig.sandbox.contacts[edited].properties["leadscore_score"] != "99", "the hand edit is healed"


def test_a_re_read_of_most_of_the_portal_goes_by_the_list_endpoint(make_rig: Callable[..., Rig]) -> None:
    """HubSpot reports every record leadscore wrote as modified, and search reads 200 a page at 5 pages a second:
    after a first round wrote 100,000 records, the next cycle spent 120 s on 500 searches where the list
    endpoint's 1,000 pages take 53 s at 190 calls per 10 s. A re-read of most of the portal now goes by the list
    endpoint; a record edited meanwhile is read and rescored, and later small changes go by search again."""
    rig = make_rig(contacts=300)
    validator = validator_for("hubspot")
    if validator is not None:
        validator.attach(rig.sandbox)
    moment = [NOW_MS]
    rig.sandbox.clock_ms = lambda: moment[0]
    rig.connector._clock_ms = lambda: moment[0]
    limits = {"relist_from_records": 100}
    rig.connector.mapping = load_mapping("hubspot", HubSpotMapping, {**MAPPING, "limits": limits})
    assert rig.pipeline.run_cycle().contacts_scored == 300
    moment[0] += 600_000
    edited = sorted(rig.sandbox.contacts)[7]
    rig.sandbox.touch(edited, jobtitle="Chief Executive Officer")
    calls = rig.sandbox.log.calls
    listed, searched = calls["GET /crm/v3/objects/contacts"], calls["POST /crm/v3/objects/contacts/search"]
    moment[0] += 1_000
    again = rig.pipeline.run_cycle()
    assert again.status == "ok", again.error
    assert again.contacts_read == 300
    assert again.contacts_scored == 1
    assert title_of(rig, edited) == "Chief Executive Officer"
    assert calls["GET /crm/v3/objects/contacts"] - listed == 3, "the portal in pages of 100"
    assert calls["POST /crm/v3/objects/contacts/search"] - searched == 2, "one to count the changes, one the portal"
    moment[0] += 600_000
    retitled = sorted(rig.sandbox.contacts)[8]
    rig.sandbox.touch(retitled, jobtitle="Chief Financial Officer")
    listed = calls["GET /crm/v3/objects/contacts"]
    moment[0] += 1_000
    later = rig.pipeline.run_cycle()
    assert later.status == "ok", later.error
    assert title_of(rig, retitled) == "Chief Financial Officer"
    assert later.contacts_read < 10
    assert calls["GET /crm/v3/objects/contacts"] == listed, "a small change is read by search"
    assert validator is None or not validator.unexplained, validator.report()


def test_batch_updates_travel_a_few_at_a_time_and_are_saved_in_order(make_rig: Callable[..., Rig]) -> None:
    """One update at a time, each answered and saved before the next, falls behind HubSpot's pace as soon as a
    round trip and a save take longer than the pace allows a call (52 ms at 190 per 10 s)."""
    rig = make_rig(contacts=1_000)
    rig.connector.ensure_targets()
    rig.sandbox.faults.latency_seconds = 0.05
    entries = one_update_each(rig)
    saved: list[list[int]] = []
    outcomes = rig.connector.apply(entries, lambda answered: saved.append([o.key for o in answered]))
    assert rig.sandbox.log.most_in_flight["POST /crm/v3/objects/contacts/batch/update"] == 3
    assert saved == [list(range(n, n + 100)) for n in range(0, 1_000, 100)], "in order"
    assert sorted(o.key for o in outcomes if o.status == "ok") == list(range(1_000))
    assert all(c.properties["leadscore_score"] == "1" for c in rig.sandbox.live_contacts())


def one_update_each(rig: Rig) -> list[PendingChange]:
    return [
        PendingChange(n, Change("hubspot", str(contact.id), SET_PROPERTIES, {"leadscore_score": "1"}))
        for n, contact in enumerate(rig.sandbox.live_contacts())
    ]


def test_a_write_stopped_midway_sends_no_more_than_the_calls_already_in_flight(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=1_000)
    rig.sandbox.faults.latency_seconds = 0.02
    rig.connector.ensure_targets()
    entries = one_update_each(rig)
    taken: list[int] = []

    def stop_after_the_first(outcomes: Sequence[Outcome]) -> None:
        taken.append(len(outcomes))
        raise LeaseLostError("hubspot", "its session ended")

    with pytest.raises(LeaseLostError):
        rig.connector.apply(entries, stop_after_the_first)
    assert taken == [100]
    assert rig.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"] <= 3, "the first and those in flight"
