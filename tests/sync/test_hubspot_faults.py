"""Failure modes from ../shared/research/user-pain.md, against the HubSpot sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.client import OAuthApp
from leadscore.errors import AuthError, ConfigError, RetryableError
from leadscore_sandbox.hubspot import HubSpotSandbox, Limits
from tests.conftest import TARGETS
from tests.sync.conftest import NOW, NOW_MS, Rig, portal_state


def test_hubspot_identical_timestamps_beyond_cap_make_progress(make_rig: Callable[..., Rig]) -> None:
    """R1/R2: 20,500 contacts modified in the same millisecond are all pulled, each once."""
    rig = make_rig(contacts=0)
    rig.store.set_cursor("hubspot", "contacts", {"ts": NOW_MS - 1000, "after_id": None})
    for number in range(20_500):
        rig.sandbox.add_contact({"email": f"p{number}@acme.example"}, modified_ms=NOW_MS)
    read: list[str] = []
    for page in rig.connector.read_contacts(rig.store.cursor("hubspot", "contacts")):
        read.extend(c.id for c in page.contacts)
    assert len(read) == 20_500
    assert len(set(read)) == 20_500
    searches = rig.sandbox.log.calls["POST /crm/v3/objects/contacts/search"]
    assert searches <= -(-20_500 // 200) + 3, (
        "one search per page of 200, plus the queries that open and close the tie pass"
    )


def test_cursor_ties_at_page_and_cycle_boundaries_lose_nothing(make_rig: Callable[..., Rig]) -> None:
    """R3: ties at a page edge are neither skipped nor doubled; the next cycle resumes after them."""
    rig = make_rig(contacts=0)
    rig.store.set_cursor("hubspot", "contacts", {"ts": NOW_MS - 10_000, "after_id": None})
    for number in range(450):
        rig.sandbox.add_contact({"email": f"p{number}@acme.example"}, modified_ms=NOW_MS - 5000 + number // 150)
    first = [
        c.id for page in rig.connector.read_contacts(rig.store.cursor("hubspot", "contacts")) for c in page.contacts
    ]
    assert sorted(first, key=int) == [str(i) for i in range(1, 451)]
    rig.pipeline.run_cycle()
    late = rig.sandbox.add_contact({"email": "late@acme.example"}, modified_ms=NOW_MS + 5)
    report = rig.pipeline.run_cycle()
    assert str(late) in {c.contact_id for c, _ in rig.store.top_scores("hubspot", "lead", 1000)}
    assert report.contacts_read >= 1


def test_storm_of_429_5xx_and_dropped_connections_ends_like_a_clean_run(make_rig: Callable[..., Rig]) -> None:
    """L1/L2/L7: every write retried safely; the portal ends exactly as after a clean run."""
    clean = make_rig(contacts=220, seed=9)
    clean.pipeline.run_cycle()
    stormy = make_rig(contacts=220, seed=9)
    stormy.sandbox.faults.rate_429 = 0.3
    stormy.sandbox.faults.retry_after_seconds = 0.05
    stormy.sandbox.faults.rate_5xx = 0.1
    stormy.sandbox.faults.rate_drop = 0.05
    stormy.sandbox.faults.seed = 4
    stormy.sandbox.faults.__post_init__()
    report = stormy.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.rate_limited > 0
    assert portal_state(stormy.sandbox) == portal_state(clean.sandbox)
    assert stormy.sandbox.log.early_retries == 0
    assert stormy.store.outbox_depth("hubspot") == 0


def test_budget_is_paced_before_a_429_not_after(make_rig: Callable[..., Rig]) -> None:
    """L2: with a ten-second budget of 20 calls on both sides, leadscore waits for room instead of hitting 429s."""
    rig = make_rig(contacts=120, limits=Limits(per_ten_seconds=20, search_per_second=100))
    rig.connector.client.budget.windows["general"].limit = 20
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert sum(report.api_calls.values()) > 20
    assert rig.connector.client.budget.waited > 0
    assert rig.sandbox.log.statuses[429] == 0


def test_daily_budget_stops_politely_and_resumes(make_rig: Callable[..., Rig]) -> None:
    """L3/L4: when the daily budget nears the reserve, the cycle pauses; nothing is sent past it or lost."""
    rig = make_rig(contacts=300, limits=Limits(per_ten_seconds=100_000, search_per_second=100_000, daily=1000))
    rig.sandbox.set_daily_used(1000 - 60)
    report = rig.pipeline.run_cycle()
    assert report.status == "paused"
    assert "daily" in (report.error or "").lower()
    assert rig.sandbox.log.early_retries == 0
    rig.sandbox.set_daily_used(0)
    rig.connector.client.usage.daily_remaining = None
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert all(c.properties.get("leadscore_score") is not None for c in rig.sandbox.live_contacts())


def test_poison_record_is_isolated_and_rest_of_batch_lands(make_rig: Callable[..., Rig]) -> None:
    """W1: one record HubSpot rejects does not sink the other 99; it is set aside with its reason."""
    rig = make_rig(contacts=100)
    rig.sandbox.poison_ids.add(42)
    report = rig.pipeline.run_cycle()
    written = [c for c in rig.sandbox.live_contacts() if c.properties.get("leadscore_score") is not None]
    assert len(written) == 99
    assert rig.sandbox.contacts[42].properties.get("leadscore_score") is None
    [(entry, reason)] = rig.store.set_aside_entries("hubspot")
    assert entry.change.contact_id == "42"
    assert "rejected by a validation rule" in reason
    assert report.set_aside == 1
    again = rig.pipeline.run_cycle()
    assert again.set_aside == 0, "a set-aside change waits for its backoff instead of retrying in a loop"


def test_every_outbox_change_gets_exactly_one_outcome(make_rig: Callable[..., Rig]) -> None:
    """W2/W5: deleted, merged and poisoned records in one batch each get one outcome; nothing stays pending."""
    rig = make_rig(contacts=60)
    rig.pipeline.run_cycle()
    for contact in rig.sandbox.live_contacts()[:30]:
        rig.sandbox.add_web_event(contact.id, "e_submitted_form", NOW_MS - 1000, hs_form_id="quote-x")
    rig.sandbox.archive(3)
    rig.sandbox.merge(5, 4)
    rig.sandbox.poison_ids.add(7)
    report = rig.pipeline.run_cycle()
    assert report.gone >= 1
    assert report.merged >= 1
    assert report.set_aside >= 1
    assert rig.store.pending("hubspot", 1000, now=NOW) == []
    depth = rig.store.outbox_depth("hubspot")
    assert depth == len(rig.store.set_aside_entries("hubspot")), "only set-aside changes remain, each with a reason"


def test_hubspot_merge_moves_history_and_writes_to_survivor(make_rig: Callable[..., Rig]) -> None:
    """D1: a contact merged away follows to the survivor, which then carries its engagement."""
    rig = make_rig(contacts=20)
    rig.pipeline.run_cycle()
    loser, survivor = [c.id for c in rig.sandbox.live_contacts() if "competitor" not in str(c.properties["email"])][:2]
    quote = rig.sandbox.add_web_event(loser, "e_submitted_form", NOW_MS - 1000, hs_form_id="quote-y")
    rig.pipeline.run_cycle()
    rig.sandbox.merge(survivor, loser)
    report = rig.pipeline.run_cycle()
    assert report.merged == 1
    [page] = list(rig.store.contacts_with_events("hubspot"))
    survivor_events = {row[0] for c, rows in page if c.id == str(survivor) for row in rows}
    assert f"web:{quote}" in survivor_events
    assert str(loser) not in {c.id for c, _ in page}
    assert "quote request" in str(rig.sandbox.contacts[survivor].properties["leadscore_reasons"])
    assert loser not in {m for lst in rig.sandbox.lists.values() for m in lst.members}


def test_bad_data_from_the_api_is_reported_and_the_sync_goes_on(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=5)
    odd = [
        rig.sandbox.add_contact({"email": None, "firstname": "Nameless"}),
        rig.sandbox.add_contact({"email": "big@corp.example", "numemployees": "1,000-5,000"}),
        rig.sandbox.add_contact({"email": "not-an-email", "numemployees": "lots"}),
    ]
    rig.sandbox.add_web_event(odd[1], "e_watched_video", NOW_MS - 1000)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    text = "\n".join(f"{p.record_id} {p.field} {p.problem}" for p in report.problems)
    assert f"{odd[0]} email no email" in text
    assert f"{odd[2]} numemployees 'lots' is not a number or a range" in text
    assert f"{odd[2]} email 'not-an-email' is not an email address" in text
    assert report.unmatched_actions["e_watched_video"] == 1
    assert all(rig.sandbox.contacts[i].properties.get("leadscore_score") is not None for i in odd)
    [page] = [p for p in rig.store.contacts_with_events("hubspot")]
    sizes = {c.id: c.profile.get("company_size") for c, _ in page}
    assert sizes[str(odd[1])] == 1000


def test_a_property_of_the_wrong_type_fails_with_the_fix(make_rig: Callable[..., Rig]) -> None:
    """W6: our score property exists as text: a clear error naming it and the fix, nothing written."""
    rig = make_rig(contacts=5)
    rig.sandbox.property_defs["leadscore_score"] = {
        "name": "leadscore_score",
        "label": "x",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "description": "",
        "options": [],
    }
    with pytest.raises(ConfigError, match=r"'leadscore_score' exists with type string.*mapping\.writes"):
        rig.pipeline.run_cycle()
    assert rig.writes() == 0


def test_write_targets_are_created_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=5)
    rig.pipeline.run_cycle()
    rig.connector._targets = None
    rig.pipeline.run_cycle()
    assert rig.sandbox.log.calls["POST /crm/v3/lists"] == 4
    assert rig.sandbox.log.calls["POST /crm/v3/properties/contacts"] == 6
    assert rig.sandbox.property_defs["leadscore_grade"]["type"] == "enumeration"
    assert [o["value"] for o in rig.sandbox.property_defs["leadscore_band"]["options"]] == ["New", "Warm", "MQL", "SQL"]


def test_hubspot_token_expiring_mid_sync_is_refreshed_once_and_replayed(make_rig: Callable[..., Rig]) -> None:
    """A1: a 401 refreshes the OAuth token once, replays the call, and the cycle completes."""
    rig = make_rig(contacts=30)
    rig.sandbox.access_tokens.add("old-oauth")
    connector = HubSpotConnector(
        "hubspot", rig.sandbox.url, "old-oauth", TARGETS, oauth=OAuthApp("client", "secret", "sandbox-refresh")
    )
    rig.pipeline.connector = connector
    rig.sandbox.expire_token("old-oauth")
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert connector.usage().calls["POST /oauth/v1/token"] == 1
    assert rig.sandbox.log.calls["POST /oauth/v1/token"] == 1


def test_bad_credentials_fail_clearly_without_a_retry_storm(make_rig: Callable[..., Rig]) -> None:
    """A3: a wrong private-app token fails at once with a message that says what to fix."""
    rig = make_rig(contacts=3)
    rig.pipeline.connector = HubSpotConnector("hubspot", rig.sandbox.url, "wrong-token", TARGETS)
    with pytest.raises(AuthError, match=r"refused the credentials.*private app token"):
        rig.pipeline.run_cycle()
    assert rig.sandbox.log.total() == 1
    assert rig.store.last_run("hubspot")[0] == "failed"  # type: ignore[index]


def test_every_request_and_every_429_the_portal_saw_is_in_the_report(make_rig: Callable[..., Rig]) -> None:
    """issue 13, item 14: hubspot-api-client's urllib3 retried GETs answered 429 behind leadscore's back (823
    requests logged against 803 reported, 20 429s against 0). Every call goes through leadscore's one policy."""
    rig = make_rig(contacts=300, seed=3)
    rig.sandbox.faults.rate_429 = 0.05
    rig.sandbox.faults.retry_after_seconds = 0.01
    rig.sandbox.faults.seed = 2
    rig.sandbox.faults.__post_init__()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert rig.sandbox.log.statuses[429] > 0
    assert (sum(report.api_calls.values()), report.rate_limited) == (
        rig.sandbox.log.total(),
        rig.sandbox.log.statuses[429],
    )


def test_a_lost_answer_to_a_list_create_is_not_a_failed_cycle(make_rig: Callable[..., Rig]) -> None:
    """issue 13, low: the list was created but its answer lost; the retry's 409 failed the cycle."""
    rig = make_rig(contacts=20)
    rig.sandbox.faults.lose_next.add("/crm/v3/lists")
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    names = sorted(found.name for found in rig.sandbox.lists.values())
    assert len(names) == len(set(names)), "each band's list exists once"
    assert portal_state(rig.sandbox)["lists"], "members were added to the lists"


def test_a_failure_mid_apply_keeps_what_earlier_batches_applied(make_rig: Callable[..., Rig]) -> None:
    """issue 13, item 11, on HubSpot: the batches answered before a failure stay acknowledged."""
    rig = make_rig(contacts=350)
    client = rig.connector.client
    sent = client.batch_update
    batches = [0]

    def failing(updates: Any) -> Any:
        batches[0] += 1
        if batches[0] == 3:
            raise RetryableError("HubSpot answered 503", status=503, endpoint="batch update")
        return sent(updates)

    client.batch_update = failing  # type: ignore[method-assign]
    with pytest.raises(RetryableError):
        rig.pipeline.run_cycle()
    left = [e for e in rig.store.pending("hubspot", 10_000) if e.change.kind == "set_properties"]
    assert len(left) == 350 - 2 * 100, "the two batches HubSpot answered are not sent again"
    client.batch_update = sent  # type: ignore[method-assign]
    again = rig.pipeline.run_cycle()
    assert again.status == "ok"
    assert again.api_calls["POST /crm/v3/objects/contacts/batch/update"] == 2
    assert rig.store.outbox_depth("hubspot") == 0


def test_a_portal_with_a_lower_limit_than_the_mapping_is_paced_from_its_headers(make_rig: Callable[..., Rig]) -> None:
    """issue 13, item 9: a Free/Starter portal allows 100 calls per 10 s where the mapping says 190; leadscore
    burst past it and 2 of 5 cycles failed. The X-HubSpot-RateLimit-* headers say the real window."""
    limits = Limits(per_ten_seconds=6, window_seconds=1.0, search_per_second=100_000)
    rig = make_rig(contacts=300, limits=limits)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert report.rate_limited <= 1, "paced from the headers, not the mapping's 190"
    window = rig.connector.client.budget.windows["general"]
    assert window.limit == 6


def test_a_restart_does_not_burst_past_what_the_portal_has_left(make_rig: Callable[..., Rig]) -> None:
    limits = Limits(per_ten_seconds=6, window_seconds=1.0, search_per_second=100_000)
    rig = make_rig(contacts=300, limits=limits)
    assert rig.pipeline.run_cycle().status == "ok"
    again = HubSpotConnector("hubspot", rig.sandbox.url, "sandbox-token", TARGETS, {"newsletter_campaign_ids": []})
    try:
        rig.sandbox.touch(1, jobtitle="CEO")
        second = rig.pipeline.__class__(rig.store, again, rig.pipeline.engines, clock=lambda: NOW).run_cycle()
        assert second.status == "ok", second.error
        assert second.rate_limited <= 1, "a fresh process learns from the first answer how much the window has left"
    finally:
        again.close()


def test_the_sandbox_counts_a_request_sent_again_before_retry_after_and_no_other() -> None:
    """With event streams read at once, another stream's request in flight when a 429 is answered is no retry;
    counting it made the storm test fail now and then although every retry waited."""
    sandbox = HubSpotSandbox().start()
    try:
        sandbox.faults.rate_429 = 1.0
        sandbox.faults.retry_after_seconds = 30
        sandbox.faults.__post_init__()
        headers = {"Authorization": "Bearer sandbox-token"}
        for path in ("/crm/v3/objects/contacts?limit=1", "/crm/v3/objects/contacts?limit=1", "/events/v3/events"):
            assert httpx.get(sandbox.url + path, headers=headers).status_code == 429
        assert sandbox.log.early_retries == 1
    finally:
        sandbox.stop()
