"""What only Salesforce does: converted leads, the recycle bin and merges, field-level security, Bulk API 2.0,
expiring sessions, the org's daily budget, and fields that must exist (issue 4, user-pain D3, D4, W6, W8, A-series)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from leadscore.connectors.mapping import load_mapping
from leadscore.connectors.salesforce import SalesforceConnector
from leadscore.connectors.salesforce.client import LoginCredentials, RefreshCredentials
from leadscore.connectors.salesforce.mapping import SalesforceMapping
from leadscore.engine import engines, load_model_file
from leadscore.errors import AuthError, ConfigError, RetryableError
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from leadscore_sandbox.salesforce import SalesforceSandbox
from leadscore_sandbox.salesforce_seed import seed_salesforce
from tests.conftest import DEFAULT_MODEL, TARGETS
from tests.sync.platforms import DAY_MS, NOW, NOW_MS, PlatformRig, SalesforcePlatform, build_rig

PREFIX = "/services/data/v59.0"


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., PlatformRig]]:
    made: list[PlatformRig] = []

    def build(people: int = 60, seed: int = 4, sandbox: dict[str, Any] | None = None, **overrides: Any) -> PlatformRig:
        rig = build_rig(SalesforcePlatform(**(sandbox or {})), tmp_path, f"s{len(made)}.db", people, seed, **overrides)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        rig.close()


def org(rig: PlatformRig) -> SalesforceSandbox:
    sandbox = rig.platform.sandbox
    assert isinstance(sandbox, SalesforceSandbox)
    return sandbox


def scorable_leads(rig: PlatformRig) -> list[str]:
    return [
        i
        for i, r in org(rig).records["Lead"].items()
        if "disqualified" not in str(r.get("Leadscore_Reasons__c")) and not r["IsDeleted"]
    ]


def test_converted_lead_is_not_written_and_its_score_follows_to_the_contact(make: Callable[..., PlatformRig]) -> None:
    """user-pain D3: Salesforce refuses updates to converted leads; the history belongs to the new contact."""
    rig = make()
    rig.pipeline.run_cycle()
    sandbox = org(rig)
    lead_id = scorable_leads(rig)[0]
    rig.platform.high_intent(lead_id, rig.store)
    rig.pipeline.run_cycle()
    lead_score = sandbox.records["Lead"][lead_id]["Leadscore_Score__c"]
    contact_id = sandbox.convert(lead_id)
    report = rig.pipeline.run_cycle()
    assert report.merged == 1
    assert report.gone == 0, (
        "no write went to the converted lead (Salesforce would answer CANNOT_UPDATE_CONVERTED_LEAD)"
    )
    contact = sandbox.records["Contact"][contact_id]
    assert contact["Leadscore_Score__c"] == lead_score, "the demo requests moved with the person"
    assert "demo request" in contact["Leadscore_Reasons__c"]
    frozen = dict(sandbox.records["Lead"][lead_id])
    rig.platform.high_intent(contact_id, rig.store)
    later = rig.pipeline.run_cycle()
    assert later.gone == 0
    assert {k: v for k, v in sandbox.records["Lead"][lead_id].items() if k.startswith("Leadscore")} == {
        k: v for k, v in frozen.items() if k.startswith("Leadscore")
    }
    assert rig.store.outbox_depth("salesforce") == 0


def test_deleted_record_mid_batch_is_set_aside_and_the_rest_land(make: Callable[..., PlatformRig]) -> None:
    rig = make()
    rig.pipeline.run_cycle()
    sandbox = org(rig)
    chosen = scorable_leads(rig)[:5]
    for lead_id in chosen:
        rig.platform.high_intent(lead_id, rig.store)
    victim = chosen[2]
    sandbox.records["Lead"][victim]["IsDeleted"] = True
    report = rig.pipeline.run_cycle()
    assert report.gone >= 1
    for lead_id in chosen:
        if lead_id != victim:
            assert "demo request" in sandbox.records["Lead"][lead_id]["Leadscore_Reasons__c"]
    assert rig.store.outbox_depth("salesforce") == 0
    writes = rig.platform.write_calls()
    rig.pipeline.run_cycle()
    assert rig.platform.write_calls() == writes, "a deleted record is not written again"


def test_records_in_the_recycle_bin_or_merged_are_seen_through_query_all(make: Callable[..., PlatformRig]) -> None:
    """user-pain D4: deletes are invisible to query; queryAll shows IsDeleted and MasterRecordId."""
    rig = make()
    rig.pipeline.run_cycle()
    sandbox = org(rig)
    deleted, loser, survivor = scorable_leads(rig)[:3]
    sandbox.delete(deleted)
    sandbox.touch(loser, IsDeleted=True, MasterRecordId=survivor)
    report = rig.pipeline.run_cycle()
    assert report.gone == 1
    assert report.merged == 1
    email = sandbox.records["Lead"][deleted]["Email"]
    assert rig.store.contact_ids_by_email("salesforce", [email]) == {}


def test_field_level_security_error_on_one_record_sets_it_aside(make: Callable[..., PlatformRig]) -> None:
    rig = make()
    rig.pipeline.run_cycle()
    sandbox = org(rig)
    chosen = scorable_leads(rig)[:4]
    for lead_id in chosen:
        rig.platform.high_intent(lead_id, rig.store)
    sandbox.fls_denied_ids.add(chosen[1])
    report = rig.pipeline.run_cycle()
    assert report.set_aside >= 1
    assert any("INVALID_FIELD_FOR_INSERT_UPDATE" in p.problem for p in report.problems)
    for lead_id in (chosen[0], chosen[2], chosen[3]):
        assert "demo request" in sandbox.records["Lead"][lead_id]["Leadscore_Reasons__c"]
    [(entry, reason)] = [
        (e, r) for e, r in rig.store.set_aside_entries("salesforce") if e.change.kind == "set_properties"
    ]
    assert entry.change.contact_id == chosen[1]
    assert "security settings" in reason


def test_missing_or_readonly_score_field_is_one_clear_error(make: Callable[..., PlatformRig]) -> None:
    """user-pain W6: before any write, describe names every missing field with its type, or the FLS fix."""
    rig = make()
    sandbox = org(rig)
    del sandbox.custom_fields["Contact"]["Leadscore_Grade__c"]
    with pytest.raises(ConfigError, match=r"Contact\.Leadscore_Grade__c \(Picklist, values A, B, C, D\)"):
        rig.pipeline.run_cycle()
    sandbox.custom_fields["Contact"]["Leadscore_Grade__c"] = "picklist"
    sandbox.not_updateable.add(("Lead", "Leadscore_Score__c"))
    with pytest.raises(ConfigError, match=r"Lead\.Leadscore_Score__c is read-only .*Edit access"):
        rig.pipeline.run_cycle()
    assert rig.platform.write_calls() == 0


def test_missing_fields_are_created_through_the_tooling_api_when_allowed(make: Callable[..., PlatformRig]) -> None:
    rig = make(manage_fields=True)
    sandbox = org(rig)
    for sobject in ("Lead", "Contact"):
        sandbox.custom_fields[sobject].clear()
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert sandbox.log.calls[f"POST {PREFIX}/tooling/sobjects/CustomField"] == 12
    assert sandbox.custom_fields["Lead"]["Leadscore_Score__c"] == "double"
    assert rig.pipeline.run_cycle().changes == {}


def test_bulk_api_path_reads_back_partial_failures(make: Callable[..., PlatformRig]) -> None:
    rig = make(people=150, limits={"bulk_threshold": 40, "bulk_poll_seconds": 0})
    sandbox = org(rig)
    leads = list(sandbox.records["Lead"])
    sandbox.locked_ids.add(leads[3])
    sandbox.records["Lead"][leads[5]]["IsDeleted"] = True
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert sandbox.log.calls[f"POST {PREFIX}/jobs/ingest"] >= 1
    assert sandbox.log.calls[f"GET {PREFIX}/jobs/ingest/{{jobId}}/{{results}}"] >= 1
    assert sandbox.records["Lead"][leads[0]].get("Leadscore_Score__c") is not None
    assert sandbox.records["Lead"][leads[3]].get("Leadscore_Score__c") is None
    [(entry, reason)] = [
        (e, r) for e, r in rig.store.set_aside_entries("salesforce") if e.change.kind == "set_properties"
    ]
    assert entry.change.contact_id == leads[3]
    assert reason.startswith("UNABLE_TO_LOCK_ROW")


def test_session_expiring_mid_cycle_is_refreshed_once(tmp_path: Path) -> None:
    sandbox = SalesforceSandbox().start()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        seed_salesforce(sandbox, 40, seed=2, now_ms=NOW_MS - DAY_MS)
        refresh = RefreshCredentials(sandbox.url, "sandbox-client", "sandbox-secret", "sandbox-refresh")
        connector = SalesforceConnector("salesforce", sandbox.url, TARGETS, refresh=refresh, mapping_overrides={})
        pipeline = Pipeline(store, connector, engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW)
        assert pipeline.run_cycle().status == "ok"
        sandbox.expire_sessions()
        lead = next(iter(sandbox.records["Lead"]))
        sandbox.touch(lead, Title="Chief Executive Officer")
        report = pipeline.run_cycle()
        assert report.status == "ok"
        assert sandbox.log.calls["POST /services/oauth2/token"] == 2
        assert sandbox.log.statuses[401] == 1
        sandbox.expire_sessions()
        sandbox.refresh_tokens.clear()
        with pytest.raises(AuthError, match="re-authorize the connected app"):
            pipeline.run_cycle()
        assert sandbox.log.calls["POST /services/oauth2/token"] == 3, "one refresh attempt, no retry storm"
        connector.close()
    finally:
        store.close()
        sandbox.stop()


def test_a_bare_session_id_that_expires_fails_clearly(make: Callable[..., PlatformRig]) -> None:
    rig = make(people=5)
    org(rig).expire_sessions()
    with pytest.raises(AuthError, match="no refresh token is configured"):
        rig.pipeline.run_cycle()
    assert sum(org(rig).log.calls.values()) == 1


def test_salesforce_api_budget_is_respected_and_exhaustion_pauses_source(make: Callable[..., PlatformRig]) -> None:
    """user-pain L4: keep a share of the org's daily budget for others; REQUEST_LIMIT_EXCEEDED pauses the source."""
    rig = make(people=30, sandbox={"daily_limit": 100}, limits={"daily_reserve_share": 0.1})
    sandbox = org(rig)
    sandbox.api_used = 85
    report = rig.pipeline.run_cycle()
    assert report.status == "paused"
    assert "kept free for other integrations" in str(report.error)
    assert sandbox.api_used <= 90, "stopped at the reserve, before the org ran dry"
    sandbox.api_used = 100
    rig.connector.client.usage.daily_remaining = None  # type: ignore[attr-defined]
    report = rig.pipeline.run_cycle()
    assert report.status == "paused"
    assert "REQUEST_LIMIT_EXCEEDED" in str(report.error)
    sandbox.api_used = 0
    rig.connector.client.usage.daily_remaining = None  # type: ignore[attr-defined]
    assert rig.pipeline.run_cycle().status == "ok"


def login_pipeline(sandbox: SalesforceSandbox, store: SQLStore, **login: Any) -> tuple[SalesforceConnector, Pipeline]:
    credentials = LoginCredentials(sandbox.url, "integration@example.com", "sandbox-client", **login)
    connector = SalesforceConnector("salesforce", sandbox.url, TARGETS, login=credentials, mapping_overrides={})
    return connector, Pipeline(store, connector, engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW)


@pytest.mark.parametrize("flow", ["jwt", "password"])
def test_login_flows_of_simple_salesforce_log_in_again_when_the_session_expires(tmp_path: Path, flow: str) -> None:
    """JWT bearer (a certificate's private key) and OAuth username-password, as simple-salesforce makes them."""
    sandbox = SalesforceSandbox().start()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        seed_salesforce(sandbox, 20, seed=2, now_ms=NOW_MS - DAY_MS)
        if flow == "jwt":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = tmp_path / "server.key"
            pem.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            connector, pipeline = login_pipeline(sandbox, store, private_key_file=str(pem))
        else:
            connector, pipeline = login_pipeline(
                sandbox,
                store,
                consumer_secret="sandbox-secret",
                password="sandbox-password",
                security_token="SECURITYTOKEN",
            )
        assert pipeline.run_cycle().status == "ok"
        sandbox.expire_sessions()
        sandbox.touch(next(iter(sandbox.records["Lead"])), Title="Chief Executive Officer")
        assert pipeline.run_cycle().status == "ok"
        assert sandbox.log.calls["POST /services/oauth2/token"] == 2, "one login, then one more after the expiry"
        connector.close()
    finally:
        store.close()
        sandbox.stop()


def test_a_refused_login_fails_clearly_without_retries(tmp_path: Path) -> None:
    sandbox = SalesforceSandbox().start()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with pytest.raises(AuthError, match=r"refused the login .* as integration@example\.com"):
            login_pipeline(sandbox, store, consumer_secret="sandbox-secret", password="wrong", security_token="")
        assert sandbox.log.calls["POST /services/oauth2/token"] == 1
    finally:
        store.close()
        sandbox.stop()


def test_values_written_through_bulk_read_back_typed_so_a_second_cycle_writes_nothing(
    make: Callable[..., PlatformRig],
) -> None:
    """Salesforce stores a Bulk 2.0 CSV cell by the field's type: a double reads back as a number, not "19.0"."""
    rig = make(people=150, limits={"bulk_threshold": 40, "bulk_poll_seconds": 0})
    sandbox = org(rig)
    assert rig.pipeline.run_cycle().status == "ok"
    assert sandbox.log.calls[f"POST {PREFIX}/jobs/ingest"] >= 1
    written = [r for r in sandbox.records["Lead"].values() if r.get("Leadscore_Score__c") is not None]
    assert written
    assert all(isinstance(r["Leadscore_Score__c"], float) for r in written)
    assert all(str(r["Leadscore_Scored_At__c"]).endswith("+0000") for r in written if r.get("Leadscore_Scored_At__c"))
    again = rig.pipeline.run_cycle()
    assert again.status == "ok"
    assert again.changes == {}, "nothing changed, so nothing is rewritten"


def test_datetimes_written_through_collections_read_back_in_salesforce_format(make: Callable[..., PlatformRig]) -> None:
    rig = make(people=20)
    assert rig.pipeline.run_cycle().status == "ok"
    stamps = [r["Leadscore_Scored_At__c"] for r in org(rig).records["Lead"].values() if r.get("Leadscore_Scored_At__c")]
    assert stamps
    assert all(s.endswith("+0000") for s in stamps), stamps[:3]


def test_removes_from_several_campaigns_take_one_member_lookup_per_collection(make: Callable[..., PlatformRig]) -> None:
    """The write-cost minimum counts one lookup per 200 removes; one query per campaign made incremental cycles
    cost up to 1.7x it."""
    rig = make(people=300)
    sandbox = org(rig)
    assert rig.pipeline.run_cycle().status == "ok"
    chosen = scorable_leads(rig)[:40]
    left = {rig.platform.shown(lead)["band"] for lead in chosen}
    assert len(left) >= 2, "the leads leave more than one band's campaign"
    for lead in chosen:
        rig.platform.high_intent(lead, rig.store)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.changes["list_remove"] >= 2
    assert report.api_calls["GET query CampaignMember ids"] == 1
    for band in ("New", "Warm", "MQL", "SQL"):
        campaign = sandbox.campaign_named(f"leadscore lead - {band}")
        members = sandbox.members(campaign) if campaign else set()
        for lead in scorable_leads(rig):
            shown = rig.platform.shown(lead)["band"]
            assert (lead in members) == (shown == band), (lead, band, shown)


def test_more_than_a_collection_of_removes_is_deleted_in_one_composite_call(make: Callable[..., PlatformRig]) -> None:
    """The write-cost minimum counts deletes five collections of 200 to a Composite call; one DELETE call per 200
    members made an incremental cycle of 689 removes cost 4 calls where the minimum has 1."""
    rig = make(people=900)
    assert rig.pipeline.run_cycle().status == "ok"
    for lead in scorable_leads(rig):
        rig.platform.high_intent(lead, rig.store)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.changes["list_remove"] > 200
    assert report.api_calls["POST composite (DELETE collections)"] == 1
    assert "DELETE composite/sobjects" not in report.api_calls
    for band in ("New", "Warm", "MQL", "SQL"):
        campaign = org(rig).campaign_named(f"leadscore lead - {band}")
        members = org(rig).members(campaign) if campaign else set()
        for lead in scorable_leads(rig):
            assert (lead in members) == (rig.platform.shown(lead)["band"] == band), (lead, band)


def test_leads_and_contacts_changed_in_one_cycle_share_composite_calls(make: Callable[..., PlatformRig]) -> None:
    """Updates were sent one Composite call per object: a cycle changing 20 leads and 20 contacts took two."""
    rig = make(people=300)
    assert rig.pipeline.run_cycle().status == "ok"
    ids = rig.platform.contact_ids()
    leads = [i for i in ids if i.startswith("00Q")][:20]
    contacts = [i for i in ids if i.startswith("003")][:20]
    assert len(contacts) == 20
    for record in leads + contacts:
        rig.platform.high_intent(record, rig.store)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.changes["set_properties"] >= 21, "both objects changed"
    assert report.api_calls["POST composite (PATCH collections)"] == 1
    for record in leads + contacts:
        shown = rig.platform.shown(record)
        stored = rig.store.visible_scores("salesforce", [record])[(record, "lead")]
        assert shown["score"] is not None
        assert int(float(shown["score"])) == stored.score


def test_a_failure_mid_apply_keeps_what_earlier_calls_applied(make: Callable[..., PlatformRig]) -> None:
    """issue 13, item 11: acks were saved only when a whole apply ended; a 503 on the 5th of 9 Composite calls
    left every change pending, and the next cycle sent them all again."""
    rig = make(people=60, limits={"collection_size": 5, "collections_per_call": 1})
    connector = rig.connector
    assert isinstance(connector, SalesforceConnector)
    sent = connector._rest
    composite_calls = [0]

    def failing(endpoint: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        if endpoint == "POST composite (PATCH collections)":
            composite_calls[0] += 1
            if composite_calls[0] == 5:
                raise RetryableError("Salesforce answered 503", status=503, endpoint=endpoint)
        return sent(endpoint, path, method, **kwargs)

    connector._rest = failing  # type: ignore[method-assign]
    with pytest.raises(RetryableError):
        rig.pipeline.run_cycle()
    updates = [e for e in rig.store.pending("salesforce", 10_000) if e.change.kind == "set_properties"]
    written = [
        r
        for kind in ("Lead", "Contact")
        for r in org(rig).records[kind].values()
        if r.get("Leadscore_Score__c") is not None
    ]
    assert len(written) == 4 * 5, "four calls of five went through"
    left = len(rig.platform.contact_ids()) - len(written)
    assert len(updates) == left, "only what no call answered is still pending"
    connector._rest = sent  # type: ignore[method-assign]
    again = rig.pipeline.run_cycle()
    assert again.status == "ok"
    resent = again.api_calls["POST composite (PATCH collections)"]
    assert resent == -(-len(updates) // 5), "the next cycle sends what was left, not everything again"
    assert rig.store.outbox_depth("salesforce") == 0


def test_a_query_longer_than_one_page_is_followed_through_next_records_url(make: Callable[..., PlatformRig]) -> None:
    """Salesforce answers 2,000 records a page and a nextRecordsUrl for the rest; the connector reads them all."""
    rig = make(people=3100, seed=9)
    sandbox = org(rig)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert sandbox.log.calls[f"GET {PREFIX}/query/{{locator}}"] >= 1
    live = [i for sobject in ("Lead", "Contact") for i, r in sandbox.records[sobject].items() if not r["IsDeleted"]]
    assert len(live) > 2000
    assert rig.store.count("contacts", "salesforce") >= len(live)


def test_a_property_no_mapping_names_goes_to_a_custom_field_named_after_it() -> None:
    """Salesforce names every custom field with ``__c``: a second model's ``partner_score`` could be neither created
    nor found under that bare name."""
    mapping = load_mapping("salesforce", SalesforceMapping, {"writes": {"fit_score": "Fit__c"}})
    assert mapping.write_name("partner_score") == "Partner_Score__c"
    assert mapping.write_name("leadscore_score") == "Leadscore_Score__c"
    assert mapping.write_name("fit_score") == "Fit__c"
    assert mapping.write_name("Rating") == "Rating", "a standard field's API name is kept"
    assert mapping.write_name("Their_Score__c") == "Their_Score__c"
