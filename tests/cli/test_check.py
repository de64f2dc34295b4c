"""``leadscore check`` against each sandbox: it reads only, names every write target and stream, says what a first
sync would create, and fails (exit 1) where a sync would stop, with the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import TARGETS
from tests.sync.platforms import PLATFORMS, Platform

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def checked(platform: Platform, tmp_path: Path, **changes: Any) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Exit code, findings by what they are about, and the printed tables."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [platform.source() | changes]}), encoding="utf-8")
    out = tmp_path / "check.json"
    result = CliRunner().invoke(app, ["check", "--sources", str(sources), "--json", str(out)], env={"COLUMNS": "200"})
    assert "Traceback" not in result.output, result.output
    findings = json.loads(out.read_text()) if out.exists() else {}
    items = {item["what"]: item for found in findings.values() for item in found}
    return result.exit_code, items, result.stdout


def platform_write_calls(platform: Platform) -> list[str]:
    calls = platform.sandbox.log.calls
    return [endpoint for endpoint, count in calls.items() if count and endpoint.split(" ")[0] in WRITES
            and "oauth" not in endpoint and "token" not in endpoint and "query" not in endpoint]  # fmt: skip


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_a_fresh_account_checks_out_naming_what_the_first_sync_creates_and_writing_nothing(
    name: str, tmp_path: Path
) -> None:
    platform = PLATFORMS[name]()
    platform.seed(10, 1)
    try:
        code, items, printed = checked(platform, tmp_path)
        assert code == 0, printed
        statuses = {what: item["status"] for what, item in items.items()}
        assert not [what for what, status in statuses.items() if status == "fail"], statuses
        assert any(what.startswith(("credentials", "describe")) for what in statuses)
        assert any(what.startswith("stream ") for what in statuses)
        assert "limits" in statuses
        band_lists = [what for what in statuses if what.startswith(("list ", "campaign "))]
        assert len(band_lists) == len(TARGETS.lists)
        assert all(statuses[what] == "warn" for what in band_lists), "no band list yet: the first sync creates them"
        assert platform_write_calls(platform) == [], "a check writes nothing"
    finally:
        platform.sandbox.stop()


def test_a_refused_hubspot_token_fails_the_check_with_the_scopes_to_grant(tmp_path: Path) -> None:
    platform = PLATFORMS["hubspot"]()
    try:
        code, items, _ = checked(platform, tmp_path, token="wrong-token")
        assert code == 1
        assert items["credentials"]["status"] == "fail"
        assert "crm.objects.contacts.read" in items["credentials"]["fix"]
    finally:
        platform.sandbox.stop()


def test_optional_streams_an_account_lacks_are_warnings_with_the_fix(tmp_path: Path) -> None:
    hubspot, brevo = PLATFORMS["hubspot"](), PLATFORMS["brevo"]()
    try:
        hubspot.sandbox.tier = "professional"  # type: ignore[attr-defined]
        code, items, _ = checked(hubspot, tmp_path)
        assert code == 0
        assert items["stream web_events"]["status"] == "warn"
        assert "Enterprise" in items["stream web_events"]["fix"]
        brevo.sandbox.crm = False  # type: ignore[attr-defined]
        code, items, _ = checked(brevo, tmp_path)
        assert code == 0
        assert items["stream won_deals"]["status"] == "warn"
    finally:
        hubspot.sandbox.stop()
        brevo.sandbox.stop()


def test_salesforce_fields_a_sync_would_stop_on_fail_the_check_naming_them(tmp_path: Path) -> None:
    platform = PLATFORMS["salesforce"]()
    try:
        code, items, _ = checked(platform, tmp_path)
        assert code == 1, "without the custom fields (and manage_fields off) a sync stops"
        missing = [what for what, item in items.items() if what.startswith("field Lead.") and item["status"] == "fail"]
        assert "field Lead.Leadscore_Score__c" in missing
        assert "manage_fields" in items["field Lead.Leadscore_Score__c"]["fix"]
    finally:
        platform.sandbox.stop()
