"""Outcomes the platforms report: a sync stores them as ``converted`` events, and a backtest of the store reads them
without an outcomes file. Over real HTTP against the HubSpot and Salesforce sandboxes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.records import CONVERTED
from leadscore_sandbox.hubspot import CUSTOMER_SINCE
from tests.conftest import NOW
from tests.sync.platforms import DAY_MS, NOW_MS, BrevoPlatform, HubSpotPlatform, SalesforcePlatform, build_rig

runner = CliRunner()


def stored_conversions(state: Path, source: str) -> dict[str, str]:
    from leadscore.store import SQLStore

    store = SQLStore.open(f"sqlite:///{state}")
    try:
        return {
            contact.id: str(at)
            for page in store.contacts_with_events(source)
            for contact, rows in page
            for _, action, at, _ in rows
            if action == CONVERTED
        }
    finally:
        store.close()


def backtest_store(state: Path, source: str, tmp_path: Path, *extra: str) -> dict[str, object]:
    result = runner.invoke(
        app,
        ["backtest", "--state", f"sqlite:///{state}", "--source", source, "--now", NOW.isoformat(),
         "--json", str(tmp_path / "r.json"), *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures: dict[str, object] = json.loads((tmp_path / "r.json").read_text())["models"][0]
    return figures


def test_hubspot_customer_dates_become_the_outcomes_of_a_backtest_of_the_store(tmp_path: Path) -> None:
    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 300, 5)
    try:
        customers = {
            str(c.id): c.properties[CUSTOMER_SINCE]
            for c in platform.sandbox.live_contacts()
            if c.properties.get(CUSTOMER_SINCE)
        }
        assert 5 < len(customers) < 100, "the sandbox seeds some customers, more among contacts who met sales"
        assert rig.pipeline.run_cycle().status == "ok"
    finally:
        rig.close()
    assert set(stored_conversions(tmp_path / "state.db", "hubspot")) == set(customers)
    figures = backtest_store(tmp_path / "state.db", "hubspot", tmp_path)
    assert figures["contacts"] == 300
    assert figures["converted"] == len(customers)
    assert figures["roc_auc"] is not None


def test_salesforce_converted_leads_are_outcomes_on_the_contact_they_became(tmp_path: Path) -> None:
    platform = SalesforcePlatform()
    rig = build_rig(platform, tmp_path, "state.db", 60, 2)
    leads = sorted(platform.sandbox.records["Lead"])[:5]
    converted_on = {lead: NOW_MS - (10 + n) * DAY_MS for n, lead in enumerate(leads)}
    became = {platform.sandbox.convert(lead, converted_ms=at): lead for lead, at in converted_on.items()}
    contacts = sorted(platform.sandbox.records["Contact"])
    won, lost = contacts[0], contacts[1]
    platform.sandbox.add("Opportunity", ContactId=won, IsWon=True, StageName="Closed Won", CloseDate="2026-11-10")
    platform.sandbox.add("Opportunity", ContactId=lost, IsWon=False, StageName="Closed Lost", CloseDate="2026-11-11")
    try:
        assert rig.pipeline.run_cycle().status == "ok"
    finally:
        rig.close()
    stored = stored_conversions(tmp_path / "state.db", "salesforce")
    assert won in stored, "a won opportunity is its primary contact's conversion"
    assert lost not in stored
    del stored[won]
    assert set(stored) == set(became), "each converted lead's outcome sits on the contact the lead became"
    day = (NOW - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = next(contact for contact, lead in became.items() if lead == leads[0])
    assert int(stored[first]) == int(day.timestamp() * 1000), "dated by ConvertedDate, a day"
    figures = backtest_store(tmp_path / "state.db", "salesforce", tmp_path)
    assert figures["converted"] == len(became) + 1
    later = backtest_store(
        tmp_path / "state.db", "salesforce", tmp_path, "--as-of", (NOW - timedelta(days=30)).isoformat()
    )
    assert later["converted"] == len(became) + 1, "converted within 90 days of the as-of moment"


def test_an_org_without_opportunities_syncs_without_them_and_says_so(tmp_path: Path) -> None:
    platform = SalesforcePlatform()
    rig = build_rig(platform, tmp_path, "state.db", 30, 2)
    platform.sandbox.hidden_objects.add("Opportunity")
    try:
        report = rig.pipeline.run_cycle()
        assert report.status == "ok", report.error
        assert "cannot read Opportunity" in report.streams_off["won_opportunities"]
        assert report.contacts_scored == 30
    finally:
        rig.close()


def test_a_backtest_of_files_without_outcomes_says_where_outcomes_come_from(tmp_path: Path) -> None:
    contacts = tmp_path / "c.jsonl"
    contacts.write_text('{"id": "c1"}\n', encoding="utf-8")
    result = runner.invoke(app, ["backtest", "--contacts", str(contacts)])
    assert result.exit_code == 2
    assert "give --outcomes (a file of conversions), or --state with --source" in result.stderr


def brevo_won(platform: BrevoPlatform) -> dict[str, set[str]]:
    """Contact id -> the won deals linked to it, as the sandbox holds them."""
    won_stage = next(
        stage["id"] for pipeline in platform.sandbox.pipelines.values() for stage in pipeline["stages"]
        if stage["name"] == "Won"
    )  # fmt: skip
    linked: dict[str, set[str]] = {}
    for deal_id, deal in platform.sandbox.deals.items():
        if deal["attributes"]["deal_stage"] == won_stage:
            for contact_id in deal["linkedContactsIds"]:
                linked.setdefault(str(contact_id), set()).add(deal_id)
    return linked


def test_brevo_won_deals_are_conversions_of_their_contacts_read_once_a_day(tmp_path: Path) -> None:
    platform = BrevoPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 200, 4)
    try:
        won = brevo_won(platform)
        others = {d for d in platform.sandbox.deals if all(d not in ids for ids in won.values())}
        assert won, "the sandbox seeds won deals"
        assert others, "and deals at other stages, which are not conversions"
        assert rig.pipeline.run_cycle().status == "ok"
        deal_calls = platform.sandbox.log.calls["GET /v3/crm/deals"]
        assert deal_calls == 1 + len(platform.sandbox.deals) // 100
        assert rig.pipeline.run_cycle().status == "ok"
        assert platform.sandbox.log.calls["GET /v3/crm/deals"] == deal_calls, "deals are read once a day"
    finally:
        rig.close()
    assert set(stored_conversions(tmp_path / "state.db", "brevo")) == set(won)
    figures = backtest_store(tmp_path / "state.db", "brevo", tmp_path)
    assert figures["contacts"] == 200
    assert figures["converted"] == len(won)


def test_a_brevo_account_without_the_crm_syncs_without_deals_and_says_so(tmp_path: Path) -> None:
    platform = BrevoPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 40, 4)
    platform.sandbox.crm = False
    try:
        report = rig.pipeline.run_cycle()
        assert report.status == "ok", report.error
        assert "no sales CRM" in report.streams_off["won_deals"]
        assert report.contacts_scored == 40
    finally:
        rig.close()
    assert stored_conversions(tmp_path / "state.db", "brevo") == {}
