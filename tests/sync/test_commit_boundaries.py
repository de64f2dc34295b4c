"""A crash at every commit boundary of a cycle, on every platform and both backends, loses nothing.

The random kill -9 tests (test_crash_safety) land where the clock puts them; this
test lands on each boundary in turn. A first cycle is counted commit by commit;
then, for every N, a fresh account and store run a cycle that dies just before
its N-th commit (the transaction in flight is rolled back, nothing after it
reaches the store), a restarted process runs a normal cycle, and the store and
the platform must end exactly as after a clean cycle.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from leadscore.engine import Engine, engines, load_model_file
from leadscore.store import SQLStore, schema
from leadscore.sync.pipeline import Pipeline
from tests.conftest import DEFAULT_MODEL, postgres_schema
from tests.sync.platforms import BREVO_CONNECTOR_FAST, NOW, PLATFORMS, Platform, shown_everywhere

PEOPLE = 40
SEED = 7
UNPACED = {"limits": {**BREVO_CONNECTOR_FAST["limits"], "contacts_per_second": 100_000}}
"""The sandboxes answer at once; pacing a connector to the real per-second limits would only slow the test."""
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "brevo": ("brevo", UNPACED),
    "brevo-imports": ("brevo", {"limits": {**UNPACED["limits"], "import_threshold": 5}}),
    "hubspot": ("hubspot", {}),
    "salesforce": ("salesforce", {}),
}
"""Each platform with its connector's settings; Brevo also on its import path, whose answers are saved import by
import after the whole outbox was handed over."""


class SimulatedCrash(BaseException):
    """The process died: nothing in this process runs on, and no handler may swallow it."""


class CrashBeforeCommit:
    """Counts the store's commits and dies just before commit number ``at`` (and refuses every one after it)."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.commits = 0
        self.crashed = False

    def __call__(self, _connection: Any) -> None:
        self.commits += 1
        if self.at is not None and self.commits >= self.at:
            self.crashed = True
            raise SimulatedCrash(f"killed before commit {self.commits}")


@contextlib.contextmanager
def backend_urls(backend: str, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Store URLs of one backend, a fresh store per name."""
    if backend == "sqlite":
        yield lambda name: f"sqlite:///{tmp_path / name}.db"
        return
    opened: list[contextlib.ExitStack] = []

    def postgres(_name: str) -> str:
        stack = contextlib.ExitStack()
        opened.append(stack)
        return stack.enter_context(postgres_schema())

    try:
        yield postgres
    finally:
        for stack in opened:
            stack.close()


@functools.cache
def default_engines() -> list[Engine]:
    return engines(load_model_file(DEFAULT_MODEL))


def run_cycle(
    platform: Platform, url: str, crash: CrashBeforeCommit | None = None, overrides: dict[str, Any] | None = None
) -> None:
    """One cycle in a fresh 'process': a new store connection and a new connector, as after a restart."""
    store = SQLStore.open(url)
    connector = platform.connector(**(overrides if overrides is not None else CASES[platform.name][1]))
    if crash is not None:
        event.listen(store.db, "commit", crash)
    try:
        Pipeline(store, connector, default_engines(), clock=lambda: NOW).run_cycle()
    except SimulatedCrash:
        pass
    finally:
        if crash is not None:
            event.remove(store.db, "commit", crash)
        connector.close()
        store.close()


def store_state(url: str, source: str) -> dict[str, Any]:
    """Everything a later cycle or a person reads from the store: events per action, scores, outbox, queue."""
    store = SQLStore.open(url)
    e, s = schema.events, schema.scores
    try:
        with store.db.connect() as connection:
            by_action = dict(
                connection.execute(
                    select(e.c.action, func.count()).where(e.c.source == source).group_by(e.c.action)
                ).all()
            )
            scores = {
                row[0]: tuple(row[1:])
                for row in connection.execute(
                    select(s.c.contact_id, s.c.score, s.c.grade, s.c.band, s.c.reasons).where(s.c.source == source)
                )
            }
        return {
            "events": by_action,
            "scores": scores,
            "outbox": store.outbox_depth(source),
            "queued": store.count("rescore_queue", source),
        }
    finally:
        store.close()


def seeded(name: str) -> Platform:
    platform = PLATFORMS[name]()
    platform.seed(PEOPLE, SEED)
    return platform


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_crash_at_any_commit_then_a_normal_cycle_ends_as_a_clean_cycle(
    tmp_path: Path, case: str, backend: str
) -> None:
    name, overrides = CASES[case]
    with backend_urls(backend, tmp_path) as new_url:
        clean = seeded(name)
        clean_url = new_url("clean")
        counted = CrashBeforeCommit(at=None)
        run_cycle(clean, clean_url, counted, overrides)
        expected_store, expected_platform = store_state(clean_url, name), shown_everywhere(clean)
        clean.sandbox.stop()
        assert counted.commits >= 6, "a cycle must commit page by page for this test to mean anything"
        assert sum(expected_store["events"].values()) > 0

        failures = []
        for at in range(1, counted.commits + 1):
            crashed = seeded(name)
            url = new_url(f"crash{at}")
            crash = CrashBeforeCommit(at)
            run_cycle(crashed, url, crash, overrides)
            run_cycle(crashed, url, overrides=overrides)
            assert crash.crashed, f"the cycle made fewer than {at} commits"
            got_store, got_platform = store_state(url, name), shown_everywhere(crashed)
            crashed.sandbox.stop()
            if got_store != expected_store or got_platform != expected_platform:
                failures.append(
                    f"crash before commit {at}: events {got_store['events']} (clean {expected_store['events']}), "
                    f"scores equal {got_store['scores'] == expected_store['scores']}, outbox {got_store['outbox']}, "
                    f"queued {got_store['queued']}, platform equal {got_platform == expected_platform}"
                )
        assert failures == []
