"""issue 14, progress: a long cycle says how far it is (a live line on a terminal; a log line every half minute
when not on one), with counts and rates."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from leadscore.cli import progress
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines


def test_a_cycle_off_a_terminal_logs_its_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.01)
    platform = HubSpotPlatform()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        platform.seed(150, 2)
        connector = platform.connector()
        pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW, page_size=20)
        piped = Console(file=io.StringIO(), force_terminal=False)
        with caplog.at_level(logging.INFO, logger="leadscore.sync"), progress.shown(pipeline, piped):
            report = pipeline.run_cycle()
        connector.close()
        assert report.status == "ok"
        lines = [r.getMessage() for r in caplog.records if "contacts read" in r.getMessage()]
        assert lines, "progress was logged while the cycle ran"
        assert all(line.startswith("source hubspot: ") for line in lines)
        final = progress.progress_line(pipeline, 0.0)
        assert "150 contacts read" in final
        assert "150 scored" in final
    finally:
        store.close()
        platform.sandbox.stop()
