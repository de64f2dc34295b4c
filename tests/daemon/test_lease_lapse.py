"""issue 13, item 3: the PostgreSQL lease must not lapse unnoticed. Its session sat idle in a transaction for the
whole cycle, so ``idle_in_transaction_session_timeout`` ended it (and it pinned VACUUM); when the session ended
(that timeout, or ``pg_terminate_backend``), the holder went on writing while another replica took the source."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from leadscore.errors import LeaseLostError
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.conftest import postgres_schema
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines

pytestmark = pytest.mark.postgres


@contextlib.contextmanager
def hubspot_on_postgres(extra_options: str = "") -> Iterator[tuple[HubSpotPlatform, SQLStore, str]]:
    platform = HubSpotPlatform()
    platform.seed(250, 4)
    with postgres_schema() as url:
        store = SQLStore.open(url + extra_options)
        try:
            yield platform, store, url
        finally:
            store.close()
            platform.sandbox.stop()


def on_the_side(url: str, sql: str, **parameters: Any) -> Any:
    """A statement on a connection of its own, as another process would run it."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), parameters).scalar()
    finally:
        engine.dispose()


def test_a_terminated_lease_session_stops_the_cycle_before_its_next_write() -> None:
    with hubspot_on_postgres() as (platform, store, url):
        connector = platform.connector()
        pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW, page_size=100)
        with store.source_lease("hubspot") as lease:
            assert lease
            ensure = connector.ensure_targets

            def then_terminate() -> Any:
                created = ensure()
                on_the_side(url, "select pg_terminate_backend(:pid)", pid=lease.pid)
                return created

            connector.ensure_targets = then_terminate  # type: ignore[method-assign]
            with pytest.raises(LeaseLostError, match="lease on the store was lost"):
                pipeline.run_cycle(lease=lease)
        connector.close()
        assert platform.write_calls() == 0, "nothing is written once the lease is gone"
        assert pipeline.last_report is not None
        assert pipeline.last_report.status == "failed"
        assert store.last_run("hubspot") is not None
        with store.source_lease("hubspot") as again:
            assert again, "the lock went with the session: a replica can take the source"


def test_a_lease_outlives_an_idle_in_transaction_timeout_and_never_holds_a_transaction() -> None:
    # One second, not less: on a loaded machine the store's own short transactions (a read, Python work, a write)
    # were seen to pass 300 ms between two statements and be ended by the server.
    timeout = "%20-cidle_in_transaction_session_timeout%3D1000"
    with hubspot_on_postgres(timeout) as (platform, store, url):
        platform.sandbox.faults.latency_seconds = 0.06
        connector = platform.connector()
        pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW, page_size=100)
        states: list[str] = []
        with store.source_lease("hubspot") as lease:
            ensure = connector.ensure_targets

            def then_look() -> Any:
                created = ensure()
                states.append(on_the_side(url, "select state from pg_stat_activity where pid = :pid", pid=lease.pid))
                return created

            connector.ensure_targets = then_look  # type: ignore[method-assign]
            started = time.monotonic()
            report = pipeline.run_cycle(lease=lease)
            took = time.monotonic() - started
            states.append(on_the_side(url, "select state from pg_stat_activity where pid = :pid", pid=lease.pid))
            lease.check()
        connector.close()
        assert report.status == "ok", report.error
        assert report.applied > 0
        assert states == ["idle", "idle"], "the lease's session waits outside any transaction"
        assert took > 2.0, "the cycle must outlast the timeout twice for this test to mean anything"
