"""A store filled by real sandbox cycles (Salesforce, with a locked record whose change is set aside), and the
console over it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from leadscore.console import ConsoleConfig, create_console
from leadscore.engine import Engine
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline
from leadscore.web import HttpServer
from tests.sync.platforms import NOW, SalesforcePlatform
from tests.sync.test_commit_boundaries import default_engines

TOKEN = "console-test-token-0123456789"
LAST_CYCLE = NOW + timedelta(days=8)
LATER = NOW + timedelta(days=9)


@dataclass
class Filled:
    store: SQLStore
    platform: SalesforcePlatform
    locked: str
    raised: str
    reports: list[CycleReport]
    engines: list[Engine]

    def cycle(self, at: timedelta = timedelta(0), *, full: bool = False) -> CycleReport:
        connector = self.platform.connector()
        try:
            report = Pipeline(self.store, connector, self.engines, clock=lambda: NOW + at).run_cycle(full_rescore=full)
        finally:
            connector.close()
        self.reports.append(report)
        return report

    def console_app(self, at: datetime = LATER, reports: Path | None = None) -> Starlette:
        return create_console(
            ConsoleConfig(
                store=self.store,
                engines=self.engines,
                token=TOKEN,
                sources=[("salesforce", "Salesforce")],
                model_file="config/scoring.yaml",
                clock=lambda: at,
                reports=reports,
            )
        )


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[httpx.Client]:
    """The app on a real loopback port (uvicorn, as the daemon serves it), and a client that keeps cookies."""
    server = HttpServer(app, "127.0.0.1", 0)
    port = server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


@functools.cache
def _engines() -> list[Engine]:
    return list(default_engines())


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Filled]:
    platform = SalesforcePlatform()
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        platform.seed(40, 6)
        ids = platform.contact_ids()
        locked = ids[0]
        platform.sandbox.locked_ids.add(locked)
        state = Filled(store, platform, locked, "", [], _engines())
        assert state.cycle().status == "ok"
        state.raised = next(cid for cid in ids[1:] if store.score_history("salesforce", cid)[-1].new_score > 0)
        platform.high_intent(state.raised, store)
        assert state.cycle(timedelta(days=1)).status == "ok"
        assert state.cycle(LAST_CYCLE - NOW, full=True).status == "ok", "a week on, the daily full rescore ages scores"
        yield state
    finally:
        store.close()
        platform.sandbox.stop()
