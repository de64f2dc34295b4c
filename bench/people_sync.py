"""Benchmark: HubSpot, Brevo and Salesforce sandboxes synced as one people group, at the platforms' real limits.

    python bench/people_sync.py                 # 10,000 records per sandbox
    python bench/people_sync.py --size 2000

Each sandbox runs in its own process (`leadscore sandbox`, seeded with the same
seed, so they share people: record i of a platform is shared person i + its
offset). The cycles run here, one source after another: a first round (each
source's cycle twice: the second sends what the other sources' cycles planned for
it), then 1% of Brevo's people gain events (through its webhook) and a round of
Brevo, HubSpot and Salesforce, each scoring as `leadscore sync` does (in worker processes
for a large rescore, LEADSCORE_SCORING_WORKERS). For every cycle, each write batch the connector
sends is counted (changes by kind and list, calls, seconds); the minimum for the
same writes and their time at the platform's limits is the platform's own
write-cost arithmetic (what `leadscore plan` shows). Prints calls / minimum and
write seconds / floor per source and phase, each source's cycle seconds against the
least time its API calls take at the platform's per-second limits and the CPU time
leadscore spent in them, and the syncing process's peak RSS; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import random
import resource
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from _sync_run import SANDBOX_SOURCES, free_port, sandbox_source, start_sandbox
from leadscore.connectors.brevo.mapping import BrevoMapping
from leadscore.connectors.hubspot.mapping import HubSpotMapping
from leadscore.connectors.mapping import load_mapping
from leadscore.engine import engines, load_model_file
from leadscore.people import PeopleScope
from leadscore.platforms import build_connector, platform
from leadscore.protocol import Connector, Gathering, Outcome, PendingChange, Progress
from leadscore.settings import load_settings
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from leadscore.sync.plan import WriteTally, write_targets

ROOT = Path(__file__).resolve().parent.parent
SANDBOXES = tuple(SANDBOX_SOURCES)


@dataclass
class Writes:
    """What one cycle of one source sent: changes by kind and list, calls, and seconds spent sending."""

    tally: WriteTally = field(default_factory=WriteTally)
    calls: int = 0
    seconds: float = 0.0
    applies: list[str] = field(default_factory=list)
    """One line per apply: its changes by kind and the calls it took (printed with ``--applies``)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Counted:
    """A connector whose every apply is counted; everything else passes through."""

    def __init__(self, inner: Connector, writes: Writes) -> None:
        self._inner = inner
        self._writes = writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def apply(self, entries: Sequence[PendingChange], progress: Progress | None = None) -> list[Outcome]:
        with self._counted() as calls:
            outcomes = self._inner.apply(entries, progress)
        kinds = Counter(entry.change.kind for entry in entries)
        with self._writes.lock:
            self._writes.applies.append(f"{dict(kinds)} in {calls[0]} calls")
            self._writes.tally.add([entry.change for entry in entries])
        return outcomes

    @contextlib.contextmanager
    def _counted(self) -> Iterator[list[int]]:
        """The calls and seconds of what runs inside, added to the cycle's writes (and yielded, once done)."""
        before = sum(self._inner.usage().calls.values())
        started = time.monotonic()
        calls = [0]
        yield calls
        calls[0] = sum(self._inner.usage().calls.values()) - before
        with self._writes.lock:
            self._writes.seconds += time.monotonic() - started
            self._writes.calls += calls[0]


class CountedGathering(Counted):
    """A gathering connector counted: what its release sends counts as writes too."""

    def __init__(self, inner: Connector, writes: Writes) -> None:
        assert isinstance(inner, Gathering)
        super().__init__(inner, writes)
        self._gathering = inner

    def gather(self) -> None:
        self._gathering.gather()

    def release(self, progress: Progress) -> None:
        with self._counted() as calls:
            self._gathering.release(progress)
        with self._writes.lock:
            self._writes.applies.append(f"release in {calls[0]} calls")


@dataclass
class Phase:
    calls: Counter[str] = field(default_factory=Counter)
    minimum: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    floor: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    cycle_seconds: Counter[str] = field(default_factory=Counter)
    cpu_seconds: Counter[str] = field(default_factory=Counter)
    """CPU time leadscore spent in each source's cycles: this process's threads and its scoring workers."""
    rate_floor: dict[str, float | None] = field(default_factory=dict)
    api_calls: Counter[str] = field(default_factory=Counter)


def cycle(
    store: SQLStore,
    source: Any,
    compiled: list[Any],
    people: PeopleScope,
    phase: Phase,
    applies: bool = False,
    profile_to: Path | None = None,
) -> None:
    writes = Writes()
    inner = build_connector(source, write_targets(compiled))
    connector = CountedGathering(inner, writes) if isinstance(inner, Gathering) else Counted(inner, writes)
    try:
        started, cpu_before = time.monotonic(), leadscore_cpu_seconds()
        pipeline = Pipeline(
            store,
            connector,  # type: ignore[arg-type]
            compiled,
            people=people,
            parallelism=load_settings().parallelism(),
        )
        if profile_to is None:
            report = pipeline.run_cycle()
        else:
            with cProfile.Profile() as profiler:
                report = pipeline.run_cycle()
            profiler.dump_stats(profile_to)
        elapsed = time.monotonic() - started
        phase.wall += elapsed
        phase.cycle_seconds[source.name] += elapsed
        cpu = leadscore_cpu_seconds() - cpu_before
        phase.cpu_seconds[source.name] += cpu
    finally:
        connector.close()
    assert report.status == "ok", report.error
    if applies:
        runs = [(line, len(list(same))) for line, same in itertools.groupby(writes.applies)]
        described = "; ".join(f"{n} x {line}" if n > 1 else line for line, n in runs)
        print(f"  {source.name}: {described or 'no writes'}")
        calls = ", ".join(f"{name} {n}" for name, n in sorted(report.api_calls.items(), key=lambda item: -item[1]))
        print(
            f"    {elapsed:.1f}s ({writes.seconds:.1f}s sending, {cpu:.1f}s of CPU); read {report.contacts_read:,}, "
            f"scored {report.contacts_scored:,}; peak RSS so far {peak_rss_mb():.0f} MB; calls: {calls}"
        )
        print("    phases: " + ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report.phase_seconds.items()))
        print(
            "    streams: "
            + "; ".join(
                f"{name} waited {spent.waiting:.1f}s, saved {spent.saving:.1f}s"
                for name, spent in report.stream_seconds.items()
            )
        )
    if writes.tally.changes():
        cost = platform(source.platform).write_cost(source.mapping, writes.tally.work())
        phase.minimum[source.name] += cost.calls
        phase.floor[source.name] += cost.seconds or 0.0
    phase.calls[source.name] += writes.calls
    phase.api_calls[source.name] += sum(report.api_calls.values())
    floor = rate_floor(source, report.api_calls)
    known = phase.rate_floor.get(source.name, 0.0)
    phase.rate_floor[source.name] = None if floor is None or (known is None) else known + floor
    phase.seconds[source.name] += writes.seconds
    phase.changes[source.name] += writes.tally.changes()


def leadscore_cpu_seconds() -> float:
    """CPU seconds of every thread of this process and of its children that have ended (the scoring workers end
    with their rescore; the sandboxes, also children, end only after the last cycle)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class WorkerMemory:
    """The largest RSS any scoring worker process reached, and the largest sum over them, sampled twice a second
    (the sandboxes, also children of this process, are left out)."""

    def __init__(self) -> None:
        self.largest = 0.0
        self.together = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            sizes = []
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "sandbox" not in " ".join(child.cmdline()):
                        sizes.append(child.memory_info().rss / 2**20)
            self.largest = max([self.largest, *sizes])
            self.together = max(self.together, sum(sizes))

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return f"largest scoring worker {self.largest:.0f} MB, all workers together {self.together:.0f} MB"


def rate_floor(source: Any, calls: dict[str, int]) -> float | None:
    """The least time a cycle's calls take at the platform's per-second limits (reads, writes and set-up alike):
    with at most N calls in any window of T seconds, call kN + 1 comes k windows after the first. None for
    Salesforce, which limits calls by the day and by concurrency, not by the second."""
    if source.platform == "hubspot":
        hubspot = load_mapping("hubspot", HubSpotMapping, dict(source.mapping)).limits
        searches = sum(n for name, n in calls.items() if name.endswith("/search"))
        return max(
            windows(sum(calls.values()), hubspot.per_ten_seconds, 10.0),
            windows(searches, hubspot.search_per_second, 1.0),
        )
    if source.platform == "brevo":
        brevo = load_mapping("brevo", BrevoMapping, dict(source.mapping)).limits
        paths = {name: name.split(" ", 1)[-1].removeprefix("/v3") for name in calls}
        contacts = sum(n for name, n in calls.items() if paths[name].startswith("/contacts"))
        return windows(contacts, brevo.contacts_per_second, 1.0)
    return None


def windows(calls: int, per_window: int, seconds: float) -> float:
    return max(0, calls - 1) // per_window * seconds


def engage_one_percent(store: SQLStore, source: str, seed: int) -> int:
    """Webhook events, as a Brevo automation posts them, for 1% of the source's records."""
    emails = sorted({email for page in store.contacts_with_events(source) for c, _ in page if (email := c.email)})
    chosen = random.Random(seed).sample(emails, max(1, len(emails) // 100))
    moment = int(datetime.now(UTC).timestamp())
    for email in chosen:
        store.receive(source, {"event": "quote_request", "email": email, "ts_event": moment})
        store.receive(
            source, {"event": "page_view", "email": email, "ts_event": moment, "properties": {"url": "/pricing"}}
        )
    return len(chosen)


def show(name: str, phase: Phase) -> None:
    print(f"--- {name}: {phase.wall:.1f}s of cycles ---")
    widths = (("changes", 8), ("calls", 7), ("minimum", 8), ("ratio", 6), ("send s", 7), ("floor s", 8), ("ratio", 6))
    print(f"{'source':12} " + " ".join(f"{title:>{width}}" for title, width in widths))
    for source in SANDBOXES:
        calls, least = phase.calls[source], phase.minimum[source]
        seconds, floor = phase.seconds[source], phase.floor[source]
        print(
            f"{source:12} {phase.changes[source]:>8,} {calls:>7,} {least:>8,} {calls / least if least else 0:>6.2f} "
            f"{seconds:>7.1f} {floor:>8.1f} {seconds / floor if floor else 0:>6.2f}"
        )


def show_cycles(phase: Phase) -> None:
    for source in SANDBOXES:
        seconds, floor = phase.cycle_seconds[source], phase.rate_floor.get(source)
        if floor is None:
            against = "no per-second limit"
        elif floor == 0:
            against = "rate-limit floor 0s (the calls fit in one window)"
        else:
            against = f"rate-limit floor {floor:.1f}s, ratio {seconds / floor:.2f}"
        print(
            f"  {source:12} cycles {seconds:.1f}s for {phase.api_calls[source]:,} API calls; {against}; "
            f"leadscore's CPU {phase.cpu_seconds[source]:.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--applies", action="store_true", help="print each apply's changes and calls")
    parser.add_argument(
        "--profile",
        metavar="SOURCE",
        help="profile this source's cycles (cProfile, this process only) into one .prof file per cycle",
    )
    args = parser.parse_args()
    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    servers, sources = [], []
    for name in SANDBOXES:
        port = free_port()
        servers.append(start_sandbox(name, port, args.size, args.seed))
        sources.append(platform(name).settings.model_validate(sandbox_source(name, port)))
    people = PeopleScope(sources=tuple(SANDBOXES), labels={name: platform(name).title for name in SANDBOXES})
    store = SQLStore.open(f"sqlite:///{Path(tempfile.mkdtemp(prefix='leadscore-people-sync-')) / 'state.db'}")
    workers = WorkerMemory()
    try:
        profiles = Path(tempfile.mkdtemp(prefix="leadscore-people-sync-profiles-")) if args.profile else None

        def profile_file(source: Any, name: str) -> Path | None:
            return profiles / f"{name}-{source.name}.prof" if profiles and source.name == args.profile else None

        first = Phase()
        for turn in range(2):
            for source in sources:
                cycle(store, source, compiled, people, first, args.applies, profile_file(source, f"first-{turn + 1}"))
        shared = len(store.shared_people(people.sources, 10**9))
        print(f"{args.size:,} records per sandbox; {shared:,} people on two or three platforms")
        show("first round (each source twice)", first)
        show_cycles(first)
        touched = engage_one_percent(store, "brevo", args.seed)
        later = Phase()
        for source in sorted(sources, key=lambda s: s.name != "brevo"):
            cycle(store, source, compiled, people, later, args.applies, profile_file(source, "incremental"))
        show(f"incremental round: {touched:,} Brevo people with new events", later)
        show_cycles(later)
        print(f"peak RSS of the syncing process {peak_rss_mb():.0f} MB; {workers.stop()}")
        if profiles:
            print(f"profiles of {args.profile}'s cycles in {profiles}")
    finally:
        store.close()
        for server in servers:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
