"""issue 14, progress: a long cycle says how far it is (a live line on a terminal; a line every half minute when
not on one, as when `sync --once` is piped to a file or run by cron), with counts and rates."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from leadscore.cli import progress
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines


def test_a_cycle_off_a_terminal_prints_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines went to the "leadscore.sync" logger, which `sync --once` leaves at Python's default level
    (warnings only): a piped six-minute first cycle printed none."""
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.01)
    platform = HubSpotPlatform()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        platform.seed(150, 2)
        connector = platform.connector()
        pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW, page_size=20)
        printed = io.StringIO()
        piped = Console(file=printed, force_terminal=False, width=80)
        with progress.shown(pipeline, piped):
            report = pipeline.run_cycle()
        connector.close()
        assert report.status == "ok"
        lines = [line for line in printed.getvalue().splitlines() if "contacts read" in line]
        assert lines, "progress was logged while the cycle ran"
        assert all(line.startswith("source hubspot: ") for line in lines)
        final = progress.progress_line(pipeline, 0.0)
        assert "150 contacts read" in final
        assert "150 scored" in final
    finally:
        store.close()
        platform.sandbox.stop()
