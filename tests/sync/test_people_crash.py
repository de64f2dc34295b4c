"""Three sources sharing people, a crash at every commit of their cycles, then normal cycles: nothing lost,
nothing doubled, and every platform ends as after clean cycles (the cross-source writes included).

The crashes land at every commit of one pass of the three cycles: that pass already holds every kind of commit
(a pulled page, a scored page that plans another source's writes, the apply of writes another source planned);
the passes after it are the recovery, and the clean run makes the same passes.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event

from leadscore.people import PeopleScope
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.conftest import sync_once
from tests.sync.platforms import NOW, PLATFORMS, Platform, shown_everywhere
from tests.sync.test_commit_boundaries import (
    CrashBeforeCommit,
    SimulatedCrash,
    backend_urls,
    default_engines,
    store_state,
)
from tests.sync.test_people_cycles import UNPACED

NAMES = ("hubspot", "brevo", "salesforce")
GROUP = PeopleScope(
    sources=NAMES,
    labels={"hubspot": "HubSpot", "brevo": "Brevo", "salesforce": "Salesforce"},
    first_pull_wait=timedelta(0),
)
"""Sources score in their first cycle (``first_pull_wait_minutes: 0``), so that one pass holds every kind of commit,
an apply of writes another source planned included; the SIGKILL test below runs the default group, whose first
cycles wait for the others' first pull."""
SHARED = 6
WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Each crash runs on fresh accounts and a fresh store, so they run side by side, one per core."""


def accounts() -> dict[str, Platform]:
    """Small accounts whose people overlap: everyone shared is in two or three platforms."""
    platforms = {name: PLATFORMS[name]() for name in NAMES}
    for platform in platforms.values():
        platform.seed(12, 5)
    for number in range(SHARED):
        email = f"shared{number}@people.example"
        for name in NAMES[: 2 + number % 2]:
            platforms[name].add_person(email, industry="software" if name == "salesforce" else "retail")
    return platforms


def engage(platforms: dict[str, Platform], url: str) -> None:
    """High intent seen by Brevo (through its webhook) for a person Salesforce and HubSpot also hold."""
    store = SQLStore.open(url)
    try:
        brevo = platforms["brevo"]
        contacts = brevo.sandbox.contacts  # type: ignore[attr-defined]
        shared = next(i for i in brevo.contact_ids() if contacts[int(i)].email == "shared1@people.example")
        brevo.high_intent(shared, store)
    finally:
        store.close()


def round_of_cycles(
    platforms: dict[str, Platform], url: str, crash: CrashBeforeCommit | None = None, passes: int = 2
) -> None:
    """Every source's cycle, ``passes`` times (a second pass sends what the others planned), in one 'process':
    a crash ends the process there."""
    store = SQLStore.open(url)
    for name, hook in _hooks(crash):
        event.listen(store.db, name, hook)
    try:
        for _ in range(passes):
            for name in NAMES:
                connector = platforms[name].connector(**UNPACED.get(name, {}))
                try:
                    Pipeline(store, connector, default_engines(), clock=lambda: NOW, people=GROUP).run_cycle()
                finally:
                    connector.close()
    except SimulatedCrash:
        pass
    finally:
        for name, hook in _hooks(crash):
            event.remove(store.db, name, hook)
        store.close()


def _hooks(crash: CrashBeforeCommit | None) -> list[tuple[str, Any]]:
    """The store events a crash (and, for CommitKinds, its notes of what each commit writes) listens to."""
    if crash is None:
        return []
    if isinstance(crash, CommitKinds):
        return [("commit", crash), ("before_cursor_execute", crash.statement), ("rollback", crash.rolled_back)]
    return [("commit", crash)]


def everything(platforms: dict[str, Platform], url: str) -> dict[str, object]:
    return {name: (store_state(url, name), shown_everywhere(platforms[name])) for name in NAMES}


def stop(platforms: dict[str, Platform]) -> None:
    for platform in platforms.values():
        platform.sandbox.stop()


def crash_then_recover(at: int, url: str) -> tuple[bool, dict[str, object]]:
    """In a process of its own: fresh accounts, a pass that dies before commit ``at``, then the recovery."""
    crashed = accounts()
    try:
        engage(crashed, url)
        crash = CrashBeforeCommit(at)
        round_of_cycles(crashed, url, crash, passes=1)
        round_of_cycles(crashed, url)
        return crash.crashed, everything(crashed, url)
    finally:
        stop(crashed)


WRITES = re.compile(r"^\s*(?:insert\s+into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)


class CommitKinds(CrashBeforeCommit):
    """Counts commits as CrashBeforeCommit does, and notes the tables each one writes: its kind."""

    def __init__(self) -> None:
        super().__init__(at=None)
        self.kinds: list[frozenset[str]] = []
        self._writing: set[str] = set()

    def statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if found := WRITES.match(statement):
            self._writing.add(found.group(1).lower())

    def __call__(self, connection: Any) -> None:
        super().__call__(connection)
        self.kinds.append(frozenset(self._writing))
        self._writing.clear()

    def rolled_back(self, _connection: Any) -> None:
        self._writing.clear()

    def first_and_last_of_each_kind(self) -> list[int]:
        """Commit numbers (from 1): the first and the last commit that writes each set of tables."""
        ends: dict[frozenset[str], list[int]] = {}
        for number, kind in enumerate(self.kinds, start=1):
            ends.setdefault(kind, [number, number])[1] = number
        return sorted({number for first, last in ends.values() for number in (first, last)})


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_crash_at_any_commit_of_sources_sharing_people_ends_as_clean_cycles(tmp_path: Path, backend: str) -> None:
    """On SQLite a crash lands before every commit of the pass. On PostgreSQL, whose store code is the same
    statements under another dialect (and whose per-source cycles crash at every commit in
    test_commit_boundaries.py), it lands before the first and the last commit of each kind (the set of tables a
    commit writes): 20 of its 73 commits, where every one cost the longest test of the suite."""
    with backend_urls(backend, tmp_path) as new_url:
        clean, clean_url = accounts(), new_url("clean")
        engage(clean, clean_url)
        counted = CommitKinds()
        round_of_cycles(clean, clean_url, counted, passes=1)
        round_of_cycles(clean, clean_url)
        expected = everything(clean, clean_url)
        stop(clean)
        scores = expected["salesforce"][0]["scores"]  # type: ignore[index]
        assert any("(Brevo" in values[3] for values in scores.values()), "a Brevo engagement reached Salesforce"

        every = range(1, counted.commits + 1)
        commits = list(every) if backend == "sqlite" else counted.first_and_last_of_each_kind()
        assert len(set(counted.kinds)) >= 8, "the pass holds pulled pages, scored pages, applies, cursors and runs"
        urls = [new_url(f"crash{at}") for at in commits]
        with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
            outcomes = list(pool.map(crash_then_recover, commits, urls))
        failures = []
        for at, (crashed, got) in zip(commits, outcomes, strict=True):
            assert crashed, f"the cycles made fewer than {at} commits"
            if got != expected:
                differing = [name for name in NAMES if got[name] != expected[name]]
                failures.append(f"crash before commit {at} of {counted.commits}: {', '.join(differing)} differ")
        assert failures == []


KILLS = 10


def engage_round(platforms: dict[str, Platform], url: str, round_number: int) -> None:
    """High intent for one shared person per round, seen by a platform that changes from round to round."""
    store = SQLStore.open(url)
    try:
        name = NAMES[round_number % len(NAMES)]
        email = f"shared{round_number % SHARED}@people.example"
        for contact_id in platforms[name].contact_ids():
            if email_of(platforms[name], contact_id) == email:
                platforms[name].high_intent(contact_id, store)
    finally:
        store.close()


def email_of(platform: Platform, contact_id: str) -> str | None:
    sandbox: Any = platform.sandbox
    if platform.name == "salesforce":
        return (sandbox.find(contact_id) or {}).get("Email")
    if platform.name == "hubspot":
        return sandbox.contacts[int(contact_id)].properties.get("email")
    return sandbox.contacts[int(contact_id)].email


def sync_command(platforms: dict[str, Platform], workdir: Path, state: str) -> list[str]:
    sources = workdir / f"sources-{platforms['hubspot'].sandbox.port}.yaml"
    entries = [platforms[name].source() for name in NAMES]
    entries[NAMES.index("brevo")]["mapping"] = UNPACED["brevo"]
    sources.write_text(yaml.safe_dump({"sources": entries, "people": {"sources": list(NAMES)}}), encoding="utf-8")
    return sync_once(sources, state, "--now", NOW.isoformat())


def requests(platforms: dict[str, Platform]) -> int:
    return sum(platform.sandbox.log.total() for platform in platforms.values())


@pytest.mark.slow
def test_sigkill_at_random_points_of_sources_sharing_people_loses_nothing(tmp_path: Path) -> None:
    clean, clean_state = accounts(), f"sqlite:///{tmp_path / 'clean.db'}"
    for round_number in range(KILLS):
        engage_round(clean, clean_state, round_number)
    for _ in range(2):
        subprocess.run(sync_command(clean, tmp_path, clean_state), check=True, capture_output=True, timeout=120)
    expected = everything(clean, clean_state)

    crashed, state = accounts(), f"sqlite:///{tmp_path / 'crashed.db'}"
    sync = sync_command(crashed, tmp_path, state)
    rng = random.Random(5)
    killed = 0
    for round_number in range(KILLS):
        engage_round(crashed, state, round_number)
        process = subprocess.Popen(sync, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_after = requests(crashed) + rng.randint(1, 40)
        while process.poll() is None and requests(crashed) < kill_after:
            time.sleep(0.002)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait(timeout=60)
    for _ in range(2):
        subprocess.run(sync, check=True, capture_output=True, timeout=120)
    got = everything(crashed, state)
    stop(clean)
    stop(crashed)
    assert killed >= KILLS * 3 // 4, "kills must land inside the cycles for this test to mean anything"
    assert [name for name in NAMES if got[name] != expected[name]] == []
