"""user-pain S3, "the ten to test first" #10: two daemons on one PostgreSQL store sync each source once at a time,
and when the holder is killed the other takes the source over."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from leadscore.store import SQLStore
from leadscore.store import schema as tables
from leadscore_sandbox.hubspot import HubSpotSandbox
from tests.conftest import postgres_schema
from tests.daemon.conftest import DaemonProcess, daemon_env, write_sources

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def run_intervals(url: str) -> list[tuple[float, float]]:
    store = SQLStore.open(url)
    try:
        runs = tables.runs
        with store.db.connect() as connection:
            rows = connection.execute(
                select(runs.c.started_at, runs.c.finished_at).where(runs.c.finished_at.is_not(None))
            ).all()
    finally:
        store.close()
    return sorted((start.timestamp(), end.timestamp()) for start, end in rows)


def test_two_replicas_sync_each_source_once_and_take_over_on_crash(
    tmp_path: Path, sandbox: HubSpotSandbox, postgres_url: str
) -> None:
    sandbox.access_tokens.update({"token-a", "token-b"})
    sandbox.faults.latency_seconds = 0.01
    sources = write_sources(tmp_path / "s.yaml", sandbox.url, interval=1)
    first = DaemonProcess(daemon_env(tmp_path, sources, postgres_url, token="token-a"), tmp_path / "a.log")
    second = DaemonProcess(daemon_env(tmp_path, sources, postgres_url, token="token-b"), tmp_path / "b.log")
    replicas = {"token-a": first, "token-b": second}
    try:
        deadline = time.monotonic() + 60
        while first.cycles() + second.cycles() < 3:
            assert time.monotonic() < deadline, first.output() + second.output()
            time.sleep(0.1)
        contended = "another replica holds it" in first.output() + second.output()
        active = "token-a" if first.cycles() >= second.cycles() else "token-b"
        standby = "token-b" if active == "token-a" else "token-a"
        killed_at = time.time()
        replicas[active].kill()
        time.sleep(5)
    finally:
        for replica in replicas.values():
            if replica.process.poll() is None:
                assert replica.terminate() == 0

    assert contended, "both replicas must have tried the source while the other held it"
    intervals = run_intervals(postgres_url)
    assert len(intervals) >= 4
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end - 0.01, "two cycles of one source overlapped"
    for start, end in intervals:
        callers = {token for moment, token in sandbox.callers if start <= moment <= end}
        assert len(callers) <= 1, f"requests of both replicas inside one cycle: {callers}"
    after_kill = {token for moment, token in sandbox.callers if moment > killed_at + 0.5}
    assert after_kill == {standby}, "the surviving replica takes the source over"
    assert any(start > killed_at for start, _ in intervals)
