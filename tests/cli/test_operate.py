"""issue 14, operator commands: ``leadscore runs`` shows the run history; ``leadscore state show|reset`` shows and
forgets where a source's streams stand, after which the next cycle reads them again from the start."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines


def test_runs_and_state_show_and_reset(store: SQLStore) -> None:
    platform = HubSpotPlatform()
    try:
        platform.seed(20, 3)

        def cycle() -> int:
            connector = platform.connector()
            try:
                report = Pipeline(store, connector, default_engines(), clock=lambda: NOW).run_cycle()
            finally:
                connector.close()
            assert report.status == "ok"
            return report.contacts_read

        assert cycle() == 20
        cycle()
        assert cycle() == 0, "the records leadscore wrote were read back once"
        url = store.db.url.render_as_string(hide_password=False)
        runner = CliRunner()
        listed = runner.invoke(app, ["runs", "--state", url, "--json"])
        assert listed.exit_code == 0, listed.output
        runs = [json.loads(line) for line in listed.output.splitlines()]
        assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
        assert runs[0]["report"]["contacts_read"] == 0, "newest first"
        assert runs[-1]["report"]["contacts_read"] == 20
        shown = runner.invoke(app, ["state", "show", "--source", "hubspot", "--state", url])
        assert shown.exit_code == 0, shown.output
        assert "contacts" in shown.output
        assert "web_events" in shown.output
        wrong = runner.invoke(app, ["state", "reset", "--source", "hubspot", "--stream", "nope", "--state", url])
        assert wrong.exit_code == 2
        assert "it has: " in wrong.output
        reset = runner.invoke(app, ["state", "reset", "--source", "hubspot", "--stream", "contacts", "--state", url])
        assert reset.exit_code == 0, reset.output
        assert store.cursor("hubspot", "contacts") is None
        assert store.cursor("hubspot", "web_events") is not None, "other streams keep their place"
        assert cycle() == 20, "the next cycle reads the contacts from the start"
    finally:
        platform.sandbox.stop()


def test_reset_of_every_stream_keeps_the_source_s_own_marks(store: SQLStore) -> None:
    """`state reset` without `--stream` forgets where the streams stand, not what the store remembers of the
    source itself: that it was read to the end once (its people group's first scoring waits on that) and its
    people group (forgotten, the next cycle would take the group as changed and rescore every record)."""
    store.set_cursor("hubspot", "contacts", {"after": "42"})
    store.set_cursor("hubspot", "web_events", {"after": 7})
    assert store.scope_changed("hubspot", "group-fingerprint")
    store.mark_pulled("hubspot")
    url = store.db.url.render_as_string(hide_password=False)
    runner = CliRunner()
    mark = runner.invoke(app, ["state", "reset", "--source", "hubspot", "--stream", "_pulled", "--state", url])
    assert mark.exit_code == 2, "a mark of the store is not a stream"
    assert "it has: contacts, web_events" in mark.output
    reset = runner.invoke(app, ["state", "reset", "--source", "hubspot", "--state", url])
    assert reset.exit_code == 0, reset.output
    assert "reset 2 stream(s) of hubspot: contacts, web_events" in reset.output
    assert store.cursor("hubspot", "contacts") is None
    assert store.cursor("hubspot", "web_events") is None
    assert store.never_pulled(["hubspot"]) == []
    assert not store.scope_changed("hubspot", "group-fingerprint", remember=False)


def test_explain_of_a_live_sources_record_shows_what_its_cycle_wrote(tmp_path: Path) -> None:
    """issue 14: `explain --state --source --contact` reads the record and its events from the store and scores
    them as the cycle did; the score and the reasons it shows are the ones on the record."""
    from tests.sync.platforms import build_rig

    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 40, 3)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        stored = rig.store.visible_scores("hubspot", platform.contact_ids())
    finally:
        rig.close()
    (contact_id, _), shown = max(stored.items(), key=lambda item: item[1].score)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    result = CliRunner().invoke(
        app,
        ["explain", "--state", state, "--source", "hubspot", "--contact", contact_id, "--now", NOW.isoformat(),
         "--sources", str(tmp_path / "none.yaml")],
        env={"COLUMNS": "250"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"score {shown.score}  grade {shown.grade}  band {shown.band}" in result.stdout
    assert f"written as: {shown.reasons}" in result.stdout
    missing = CliRunner().invoke(app, ["explain", "--state", state, "--source", "hubspot", "--contact", "nope"])
    assert missing.exit_code == 2
    assert "source hubspot has no live record 'nope' (not in it)" in missing.stderr
