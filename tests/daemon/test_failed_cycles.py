"""Issue 13, item 2 (and 12): a cycle that raises anything, not only leadscore's own errors, is counted and told."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from leadscore.daemon.service import Daemon
from leadscore.engine import engines, load_model_file
from leadscore.settings import Settings, load_sources
from leadscore_sandbox.hubspot import HubSpotSandbox
from tests.conftest import DEFAULT_MODEL
from tests.daemon.conftest import write_sources


@pytest.fixture
def service(tmp_path: Path, sandbox: HubSpotSandbox, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUBSPOT_TOKEN", "sandbox-token")
    sources = write_sources(tmp_path / "sources.yaml", sandbox.url)
    settings = Settings(
        state_url=f"sqlite:///{tmp_path / 'state.db'}", sources_file=sources, model=DEFAULT_MODEL, ready_failed_cycles=2
    )
    built = Daemon(settings, load_sources(sources), engines(load_model_file(DEFAULT_MODEL)))
    yield built
    built.single.release()
    built.store.close()


@pytest.mark.parametrize(
    "fault",
    [ValueError("garbage 200 answer"), OSError(28, "No space left on device"), ZeroDivisionError("nan in model")],
    ids=["garbage", "full-disk", "engine-bug"],
)
def test_a_cycle_that_raises_anything_counts_as_failed_everywhere(
    service: Any, sandbox: HubSpotSandbox, fault: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state = service.sources["hubspot"]
    connector = state.pipeline.connector

    def broken(cursor: Any) -> Any:
        connector.client.list_contacts(None, ["email"])  # one real call before the fault: it must be counted
        raise fault

    connector.read_contacts = broken
    for _ in range(2):
        report = service.run_source("hubspot")
        assert report is not None
        assert report.status == "failed"
    assert type(fault).__name__ in (report.error or "")
    assert sum(report.api_calls.values()) >= 1, "the calls the failed cycle made are in its report"
    assert state.failed_in_a_row == 2
    metrics = generate_latest(service.metrics.registry).decode()
    assert 'leadscore_cycles_total{source="hubspot",status="failed"} 2.0' in metrics
    ready, detail = service.readiness()
    assert not ready, "two failures in a row: /readyz says 503"
    assert detail["sources"]["hubspot"] == {"last": "failed", "failed_in_a_row": 2}
    assert service.store.last_run("hubspot")[0] == "failed", "the runs row is closed, not left running"
    assert "cycle hubspot failed" in caplog.text, "the cycle log line"
    assert "cycle failed with an unexpected" in caplog.text


def test_a_run_left_running_is_closed_as_failed_by_the_next_run(service: Any) -> None:
    store = service.store
    abandoned = store.start_run("hubspot")
    assert store.last_run("hubspot")[0] == "running"
    store.finish_run(store.start_run("hubspot"), "ok", {})
    from sqlalchemy import select

    from leadscore.store import schema

    with store.db.connect() as connection:
        status = connection.execute(select(schema.runs.c.status).where(schema.runs.c.id == abandoned)).scalar_one()
    assert status == "failed"
