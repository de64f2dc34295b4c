"""What only Brevo does: identity by id, typed attributes, static lists, blacklists, its batch failure modes,
its rate-limit headers, campaign exports and the import path (issue 5, user-pain D4, D5, W1, W6, W7, L5)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from leadscore.connectors.brevo import BrevoConnector
from leadscore.engine import engines, load_model_file
from leadscore.errors import AuthError, ConfigError, RetryableError
from leadscore.platforms import platform
from leadscore.protocol import WriteWork
from leadscore.store import SQLStore, schema
from leadscore.sync import pipeline as pipeline_module
from leadscore.sync.pipeline import Pipeline
from leadscore_sandbox.brevo import BrevoSandbox, Limits
from leadscore_sandbox.brevo_seed import seed_brevo
from tests.conftest import DEFAULT_MODEL, NOW, TARGETS
from tests.sync.platforms import (
    BREVO_CONNECTOR_FAST,
    BREVO_FAST,
    BrevoPlatform,
    PlatformRig,
    build_rig,
    stop_after_saved_pages,
)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., PlatformRig]]:
    made: list[PlatformRig] = []

    def build(
        contacts: int = 60, seed: int = 4, sandbox: dict[str, Any] | None = None, **overrides: Any
    ) -> PlatformRig:
        rig = build_rig(BrevoPlatform(**(sandbox or {})), tmp_path, f"state{len(made)}.db", contacts, seed, **overrides)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        rig.close()


def sandbox_of(rig: PlatformRig) -> BrevoSandbox:
    sandbox = rig.platform.sandbox
    assert isinstance(sandbox, BrevoSandbox)
    return sandbox


def test_email_change_does_not_create_a_second_contact(make: Callable[..., PlatformRig]) -> None:
    """user-pain D5: Brevo keys by email, leadscore by id; a changed address is the same person."""
    rig = make()
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    contact = sandbox.contacts[min(sandbox.contacts)]
    before = rig.store.count("contacts", "brevo")
    sandbox.change_email(contact.id, "renamed.person@northwind.example")
    rig.pipeline.run_cycle()
    assert rig.store.count("contacts", "brevo") == before
    assert rig.store.contact_ids_by_email("brevo", ["renamed.person@northwind.example"]) == {
        "renamed.person@northwind.example": str(contact.id)
    }
    rig.store.receive(
        "brevo", {"event": "quote_request", "email": "Renamed.Person@northwind.example", "ts_event": 1795000000}
    )
    report = rig.pipeline.run_cycle()
    assert report.events_new == 1
    assert report.events_unresolved == 0
    assert "quote request" in str(contact.attributes["LEADSCORE_REASONS"])
    assert not any("EMAIL" in json.dumps(body) for _, body in sandbox.bodies), "identity fields are never written"


def test_attribute_of_the_wrong_type_fails_naming_it_and_the_fix(make: Callable[..., PlatformRig]) -> None:
    """user-pain W6: Brevo silently drops values of the wrong type; leadscore refuses to write into the void."""
    rig = make()
    sandbox_of(rig).add_attribute("SCORE", "text")
    with pytest.raises(ConfigError) as raised:
        rig.pipeline.run_cycle()
    message = str(raised.value)
    assert "SCORE" in message
    assert "'text'" in message
    assert "'float'" in message
    assert "mapping.writes" in message
    assert "delete" in message
    assert rig.platform.write_calls() == 0


def test_list_deleted_between_cycles_is_recreated_with_its_members(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=80)
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    warm = sandbox.list_named("leadscore lead - Warm")
    assert warm is not None
    assert warm["members"]
    members = set(warm["members"])
    sandbox.delete_list(warm["id"])
    calls_before = rig.platform.write_calls()
    report = rig.pipeline.run_cycle()
    again = sandbox.list_named("leadscore lead - Warm")
    assert again is not None
    assert again["id"] != warm["id"]
    assert again["members"] == members
    assert report.changes == {"list_add": len(members)}
    adds = {"lead:Warm": len(members)}
    cost = platform("brevo").write_cost({}, WriteWork(0, adds, lone_adds=adds))
    assert rig.platform.write_calls() - calls_before == cost.calls == math.ceil(len(members) / 150), (
        "moves of records whose properties stay go by list calls of 150, as `plan` counts them"
    )
    assert rig.pipeline.run_cycle().changes == {}


def test_list_membership_removed_by_hand_is_restored_when_the_contact_is_read(make: Callable[..., PlatformRig]) -> None:
    """Brevo shows list ids on each contact, so a membership removed in the UI is seen as drift and healed."""
    rig = make(contacts=30)
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    contact = sandbox.contacts[min(sandbox.contacts)]
    [list_id] = contact.list_ids
    contact.list_ids.clear()
    sandbox.lists[list_id]["members"].discard(contact.id)
    sandbox.touch(contact.id)
    report = rig.pipeline.run_cycle()
    assert report.changes == {"list_add": 1}
    assert contact.list_ids == {list_id}


def test_blacklisted_contacts_keep_their_score_and_are_never_resubscribed(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=80)
    sandbox = sandbox_of(rig)
    blacklisted = [c for c in sandbox.contacts.values() if c.email_blacklisted]
    assert blacklisted
    rig.pipeline.run_cycle()
    for contact in blacklisted:
        rig.store.receive("brevo", {"event": "demo_request", "email": contact.email, "ts_event": 1795400000})
    rig.pipeline.run_cycle()
    for contact in blacklisted:
        assert contact.email_blacklisted
        assert contact.attributes.get("SCORE") is not None
        assert contact.list_ids
    sent = json.dumps([body for _, body in sandbox.bodies])
    assert "Blacklisted" not in sent
    assert "emailBlacklist" not in sent


@pytest.mark.parametrize("batch_mode", ["strict", "partial"])
def test_deleted_contact_mid_batch_is_set_aside_and_the_rest_land(
    make: Callable[..., PlatformRig], batch_mode: str
) -> None:
    """user-pain W1 and D4: strict Brevo fails the whole batch with 404 naming indexes; later Brevo answers 207."""
    rig = make(contacts=50, sandbox={"batch_mode": batch_mode})
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    ids = sorted(
        c for c, found in sandbox.contacts.items() if "disqualified" not in found.attributes["LEADSCORE_REASONS"]
    )
    for contact_id in ids[:6]:
        rig.platform.high_intent(str(contact_id), rig.store)
    gone_email = sandbox.contacts[ids[2]].email
    sandbox.delete_contact(ids[2])
    report = rig.pipeline.run_cycle()
    assert report.gone >= 1
    assert rig.store.contact_ids_by_email("brevo", [gone_email]) == {}, "the store marks the contact deleted"
    for contact_id in ids[:6]:
        if contact_id != ids[2]:
            assert "quote request" in str(sandbox.contacts[contact_id].attributes["LEADSCORE_REASONS"])
    assert rig.store.outbox_depth("brevo") == 0
    calls_before = sandbox.log.calls["POST /v3/contacts/batch"]
    assert rig.pipeline.run_cycle().changes == {}
    assert sandbox.log.calls["POST /v3/contacts/batch"] == calls_before, "a gone contact is not written again"


def test_brevo_waits_for_ratelimit_reset_header(make: Callable[..., PlatformRig]) -> None:
    """user-pain L5: Brevo's 429 has no Retry-After; x-sib-ratelimit-reset says how long to wait. Another
    integration spends the shared per-second budget, so leadscore's first call meets a 429 it could not foresee."""
    tight = Limits(**{**BREVO_FAST.__dict__, "contacts_per_second": 4})
    rig = make(contacts=30, sandbox={"limits": tight}, limits={"contacts_per_second": 4, "process_poll_seconds": 0})
    sandbox = sandbox_of(rig)
    sandbox.spend("contacts", 4)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert report.rate_limited >= 1
    assert all(c.attributes.get("SCORE") is not None for c in sandbox.contacts.values())
    entries = sandbox.log.entries
    limited = [(position, at) for position, (at, endpoint, status) in enumerate(entries) if status == 429]
    assert limited
    for position, at in limited:
        following = next((t for t, e, _ in entries[position + 1 :] if "/v3/contacts" in e), None)
        assert following is None or following - at >= 0.5, "the next call waited for the window to reset"


def test_paced_to_the_plan_limits_a_steady_cycle_sees_no_429(make: Callable[..., PlatformRig]) -> None:
    limits = Limits(**{**BREVO_FAST.__dict__, "contacts_per_second": 20})
    rig = make(contacts=40, sandbox={"limits": limits}, limits={"contacts_per_second": 20, "process_poll_seconds": 0})
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.rate_limited == 0
    assert sandbox_of(rig).log.statuses[429] == 0


def test_campaign_exports_wait_for_the_hourly_budget_and_resume(make: Callable[..., PlatformRig]) -> None:
    """/emailCampaigns and /processes share 100 calls an hour: exports stop for the cycle, never sleep an hour."""
    rig = make(contacts=40, limits={"other_per_hour": 9, "process_poll_seconds": 0})
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    sandbox = sandbox_of(rig)
    exports = sandbox.log.calls["POST /v3/emailCampaigns/{campaignId}/exportRecipients"]
    assert 0 < exports < 16
    done = rig.store.cursor("brevo", "campaign_exports")["done"]
    assert sum(len(kinds) for kinds in done.values()) == exports
    rig.connector.client.budget.windows["other"].sent.clear()  # type: ignore[attr-defined]
    for _ in range(4):
        rig.connector.client.budget.windows["other"].sent.clear()  # type: ignore[attr-defined]
        rig.pipeline.run_cycle()
    assert sandbox.log.calls["POST /v3/emailCampaigns/{campaignId}/exportRecipients"] == 16
    assert sum(len(k) for k in rig.store.cursor("brevo", "campaign_exports")["done"].values()) == 16


def test_a_cycle_that_starts_with_the_hourly_budget_spent_still_scores_and_writes(
    make: Callable[..., PlatformRig],
) -> None:
    """Campaign exports spent Brevo's 100-an-hour budget of /emailCampaigns and /processes; the next `sync --once`
    (from cron, a new process that knows nothing of the last one's calls) met it spent when listing campaigns and
    paused whole: a quote request received by webhook in between was neither scored nor written until the hour
    turned. Now only the stream waits (``streams_waiting``)."""
    limits = {"other_per_hour": 9, "process_poll_seconds": 0}
    rig = make(contacts=40, sandbox={"limits": replace(BREVO_FAST, other_per_hour=9)}, limits=limits)
    assert rig.pipeline.run_cycle().status == "ok"
    sandbox = sandbox_of(rig)
    exports = sandbox.log.calls["POST /v3/emailCampaigns/{campaignId}/exportRecipients"]
    contact = min(
        (c for c in sandbox.contacts.values() if "competitor" not in c.email and int(c.attributes["SCORE"]) < 40),
        key=lambda c: c.id,
    )
    rig.store.receive("brevo", {"event": "quote_request", "email": contact.email, "ts_event": int(NOW.timestamp())})
    fresh = rig.platform.connector(limits=limits)
    try:
        report = Pipeline(rig.store, fresh, engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW).run_cycle()
    finally:
        fresh.close()
    assert report.status == "ok", report.error
    assert "campaign_exports" in report.streams_waiting
    assert "budget has no calls left" in report.streams_waiting["campaign_exports"]
    assert report.events_new == 1
    assert report.contacts_scored >= 1
    assert report.applied >= 1, "the quote request's new score was written"
    assert sandbox.log.calls["POST /v3/emailCampaigns/{campaignId}/exportRecipients"] == exports
    assert rig.store.last_run("brevo")[1]["streams_waiting"] == report.streams_waiting  # type: ignore[index]


def test_export_and_webhook_of_the_same_open_count_once(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=20)
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    campaign = next(iter(sandbox.campaigns.values()))
    opener = sorted(campaign.recipients["openers"])[0]
    webhook = {"event": "opened", "email": opener, "camp_id": campaign.id, "ts_event": 1795400000, "tag": campaign.tag}
    rig.store.receive("brevo", [webhook, webhook])
    report = rig.pipeline.run_cycle()
    assert report.events_new == 0


def test_webhook_with_bad_items_keeps_the_good_ones_and_reports_the_rest(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=10)
    rig.pipeline.run_cycle()
    email = sandbox_of(rig).contacts[min(sandbox_of(rig).contacts)].email
    rig.store.receive(
        "brevo",
        [
            {"event": "click", "email": email, "ts_event": 1795400000, "URL": "https://x.example/pricing"},
            {"event": "click", "email": "not an email", "ts_event": 1795400000},
            "garbage",
            {"event": "delivered", "email": email, "ts_event": 1795400000},
        ],
    )
    report = rig.pipeline.run_cycle()
    assert report.events_new == 1
    assert len(report.problems) == 2
    assert rig.store.inbox("brevo", 10) == []


def test_a_very_large_change_set_goes_through_contact_import(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=120, limits={"import_threshold": 50, "process_poll_seconds": 0})
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    sandbox = sandbox_of(rig)
    assert sandbox.log.calls["POST /v3/contacts/import"] >= 1
    assert len(sandbox.contacts) == 120, "import only updates contacts leadscore read"
    for contact in sandbox.contacts.values():
        assert contact.attributes.get("SCORE") is not None
        assert len(contact.list_ids) == 1
    assert rig.pipeline.run_cycle().changes == {}


def test_a_change_set_of_many_applies_goes_by_one_import_per_list(
    make: Callable[..., PlatformRig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import carries one list's arrivals. However many applies the outbox is handed over in, the records to
    import are held until the whole outbox is through, and each list's arrivals then go in one import."""
    monkeypatch.setattr(pipeline_module, "APPLY_BATCH", 40)
    rig = make(contacts=120, limits={"import_threshold": 5, "process_poll_seconds": 0})
    applies: list[int] = []
    apply = rig.connector.apply

    def counted(entries: Any, progress: Any = None) -> Any:
        applies.append(len(entries))
        return apply(entries, progress)

    rig.connector.apply = counted  # type: ignore[method-assign]
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    sandbox = sandbox_of(rig)
    bands = {list_id for contact in sandbox.contacts.values() for list_id in contact.list_ids}
    assert len(bands) >= 3, "the seed spreads its records over the band lists"
    assert len(applies) >= 5
    assert sandbox.log.calls["POST /v3/contacts/import"] == len(bands)
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0
    assert rig.pipeline.run_cycle().changes == {}


def test_below_the_import_threshold_a_drain_s_updates_fill_whole_batches(make: Callable[..., PlatformRig]) -> None:
    """Records moving lists with their update and records whose properties alone change go in the same batch
    updates: 40 of each take one call of 100, not one call each."""
    rig = make(contacts=240)
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    shown = {c: rig.platform.shown(c) for c in rig.platform.contact_ids()}
    rising = [c for c, s in shown.items() if s["band"] == "New" and s["grade"] != "D"][:40]
    edited = [c for c in shown if c not in rising][:40]
    assert len(rising) == 40, "the seed has enough good-fit records in the lowest band"
    for contact_id in rising:
        rig.platform.high_intent(contact_id, rig.store)
    for contact_id in edited:
        rig.platform.hand_edit(contact_id, "99")
    batches = sandbox.log.calls["POST /v3/contacts/batch"]
    report = rig.pipeline.run_cycle()
    assert report.changes["set_properties"] == 80
    assert report.changes["list_add"] >= 40
    assert sandbox.log.calls["POST /v3/contacts/batch"] - batches == 1
    assert all(rig.platform.shown(c)["band"] != "New" for c in rising)
    assert all(rig.platform.shown(c)["score"] != "99" for c in edited)


def test_imports_are_cut_to_brevo_s_body_limit(make: Callable[..., PlatformRig]) -> None:
    """Brevo refuses an import body over 10 MB (8 MB advised), whatever its row count: an import holds at most
    ``import_bytes`` of rows. Here the sandbox refuses bodies over 6,000 bytes and one list's arrivals take more."""
    rig = make(
        contacts=120,
        sandbox={"limits": replace(BREVO_FAST, import_body_max_bytes=6_000)},
        limits={"import_threshold": 5, "process_poll_seconds": 0, "import_bytes": 5_000},
    )
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    sandbox = sandbox_of(rig)
    bands = {list_id for contact in sandbox.contacts.values() for list_id in contact.list_ids}
    assert sandbox.log.calls["POST /v3/contacts/import"] > len(bands)
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0
    assert rig.pipeline.run_cycle().changes == {}


def _writes_refused(rig: PlatformRig, paths: tuple[str, ...]) -> Callable[[], None]:
    """Make the connector's calls to ``paths`` fail as an outage does (after its retries); returns the undo."""
    connector = rig.connector
    assert isinstance(connector, BrevoConnector)
    call = connector.client.call

    def refusing(method: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        if path.startswith(paths):
            raise RetryableError(f"Brevo answered 503 to {endpoint}", source="brevo", endpoint=endpoint, status=503)
        return call(method, path, endpoint, **kwargs)

    connector.client.call = refusing  # type: ignore[method-assign]
    return lambda: setattr(connector.client, "call", call)


def _after_a_cycle_whose_writes_failed(make: Callable[..., PlatformRig]) -> PlatformRig:
    """A rig on the import path whose first cycle read and scored 60 records and could write none of them."""
    rig = make(contacts=60, limits={"import_threshold": 5, "process_poll_seconds": 0})
    undo = _writes_refused(rig, ("/contacts/import", "/contacts/batch", "/contacts/lists/"))
    with pytest.raises(RetryableError):
        rig.pipeline.run_cycle()
    undo()
    assert rig.store.outbox_depth("brevo") > 0
    return rig


def test_changes_left_by_a_failed_cycle_go_with_the_next_cycle_s_in_one_import_per_list(
    make: Callable[..., PlatformRig],
) -> None:
    """A cycle whose writes failed leaves its changes in the outbox. The next cycle sends them together with what
    it plans itself, as one change-set: one import per list, not one for the leftovers and one for the new."""
    rig = _after_a_cycle_whose_writes_failed(make)
    sandbox = sandbox_of(rig)
    newcomers = [rig.platform.add_person(f"newcomer{n}@northwind.example") for n in range(8)]
    before = sandbox.log.calls["POST /v3/contacts/import"]
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    lists = {list_id for contact in sandbox.contacts.values() for list_id in contact.list_ids}
    assert {list_id for n in newcomers for list_id in sandbox.contacts[int(n)].list_ids} <= lists
    assert sandbox.log.calls["POST /v3/contacts/import"] - before == len(lists)
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0


def test_a_shutdown_between_imports_stops_the_cycle_and_the_rest_waits(make: Callable[..., PlatformRig]) -> None:
    """A shutdown asked for while a drain's imports go out stops the cycle after the import in flight, as between
    pages: what was answered is saved, the rest stays in the outbox for the next cycle."""
    rig = make(contacts=90, limits={"import_threshold": 5, "process_poll_seconds": 0})
    sandbox = sandbox_of(rig)
    connector = rig.connector
    assert isinstance(connector, BrevoConnector)
    call = connector.client.call

    def stop_after_an_import(method: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        answered = call(method, path, endpoint, **kwargs)
        if path == "/contacts/import":
            rig.pipeline.stop.set()
        return answered

    connector.client.call = stop_after_an_import  # type: ignore[method-assign]
    assert rig.pipeline.run_cycle().status == "interrupted"
    connector.client.call = call  # type: ignore[method-assign]
    assert sandbox.log.calls["POST /v3/contacts/import"] == 1
    assert rig.store.outbox_depth("brevo") > 0
    rig.pipeline.stop.clear()
    assert rig.pipeline.run_cycle().status == "ok"
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0


def test_a_record_planned_twice_in_one_drain_ends_as_the_later_plan_says(make: Callable[..., PlatformRig]) -> None:
    """Changes left by a failed cycle and the next cycle's changes for the same record are sent in one drain: the
    record is held once, with the later plan's attributes and lists; the list its earlier plan joined is undone."""
    rig = _after_a_cycle_whose_writes_failed(make)
    sandbox = sandbox_of(rig)
    pending = rig.store.pending("brevo", 10_000)
    new = {e.contact_id for e in pending if e.change.kind == "list_add" and e.change.payload["list"] == "lead:New"}
    quiet = next(
        e.contact_id
        for e in pending
        if e.contact_id in new and e.change.payload.get("leadscore_grade") not in (None, "D")
    )
    rig.platform.high_intent(quiet, rig.store)
    assert rig.pipeline.run_cycle().status == "ok"
    shown = rig.platform.shown(quiet)
    assert shown["band"] in ("MQL", "SQL")
    assert rig.platform.members(str(shown["band"])) >= {quiet}
    assert quiet not in rig.platform.members("New")
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0
    assert rig.pipeline.run_cycle().changes == {}


def test_an_import_refused_midway_leaves_the_rest_of_the_change_set_pending(
    make: Callable[..., PlatformRig],
) -> None:
    """The first import is answered, the next ones fail: what the first carried is saved as written, the rest stays
    in the outbox, and the next cycle sends it; every record ends in one band list and nothing is sent twice."""
    rig = make(contacts=90, limits={"import_threshold": 5, "process_poll_seconds": 0})
    sandbox = sandbox_of(rig)
    connector = rig.connector
    assert isinstance(connector, BrevoConnector)
    call = connector.client.call
    imports: list[str] = []

    def second_import_fails(method: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        if path == "/contacts/import":
            imports.append(path)
            if len(imports) > 1:
                raise RetryableError("Brevo answered 503", source="brevo", endpoint=endpoint, status=503)
        return call(method, path, endpoint, **kwargs)

    connector.client.call = second_import_fails  # type: ignore[method-assign]
    with pytest.raises(RetryableError):
        rig.pipeline.run_cycle()
    connector.client.call = call  # type: ignore[method-assign]
    first = {c.id for c in sandbox.contacts.values() if c.list_ids}
    assert first, "the first import's records joined their list"
    pending = {entry.contact_id for entry in rig.store.pending("brevo", 10_000)}
    assert pending, "the failed imports' changes wait in the outbox"
    assert not pending & {str(c) for c in first}, "what the first import carried left the outbox"
    assert rig.pipeline.run_cycle().status == "ok"
    assert all(len(contact.list_ids) == 1 for contact in sandbox.contacts.values())
    assert rig.store.outbox_depth("brevo") == 0
    assert rig.pipeline.run_cycle().changes == {}


def test_the_served_sandbox_applies_an_import_after_answering_as_brevo_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Brevo answers an import 202 and applies it later, one after another. The sandbox `leadscore sandbox` serves
    does the same, so a benchmark does not count the sandbox's own work as the sync's; a later read of contacts
    waits for the imports before it, so what a cycle reads next is settled."""
    sandbox = BrevoSandbox(limits=replace(BREVO_FAST, imports_after_answer=True)).start()
    try:
        sandbox.add_attribute("SCORE", "float")
        contact_id = sandbox.add_contact("ada@northwind.example", {})
        client = httpx.Client(base_url=sandbox.api_url, headers={"api-key": "sandbox-key"})
        folder = client.post("/contacts/folders", json={"name": "leadscore"}).json()["id"]
        list_id = client.post("/contacts/lists", json={"name": "MQL", "folderId": folder}).json()["id"]
        held, write = threading.Event(), sandbox._write

        def slow_write(contact: Any, item: dict[str, Any]) -> None:
            held.wait(10)
            write(contact, item)

        monkeypatch.setattr(sandbox, "_write", slow_write)
        body = {"jsonBody": [{"email": "ada@northwind.example", "attributes": {"SCORE": 61}}], "listIds": [list_id]}
        assert client.post("/contacts/import", json=body).status_code == 202
        assert sandbox.contacts[contact_id].list_ids == set(), "answered before it is applied"
        held.set()
        read = client.get(f"/contacts/{contact_id}").json()
        assert read["listIds"] == [list_id]
        assert read["attributes"]["SCORE"] == 61
        client.close()
    finally:
        sandbox.stop()


def test_wrong_api_key_fails_once_with_the_fix(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=5)
    sandbox_of(rig).api_keys.clear()
    with pytest.raises(AuthError, match="API key") as raised:
        rig.pipeline.run_cycle()
    assert "SMTP & API" in str(raised.value)
    assert sum(sandbox_of(rig).log.calls.values()) == 1, "no retry storm on a refused key"


def test_attribute_deleted_mid_cycle_is_one_error_not_a_bisection_storm(make: Callable[..., PlatformRig]) -> None:
    """user-pain W6: a missing attribute fails every record alike; splitting the batch would only burn calls."""
    rig = make(contacts=40)
    rig.pipeline.run_cycle()
    sandbox = sandbox_of(rig)
    for contact_id in sorted(sandbox.contacts)[:30]:
        rig.platform.high_intent(str(contact_id), rig.store)
    original = rig.connector.ensure_targets

    def then_deleted() -> Any:
        created = original()
        del sandbox.attributes["LEADSCORE_REASONS"]
        return created

    rig.connector.ensure_targets = then_deleted  # type: ignore[method-assign]
    batches = sandbox.log.calls["POST /v3/contacts/batch"]
    with pytest.raises(ConfigError, match="LEADSCORE_REASONS"):
        rig.pipeline.run_cycle()
    assert sandbox.log.calls["POST /v3/contacts/batch"] == batches + 1
    rig.connector.ensure_targets = original  # type: ignore[method-assign]
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert "LEADSCORE_REASONS" in sandbox.attributes
    assert rig.store.outbox_depth("brevo") == 0


def test_the_transactional_report_interrupted_after_page_k_resumes_at_page_k_plus_one(
    make: Callable[..., PlatformRig],
) -> None:
    """Each page of the event report commits its offset and its days: a stopped cycle reads only the rest."""
    small_pages = {"limits": {**BREVO_CONNECTOR_FAST["limits"], "smtp_events_page": 10}}
    endpoint = "GET /v3/smtp/statistics/events"
    clean = make(contacts=150, **small_pages)
    clean.pipeline.run_cycle()
    pages = sandbox_of(clean).log.calls[endpoint]
    assert pages >= 4, "the report must span several pages for this test to mean anything"

    rig = make(contacts=150, **small_pages)
    k = pages // 2
    restore = stop_after_saved_pages(rig.pipeline, rig.store, "transactional_events", k)
    assert rig.pipeline.run_cycle().status == "interrupted"
    first = sandbox_of(rig).log.calls[endpoint]
    restore()
    rig.pipeline.stop.clear()
    assert rig.pipeline.run_cycle().status == "ok"
    assert sandbox_of(rig).log.calls[endpoint] - first == pages - k
    assert rig.store.count("events", "brevo") == clean.store.count("events", "brevo")


def test_a_webhook_for_someone_not_a_contact_yet_counts_once_they_arrive(make: Callable[..., PlatformRig]) -> None:
    """issue 13, item 7: the body was dropped as unresolved, and the event never counted."""
    rig = make(contacts=10)
    rig.pipeline.run_cycle()
    early = "early.bird@acme.example"
    rig.store.receive("brevo", {"event": "quote_request", "email": early, "ts_event": 1795400000})
    first = rig.pipeline.run_cycle()
    assert first.events_waiting == 1
    assert len(rig.store.inbox("brevo", 10)) == 1, "the body stays until its recipient is known"
    sandbox_of(rig).add_contact(early, {})
    second = rig.pipeline.run_cycle()
    assert second.events_new == 1
    assert second.events_waiting == 0
    assert rig.store.inbox("brevo", 10) == []
    third = rig.pipeline.run_cycle()
    assert third.events_new == 0, "parsed again, the event is not counted twice"


def test_a_webhook_whose_recipient_never_arrives_is_given_up_after_its_age_limit(
    make: Callable[..., PlatformRig],
) -> None:
    rig = make(contacts=10)
    rig.pipeline.run_cycle()
    old = rig.store.receive("brevo", {"event": "quote_request", "email": "ghost@acme.example", "ts_event": 1795400000})
    with rig.store.db.begin() as connection:
        connection.execute(
            update(schema.inbox)
            .where(schema.inbox.c.id == old)
            .values(received_at=datetime.now(UTC) - timedelta(days=8))
        )
    report = rig.pipeline.run_cycle()
    assert report.events_expired == 1
    assert report.events_waiting == 0
    assert rig.store.inbox("brevo", 10) == []


def test_a_budget_another_integration_spent_pauses_the_cycle_rather_than_sleep_past_max_retry_seconds(
    tmp_path: Path,
) -> None:
    """issue 13, item 10: `sync --once` hung over 625 s waiting for Brevo's hourly reset."""
    sandbox = BrevoSandbox(limits=replace(BREVO_FAST, contacts_per_hour=6)).start()
    seed_brevo(sandbox, 30, seed=2)
    slept: list[float] = []
    connector = BrevoConnector(
        "brevo", sandbox.api_url, "sandbox-key", TARGETS, BREVO_CONNECTOR_FAST, sleep=slept.append, clock=lambda: NOW
    )
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        report = Pipeline(store, connector, engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW).run_cycle()
    finally:
        connector.close()
        store.close()
        sandbox.stop()
    limit = connector.mapping.limits.max_retry_seconds
    assert report.status == "paused"
    assert "budget has no calls left" in (report.error or "")
    assert "a later cycle carries on" in (report.error or "")
    assert max(slept, default=0.0) <= limit, f"a wait of {max(slept):.0f} s, past max_retry_seconds ({limit} s)"


def test_an_attribute_whose_create_answer_was_lost_still_gets_values_of_its_type(
    make: Callable[..., PlatformRig],
) -> None:
    """issue 14, divergence 1: the create of SCORE succeeded but its answer was lost (a 502), the retry said
    "must be unique", and the cycle then sent SCORE as text and the scored-at date as a timestamp, which Brevo
    ignores for a float and a date attribute."""
    rig = make(contacts=30)
    sandbox = sandbox_of(rig)
    sandbox.faults.lose_next.add("/v3/contacts/attributes/{category}/{name}")
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert sandbox.attributes["SCORE"]["type"] == "float"
    scored = [c for c in sandbox.contacts.values() if c.attributes.get("SCORE") is not None]
    assert len(scored) == len(sandbox.contacts), "every contact's SCORE was kept: it was sent as a number"
    assert all(isinstance(c.attributes["SCORE"], int | float) for c in scored)
    dates = [name for name, found in sandbox.attributes.items() if found["type"] == "date" and "LEADSCORE" in name]
    for name in dates:
        assert all(c.attributes.get(name) for c in sandbox.contacts.values()), f"{name} kept on every contact"


def test_the_sandbox_ignores_values_of_the_wrong_type_as_brevo_does(make: Callable[..., PlatformRig]) -> None:
    rig = make(contacts=5)
    sandbox = sandbox_of(rig)
    sandbox.add_attribute("AMOUNT", "float")
    sandbox.add_attribute("SEEN_ON", "date")
    contact = next(iter(sandbox.contacts.values()))
    sandbox._write(contact, {"attributes": {"AMOUNT": "25", "SEEN_ON": "2026-11-23T12:00:00+00:00"}})
    assert "AMOUNT" not in contact.attributes
    assert "SEEN_ON" not in contact.attributes
    sandbox._write(contact, {"attributes": {"AMOUNT": 25.5, "SEEN_ON": "2026-11-23"}})
    assert contact.attributes["AMOUNT"] == 25.5
    assert contact.attributes["SEEN_ON"] == "2026-11-23"


def test_a_campaign_export_is_read_in_pages_of_bounded_size(make: Callable[..., PlatformRig]) -> None:
    """A campaign's recipient export became one page of events, held whole in memory with the file it came from:
    the page grows with the campaign (14,146 events at 40,000 contacts), and a campaign sent to a million people
    would hold a million events at once. The file now streams to disk and is read `limits.export_page` rows at a
    time; only a campaign's last page moves the stream's cursor, so a crash between pages reads it again, and its
    events count once."""
    rig = make(contacts=300)
    whole = rig.platform.connector()
    paged = rig.platform.connector(limits={**BREVO_CONNECTOR_FAST["limits"], "export_page": 40})
    try:
        at_once = list(whole.read_events("campaign_exports", None))
        in_pages = list(paged.read_events("campaign_exports", None))
    finally:
        whole.close()
        paged.close()
    assert max(len(page.by_email or ()) for page in at_once) > 40, "the seeded campaigns reach more than a page"
    assert max(len(page.by_email or ()) for page in in_pages) <= 40
    assert len(in_pages) > len(at_once)
    events = sorted((email, event.id) for page in at_once for email, event in page.by_email or ())
    assert sorted((email, event.id) for page in in_pages for email, event in page.by_email or ()) == events
    assert [page.cursor for page in in_pages if page.cursor is not None] == [page.cursor for page in at_once]
