"""issue 18: score history. Each change of a record's visible score, grade or band is kept with its old and new
values, the model version and what moved it; re-running changes nothing; old rows go after the retention."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines


def test_history_keeps_each_visible_change_once_and_forgets_after_the_retention(
    store: SQLStore, tmp_path: Path
) -> None:
    platform = HubSpotPlatform()
    try:
        platform.seed(30, 5)
        engine = default_engines()[0]

        def cycle(at: timedelta = timedelta(0), history_days: int = 400, full: bool = False) -> None:
            connector = platform.connector()
            try:
                pipeline = Pipeline(
                    store, connector, default_engines(), clock=lambda: NOW + at, history_days=history_days
                )
                assert pipeline.run_cycle(full_rescore=full).status == "ok"
            finally:
                connector.close()

        cycle()
        ids = platform.contact_ids()
        first = {cid: store.score_history("hubspot", cid) for cid in ids}
        assert all(len(entries) == 1 for entries in first.values()), "every record's first score is one entry"
        entry = first[ids[0]][0]
        assert entry.old_score is None
        assert entry.old_band is None
        assert entry.model_version == engine.version
        assert len(engine.version) == 12
        cycle()
        assert all(len(store.score_history("hubspot", cid)) == 1 for cid in ids), "re-running adds nothing"

        chosen = ids[1]
        before = store.score_history("hubspot", chosen)[-1]
        platform.high_intent(chosen, store)
        cycle()
        [_, raised] = store.score_history("hubspot", chosen)
        assert (raised.old_score, raised.old_band) == (before.new_score, before.new_band)
        assert raised.new_score > before.new_score
        assert raised.contributions, "the rules behind the new score are kept"
        assert any("quote" in reason or "demo" in reason for reason, _ in raised.contributions), raised.contributions

        cycle(timedelta(days=120), full=True)  # decay reaches records without new data through the full rescore
        decayed = store.score_history("hubspot", chosen)
        assert len(decayed) == 3
        assert decayed[-1].new_score < raised.new_score, "decay is history too"

        result = CliRunner().invoke(
            app,
            ["history", "--contact", chosen, "--state", str(store.db.url), "--json", str(tmp_path / "h.jsonl")],
        )
        assert result.exit_code == 0, result.output
        assert f"{before.new_score} -> {raised.new_score}" in result.output
        lines = [json.loads(line) for line in (tmp_path / "h.jsonl").read_text().splitlines()]
        assert [line["new_score"] for line in lines] == [e.new_score for e in decayed]

        cycle(timedelta(days=120 + 401), history_days=400)
        assert all(
            e.changed_at >= NOW + timedelta(days=121) for cid in ids for e in store.score_history("hubspot", cid)
        )
    finally:
        platform.sandbox.stop()


def test_history_of_an_unknown_contact_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    SQLStore.open(url).close()
    result = CliRunner().invoke(app, ["history", "--contact", "nobody", "--state", url])
    assert result.exit_code == 1
    assert "no score history for 'nobody'" in result.output
