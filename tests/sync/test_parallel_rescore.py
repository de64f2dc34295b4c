"""A rescore split across worker processes must leave exactly what one process leaves, on both backends."""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import select

from leadscore.engine import Engine, engines, load_model_file
from leadscore.errors import CycleInterruptedError, ScoringWorkerError
from leadscore.records import Change, Contact, Event
from leadscore.rescore import IN_PROCESS, Parallelism, RescoreReport, ScoredPage, close_pools, rescore
from leadscore.store import SQLStore
from leadscore.store import schema as tables
from leadscore.store.sql import DAEMON_MEMORY, SCORING_MEMORY
from tests.conftest import DEFAULT_MODEL, NOW, contact, event
from tests.sync.conftest import Rig, portal_state

SOURCE = "par"
PAGE = 50
TWO_WORKERS = Parallelism(workers=2, min_contacts=1)
ACTIONS = [
    ("page_view", {"url": "https://example.com/pricing"}),
    ("page_view", {"url": "https://example.com/blog/a"}),
    ("email_click", {"campaign_type": "newsletter"}),
    ("form_submit", {}),
    ("quote_request", {}),
    ("webinar_attended", {}),
]


@pytest.fixture(autouse=True)
def _stop_workers() -> Iterator[None]:
    """Workers outlive a rescore on purpose (the next one starts at no cost); each test's store is its own."""
    yield
    close_pools()


def fill(store: SQLStore, contacts: int = 600, seed: int = 3) -> None:
    rng = random.Random(seed)
    people = [
        Contact(
            SOURCE,
            f"p{n:05d}",
            f"p{n}@{rng.choice(['acme.example', 'gmail.com', 'competitor.example'])}",
            {"seniority": rng.choice(["vp", "manager", None]), "company_size": rng.randint(1, 3000)},
        )
        for n in range(contacts)
    ]
    store.save_contacts(SOURCE, people)
    history = []
    for n, person in enumerate(people):
        for k in range(rng.randint(0, 9)):
            action, attributes = rng.choice(ACTIONS)
            moment = NOW - timedelta(hours=rng.randint(1, 24 * 60))
            history.append(Event(SOURCE, f"e{n}-{k}", person.id, action, moment, attributes))
    store.save_events(SOURCE, history)


def scores_table(store: SQLStore) -> list[tuple[Any, ...]]:
    s = tables.scores
    with store.db.connect() as connection:
        rows = connection.execute(
            select(s.c.contact_id, s.c.model, s.c.score, s.c.fit, s.c.behaviour, s.c.band, s.c.reasons).order_by(
                s.c.contact_id, s.c.model
            )
        )
        return [tuple(row) for row in rows]


def forget_scores(store: SQLStore) -> None:
    with store.db.begin() as connection:
        connection.execute(tables.scores.delete())
        ids = connection.execute(select(tables.contacts.c.contact_id)).scalars().all()
    store.mark_for_rescore(SOURCE, ids)


def dirty_count(store: SQLStore) -> int:
    return store.count("rescore_queue", SOURCE)


def run(store: SQLStore, compiled: list[Engine], *, only_queued: bool = False, **options: Any) -> RescoreReport[Any]:
    """A rescore of the test source at NOW in pages of PAGE, on two workers unless ``parallelism`` says otherwise."""
    settings: dict[str, Any] = {"page_size": PAGE, "parallelism": TWO_WORKERS} | options
    return rescore(store, SOURCE, compiled, NOW, only_queued=only_queued, **settings)


@pytest.fixture(scope="module")
def compiled() -> list[Engine]:
    return engines(load_model_file(DEFAULT_MODEL))


@dataclass(frozen=True)
class CountingHook:
    """A page hook as the pipeline's planner is one: data only, run in whichever process scored the page."""

    fail_from: str | None = None

    def __call__(self, store: SQLStore, page: ScoredPage, outbox: list[Change]) -> tuple[int, int]:
        if self.fail_from is not None and page[0].contact.id >= self.fail_from:
            raise ValueError("this page's hook refuses")
        return (len(page), sum(scored.results[0].score for scored in page))


@dataclass(frozen=True)
class SQLiteLimitHook:
    """Reports the soft heap limit of the process that scored the page."""

    def __call__(self, store: SQLStore, page: ScoredPage, outbox: list[Change]) -> int:
        with store.db.connect() as connection:
            return int(connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar_one())


def test_workers_read_with_the_larger_sqlite_cache_and_the_daemon_keeps_its_own(
    tmp_path: Path, compiled: list[Engine]
) -> None:
    """Workers read queued contacts at random and get the scorers' cache; the daemon's process stays bounded low."""
    store = SQLStore.open(f"sqlite:///{tmp_path / 'memory.db'}")
    fill(store)
    report = run(store, compiled, on_page=SQLiteLimitHook())
    assert report.workers == 2
    assert set(report.pages) == {SCORING_MEMORY.heap_limit_bytes}
    alone = run(store, compiled, on_page=SQLiteLimitHook(), parallelism=IN_PROCESS)
    assert set(alone.pages) == {DAEMON_MEMORY.heap_limit_bytes}
    store.close()


def test_engine_pickles_as_its_model_and_scores_the_same(engine: Engine) -> None:
    copy = pickle.loads(pickle.dumps(engine))
    history = [event("e1", "quote_request", 1), event("e2", "page_view", 2, url="https://x.example/pricing")]
    person = contact(seniority="vp")
    assert copy.score(person, history, NOW) == engine.score(person, history, NOW)


def test_workers_leave_exactly_what_one_process_leaves(store: SQLStore, compiled: list[Engine]) -> None:
    fill(store)
    alone = run(store, compiled, on_page=CountingHook(), parallelism=IN_PROCESS)
    expected = scores_table(store)
    forget_scores(store)
    shared = run(store, compiled, on_page=CountingHook())
    assert (alone.workers, shared.workers) == (1, 2)
    assert scores_table(store) == expected
    assert len(expected) == 600 * len(compiled)
    assert (shared.contacts, shared.events, shared.unmatched_actions) == (
        alone.contacts,
        alone.events,
        alone.unmatched_actions,
    )
    assert len(shared.pages) == 600 // PAGE
    assert sum(n for n, _ in shared.pages) == 600
    assert sorted(shared.pages) == sorted(alone.pages)
    assert dirty_count(store) == 0


def test_warm_workers_take_an_incremental_rescore_below_the_start_threshold(
    tmp_path: Path, compiled: list[Engine]
) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'warm.db'}")
    fill(store)
    big_only = Parallelism(workers=2, min_contacts=500)
    run(store, compiled, parallelism=big_only)
    touched = [f"p{n:05d}" for n in range(0, 600, 4)]
    store.save_events(SOURCE, [Event(SOURCE, f"new-{cid}", cid, "form_submit", NOW, {}) for cid in touched])
    again = run(store, compiled, only_queued=True, parallelism=big_only)
    assert (again.contacts, again.workers) == (len(touched), 2)
    assert dirty_count(store) == 0
    store.close()


def test_queued_contacts_that_are_gone_are_counted_into_pages_but_never_scored(
    tmp_path: Path, compiled: list[Engine]
) -> None:
    """Incremental pages are cut by counting the queue alone; a queued id whose contact was deleted or merged
    makes a page short, and is neither scored nor a reason to lose a live contact's mark."""
    store = SQLStore.open(f"sqlite:///{tmp_path / 'gone.db'}")
    fill(store)
    run(store, compiled)
    touched = [f"p{n:05d}" for n in range(0, 600, 3)]
    gone = touched[::2]
    store.mark_contacts(SOURCE, gone, deleted=True)
    store.mark_for_rescore(SOURCE, touched)
    assert store.page_ends(SOURCE, only_queued=True, page_size=PAGE) == touched[PAGE - 1 :: PAGE]
    again = run(store, compiled, only_queued=True)
    assert (again.contacts, again.workers) == (len(touched) - len(gone), 2)
    assert store.count("rescore_queue", SOURCE) == len(gone), "only the gone contacts' marks are left"
    run(store, compiled)
    assert store.count("rescore_queue", SOURCE) == 0, "the next full rescore drops them"
    store.close()


def test_a_small_rescore_does_not_start_workers(tmp_path: Path, compiled: list[Engine]) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'small.db'}")
    fill(store)
    report = run(store, compiled, parallelism=Parallelism(2, min_contacts=10_000))
    assert (report.contacts, report.workers) == (600, 1)
    store.close()


def test_an_in_memory_store_is_scored_in_process(compiled: list[Engine]) -> None:
    store = SQLStore.open("sqlite://")
    fill(store, contacts=120)
    report = run(store, compiled)
    assert (report.contacts, report.workers) == (120, 1)
    store.close()


def test_a_stop_leaves_whole_pages_and_the_rest_marked(tmp_path: Path, compiled: list[Engine]) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'stop.db'}")
    fill(store)
    asked = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) > 3

    partial: RescoreReport[tuple[int, int]] = RescoreReport()
    with pytest.raises(CycleInterruptedError):
        run(store, compiled, on_page=CountingHook(), should_stop=stop_after_three, report=partial)
    scored = {row[0] for row in scores_table(store)}
    assert len(partial.pages) == 3
    assert len(scored) % PAGE == 0
    assert len(scored) + dirty_count(store) == 600
    run(store, compiled, only_queued=True)
    finished = scores_table(store)
    forget_scores(store)
    run(store, compiled, parallelism=IN_PROCESS)
    assert finished == scores_table(store)
    store.close()


def test_a_failing_worker_names_the_range_and_loses_no_page(tmp_path: Path, compiled: list[Engine]) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'fail.db'}")
    fill(store)
    with pytest.raises(ScoringWorkerError, match=r"scoring contacts after 'p\d{5}': ValueError: this page's hook"):
        run(store, compiled, on_page=CountingHook(fail_from="p00300"))
    scored = {row[0] for row in scores_table(store)}
    assert len(scored) % PAGE == 0
    assert max(scored) < "p00300"
    assert len(scored) + dirty_count(store) == 600
    report = run(store, compiled, only_queued=True)
    assert report.contacts == 600 - len(scored)
    assert dirty_count(store) == 0
    store.close()


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dataclasses import dataclass
    from datetime import UTC, datetime
    from leadscore.engine import engines, load_model_file
    from leadscore.rescore import Parallelism, rescore
    from leadscore.store import SQLStore

    @dataclass(frozen=True)
    class SlowHook:
        def __call__(self, store, page, outbox):
            time.sleep(0.3)
            return len(page)

    if __name__ == "__main__":
        store = SQLStore.open(sys.argv[1])
        print("ready", flush=True)
        rescore(store, "par", engines(load_model_file(sys.argv[2])), datetime(2026, 11, 23, 12, tzinfo=UTC),
                only_queued=False, page_size=50, on_page=SlowHook(), parallelism=Parallelism(2, 1))
    """
)


def test_workers_of_a_killed_parent_stop_and_leave_whole_pages(tmp_path: Path, compiled: list[Engine]) -> None:
    """kill -9 of the sync process mid-rescore: its workers finish at most the page in hand, then exit."""
    url = f"sqlite:///{tmp_path / 'orphans.db'}"
    store = SQLStore.open(url)
    fill(store)
    script = tmp_path / "orphan_parent.py"
    script.write_text(ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), url, str(DEFAULT_MODEL)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "ready"
    watched = psutil.Process(parent.pid)
    deadline = time.monotonic() + 60
    while len(scores_table(store)) < 2 * PAGE * len(compiled) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = watched.children(recursive=True)
    assert workers, "the rescore started no worker processes"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    _gone, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == [], f"workers outlived their parent: {alive}"
    scored = {row[0] for row in scores_table(store)}
    assert 0 < len(scored) < 600
    assert len(scored) % PAGE == 0
    assert len(scored) + dirty_count(store) == 600
    store.close()


def test_a_cycle_with_workers_writes_what_a_cycle_in_one_process_writes(make_rig: Callable[..., Rig]) -> None:
    alone, shared = make_rig(contacts=300), make_rig(contacts=300)
    alone.pipeline.page_size = shared.pipeline.page_size = PAGE
    shared.pipeline.parallelism = TWO_WORKERS
    first, second = alone.pipeline.run_cycle(), shared.pipeline.run_cycle()
    assert (first.status, second.status) == ("ok", "ok")
    assert (first.scoring_workers, second.scoring_workers) == (1, 2)
    assert portal_state(shared.sandbox) == portal_state(alone.sandbox)
    assert second.changes == first.changes
    assert (second.score_changes, second.band_changes) == (first.score_changes, first.band_changes)
    assert len(second.sample) == len(first.sample) == 5
    assert shared.store.outbox_depth("hubspot") == 0
    idle = shared.pipeline.run_cycle()
    assert sum(idle.changes.values()) == 0


@dataclass(frozen=True)
class DyingHook:
    """A worker process that dies outright on one page, as the OOM killer would end it."""

    die_at: str

    def __call__(self, store: SQLStore, page: ScoredPage, outbox: list[Change]) -> int:
        if page[0].contact.id == self.die_at:
            os._exit(9)
        return len(page)


def test_a_dead_worker_fails_the_rescore_clearly_and_the_next_one_starts_new_workers(
    tmp_path: Path, compiled: list[Engine]
) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'dead.db'}")
    fill(store)
    with pytest.raises(ScoringWorkerError, match="a scoring worker process died"):
        run(store, compiled, on_page=DyingHook(die_at="p00300"))
    scored = {row[0] for row in scores_table(store)}
    assert len(scored) % PAGE == 0
    assert "p00300" not in scored
    report = run(store, compiled, only_queued=True)
    assert (report.workers, report.contacts) == (2, 600 - len(scored))
    assert dirty_count(store) == 0
    store.close()
