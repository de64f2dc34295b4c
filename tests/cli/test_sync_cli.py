"""The platform commands as a user types them: demo, sync --dry-run, sync, and their errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.cli.sync import print_report
from leadscore.daemon.leases import SingleDaemonLock
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport
from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot_seed import seed_hubspot
from tests.conftest import DEFAULT_MODEL, postgres_schema

runner = CliRunner()


def test_demo_reads_scores_writes_and_shows_the_top_leads(tmp_path: Path) -> None:
    found = tmp_path / "demo.json"
    result = runner.invoke(
        app, ["demo", "--contacts", "60", "--top", "3", "--model", str(DEFAULT_MODEL), "--json", str(found)]
    )
    assert result.exit_code == 0, result.output
    assert "hubspot-sandbox: ok" in result.stdout
    assert "read 60 contacts" in result.stdout
    assert "wrote: 60 property updates, 60 list adds" in result.stdout
    assert "top 3 leads of hubspot-sandbox (lead)" in result.stdout
    assert "API calls:" in result.stdout
    assert "one person, one score" in result.stdout
    assert "as one person it is" in result.stdout, "the sandboxes share people; one of them scores higher as one"
    assert "from other platforms' engagement" in result.stdout
    top = result.stdout.split("top 3 leads of hubspot-sandbox (lead):")[1].split("\n")[1:7]
    assert [line.startswith("    why: ") for line in top] == [False, True] * 3, "piped (80 columns): a line per lead"
    assert "┃" not in result.stdout.split("one person, one score")[0].split("top 3 leads of")[1]
    shown = json.loads(found.read_text())
    assert set(shown["sources"]) == {"brevo-sandbox", "hubspot-sandbox", "salesforce-sandbox"}
    assert len(shown["sources"]["hubspot-sandbox"]["top"]) == 3
    assert shown["sources"]["hubspot-sandbox"]["report"]["status"] == "ok"
    assert shown["person"]["together"] > shown["person"]["alone"]


def sources_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        yaml.safe_dump({"sources": [{"name": "hs", "platform": "hubspot", "base_url": url, "token": "sandbox-token"}]})
    )
    return path


def test_sync_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    server = HubSpotSandbox().start()
    try:
        seed_hubspot(server, 25, seed=2)
        args = [
            "sync",
            "--once",
            "--sources",
            str(sources_file(tmp_path, server.url)),
            "--state",
            f"sqlite:///{tmp_path / 's.db'}",
            "--model",
            str(DEFAULT_MODEL),
        ]
        result = runner.invoke(app, [*args, "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "hs: dry-run" in result.stdout
        assert "would write: 25 property updates, 25 list adds" in result.stdout
        assert "sample of the plan:" in result.stdout
        assert "leadscore_score: (empty) -> '" in result.stdout, "old -> new values, as an operator reads them"
        assert "join list lead:" in result.stdout
        assert "{" not in result.stdout.split("sample of the plan:")[1], "no Python dicts"
        assert server.log.calls["POST /crm/v3/objects/contacts/batch/update"] == 0
        assert not server.lists
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "applied 50" in result.stdout
        spent = result.stdout.split("  time: ")[1].splitlines()[0]
        assert "contacts " in spent, "where the cycle's time went"
        assert "writes " in spent
        reading = result.stdout.split("  reading: ")[1].splitlines()[0]
        assert re.match(r"contacts \d+ pages, waited \d+\.\ds, saved \d+\.\ds", reading), (
            "whether the platform or the store held a stream up"
        )
        assert "web_events " in reading
        assert "email_events " in reading
    finally:
        server.stop()


def test_sync_with_a_missing_sources_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sync", "--once", "--sources", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "sources file not found" in result.stderr
    assert "sources.example.yaml" in result.stderr


def test_sync_with_a_bad_source_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"name": "hs", "platform": "hubspot", "tokn": "x"}]}))
    result = runner.invoke(app, ["sync", "--once", "--sources", str(path)])
    assert result.exit_code == 2
    assert "sources[0]: tokn: Extra inputs are not permitted" in result.stderr


def _sync_args(tmp_path: Path, url: str, state: str) -> list[str]:
    sources = str(sources_file(tmp_path, url))
    return ["sync", "--once", "--sources", sources, "--state", state, "--model", str(DEFAULT_MODEL)]


def test_sync_once_refuses_to_write_beside_a_daemon_on_the_same_sqlite_store(tmp_path: Path) -> None:
    """issue 13, item 13: it double-wrote next to a running daemon."""
    server = HubSpotSandbox().start()
    state = f"sqlite:///{tmp_path / 's.db'}"
    daemon_store = SQLStore.open(state)
    daemon_lock = SingleDaemonLock(daemon_store)
    try:
        seed_hubspot(server, 10, seed=2)
        args = _sync_args(tmp_path, server.url, state)
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "a leadscore daemon (or another sync) is running on" in result.stderr
        assert server.log.total() == 0, "nothing was read or written"
        dry = runner.invoke(app, [*args, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert server.log.calls["POST /crm/v3/objects/contacts/batch/update"] == 0
        daemon_lock.release()
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "applied 20" in result.stdout
    finally:
        daemon_lock.release()
        daemon_store.close()
        server.stop()


@pytest.mark.postgres
def test_sync_once_skips_a_source_whose_lease_a_daemon_holds_on_postgresql(tmp_path: Path) -> None:
    server = HubSpotSandbox().start()
    with postgres_schema() as state:
        daemon_store = SQLStore.open(state)
        try:
            seed_hubspot(server, 10, seed=2)
            with daemon_store.source_lease("hs") as held:
                assert held
                result = runner.invoke(app, _sync_args(tmp_path, server.url, state))
            assert result.exit_code == 1
            assert "hs: skipped" in result.stdout
            assert "holds source hs's lease" in result.stdout
            assert server.log.total() == 0
            result = runner.invoke(app, _sync_args(tmp_path, server.url, state))
            assert result.exit_code == 0, result.output
        finally:
            daemon_store.close()
            server.stop()


def test_stores_whose_names_differ_only_in_suffix_lock_apart(tmp_path: Path) -> None:
    first = SQLStore.open(f"sqlite:///{tmp_path / 'x.db'}")
    second = SQLStore.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        one, two = SingleDaemonLock(first), SingleDaemonLock(second)
        one.release()
        two.release()
    finally:
        first.close()
        second.close()


def test_the_cycle_summary_names_streams_left_out_or_waiting_for_their_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = CycleReport("brevo", status="ok")
    report.streams_off["won_deals"] = "the account has no sales CRM (403)"
    report.streams_waiting["campaign_exports"] = "the other budget has no calls left for 2676 s"
    print_report(report)
    shown = capsys.readouterr().out
    assert "stream won_deals left out: the account has no sales CRM (403)" in shown
    assert "stream campaign_exports waits for its budget (read on by a later cycle): the other budget" in shown
