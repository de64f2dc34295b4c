"""Benchmark: full and incremental rescore of a large store, against a plain scan of its events.

    python bench/engine.py                        # 1,000,000 contacts, 10,000,000 events, SQLite
    python bench/engine.py --contacts 100000 --events-per-contact 10
    python bench/engine.py --url postgresql://postgres@127.0.0.1:5432/test
    python bench/engine.py --workers 1            # everything in one process

Prints wall seconds, events per second, peak RSS and the ratios the targets are
stated in (bench/RESULTS.md). Rescores use the daemon's default parallelism (one
worker process per core, at most four); a single-process full rescore is timed
last for comparison. Nothing here asserts on time: machines are shared.
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Text, cast, select

from leadscore.engine import engines, load_model_file
from leadscore.records import Contact, Event
from leadscore.rescore import Parallelism, close_pools, rescore
from leadscore.store import SQLStore
from leadscore.store import schema as tables

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SOURCE = "bench"
ACTIONS = [
    ("page_view", {"url": "https://example.com/blog/post"}),
    ("page_view", {"url": "https://example.com/pricing"}),
    ("email_open", {}),
    ("email_click", {"campaign_type": "newsletter"}),
    ("email_click", {}),
    ("form_submit", {"form": "ebook"}),
    ("content_download", {}),
    ("webinar_attended", {}),
    ("quote_request", {}),
    ("unsubscribe", {}),
]
WEIGHTS = [40, 8, 25, 6, 6, 5, 4, 3, 1, 2]
SENIORITY = ["vp", "director", "manager", "individual", "c-level", None]
INDUSTRY = ["software", "saas", "retail", "finance", "education", None]
DOMAINS = ["acme.example", "gmail.com", "bigco.example", "competitor.example", "startup.example"]


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """This process's peak, or (RUSAGE_CHILDREN) the largest peak of any child that has exited."""
    return resource.getrusage(who).ru_maxrss / 1024


def contact_id(number: int) -> str:
    return f"{number:09d}"


def load(store: SQLStore, contacts: int, per_contact: int, seed: int) -> None:
    rng = random.Random(seed)
    page: list[Contact] = []
    started = time.perf_counter()
    for number in range(contacts):
        profile = {
            "seniority": rng.choice(SENIORITY),
            "industry": rng.choice(INDUSTRY),
            "company_size": rng.randint(1, 5000),
            "region": rng.choice(["europe", "north america", "asia"]),
        }
        email = f"person{number}@{rng.choice(DOMAINS)}"
        page.append(Contact(SOURCE, contact_id(number), email, profile, {}))
        if len(page) == 5000:
            store.save_contacts(SOURCE, page)
            page = []
    store.save_contacts(SOURCE, page)
    print(f"loaded {contacts:,} contacts in {time.perf_counter() - started:.1f}s", flush=True)

    started = time.perf_counter()
    total = contacts * per_contact
    batch: list[Event] = []
    for number in range(total):
        action, attributes = rng.choices(ACTIONS, WEIGHTS)[0]
        owner = contact_id(rng.randrange(contacts))
        occurred = NOW - timedelta(minutes=rng.randrange(60 * 24 * 90))
        batch.append(Event(SOURCE, f"ev{number}", owner, action, occurred, attributes))
        if len(batch) == 50_000:
            store.save_events(SOURCE, batch)
            batch = []
            if number % 1_000_000 < 50_000:
                print(f"  {number + 1:,} events ({time.perf_counter() - started:.0f}s)", flush=True)
    store.save_events(SOURCE, batch)
    print(f"loaded {total:,} events in {time.perf_counter() - started:.1f}s", flush=True)


def plain_scan(store: SQLStore, *, attributes_as_text: bool = False) -> tuple[float, int]:
    """Read every column rescoring needs from the events table, and do nothing with it.

    The reference scan decodes the attributes as their column type says (JSON); the
    rescore reads them as text and decodes each distinct text once, so the scan that
    reads text too is printed beside it, to show how much of the gap that choice hides.
    """
    e = tables.events
    attributes = cast(e.c.attributes, Text) if attributes_as_text else e.c.attributes
    started = time.perf_counter()
    rows = 0
    with store.db.connect() as connection:
        result = connection.execution_options(yield_per=10_000).execute(
            select(e.c.contact_id, e.c.event_id, e.c.action, e.c.occurred_at_ms, attributes).where(e.c.source == SOURCE)
        )
        for _ in result:
            rows += 1
    return time.perf_counter() - started, rows


def clear_scores(store: SQLStore) -> None:
    with store.db.begin() as connection:
        connection.execute(tables.scores.delete())


def touch_one_percent(store: SQLStore, contacts: int, seed: int) -> int:
    rng = random.Random(seed + 1)
    chosen = rng.sample(range(contacts), max(1, contacts // 100))
    run = time.time_ns()
    fresh = [Event(SOURCE, f"new{run}-{n}", contact_id(n), "form_submit", NOW - timedelta(hours=1), {}) for n in chosen]
    store.save_events(SOURCE, fresh)
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--url", help="store URL (default: a new SQLite file in a temp dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="SQLite file to keep; reused (scores cleared) if it holds data")
    parser.add_argument("--workers", type=int, default=0, help="scoring processes (0: one per core, at most 4)")
    args = parser.parse_args()
    parallel = Parallelism.auto(args.workers)

    workdir = tempfile.mkdtemp(prefix="leadscore-bench-")
    url = args.url or f"sqlite:///{args.db or Path(workdir) / 'bench.db'}"
    store = SQLStore.open(url)
    print(f"machine: {platform.node()} {platform.machine()} python {sys.version.split()[0]}; store {store.db.url}")
    if store.count("contacts", SOURCE) == args.contacts:
        clear_scores(store)
        print(f"reusing {args.contacts:,} contacts and {store.count('events', SOURCE):,} events; scores cleared")
    else:
        load(store, args.contacts, args.events_per_contact, args.seed)
    rss_after_load = peak_rss_mb()

    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    scan_seconds, rows = plain_scan(store)
    print(f"plain scan: {rows:,} events in {scan_seconds:.1f}s ({rows / scan_seconds:,.0f} events/s)", flush=True)
    text_scan_seconds, _ = plain_scan(store, attributes_as_text=True)
    print(f"plain scan, attributes as text: {text_scan_seconds:.1f}s", flush=True)

    started = time.perf_counter()
    report = rescore(store, SOURCE, compiled, NOW, only_queued=False, parallelism=parallel)
    full_seconds = time.perf_counter() - started
    print(
        f"full rescore ({report.workers} processes, their start included): {report.contacts:,} contacts, "
        f"{report.events:,} events in {full_seconds:.1f}s ({report.events / full_seconds:,.0f} events/s)",
        flush=True,
    )

    started = time.perf_counter()
    steady = rescore(store, SOURCE, compiled, NOW, only_queued=False, parallelism=parallel)
    steady_seconds = time.perf_counter() - started
    print(f"full rescore again (scores stored, nothing new): {steady.contacts:,} contacts in {steady_seconds:.1f}s")

    touched = touch_one_percent(store, args.contacts, args.seed)
    started = time.perf_counter()
    incremental = rescore(store, SOURCE, compiled, NOW, only_queued=True, parallelism=parallel)
    incremental_seconds = time.perf_counter() - started
    print(
        f"incremental rescore: {incremental.contacts:,} contacts (touched {touched:,}, {incremental.workers} "
        f"processes) in {incremental_seconds:.2f}s",
        flush=True,
    )
    close_pools()
    rss_parent, rss_worker = peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN)

    clear_scores(store)
    started = time.perf_counter()
    rescore(store, SOURCE, compiled, NOW, only_queued=False)
    single_seconds = time.perf_counter() - started
    print(f"full rescore in one process: {single_seconds:.1f}s", flush=True)

    print("--- figures ---")
    print(f"contacts                     {args.contacts:,}")
    print(f"events                       {rows:,}")
    print(f"plain scan seconds           {scan_seconds:.1f}")
    print(f"scoring processes            {report.workers}")
    print(f"full rescore seconds         {full_seconds:.1f}")
    print(f"events per second (rescore)  {report.events / full_seconds:,.0f}")
    print(f"rescore / scan ratio         {full_seconds / scan_seconds:.2f}   (target <= 2.0; first pass, all new)")
    print(f"one-process rescore / scan   {single_seconds / scan_seconds:.2f}   ({single_seconds:.1f}s)")
    print(f"text scan seconds            {text_scan_seconds:.1f}")
    print(f"rescore / text scan ratio    {full_seconds / text_scan_seconds:.2f}   (scan decoding nothing)")
    print(f"steady rescore / scan ratio  {steady_seconds / scan_seconds:.2f}   (the daemon's periodic decay pass)")
    print(f"incremental 1% / full        {100 * incremental_seconds / full_seconds:.2f}%  (target <= 2%)")
    print(f"peak RSS after load MB       {rss_after_load:.0f}")
    print(f"peak RSS, main process MB    {rss_parent:.0f}")
    print(f"peak RSS, largest worker MB  {rss_worker:.0f}")
    total = rss_parent + (report.workers * rss_worker if report.workers > 1 else 0)
    print(f"peak RSS, all processes MB   {total:.0f}   (target <= 1024; bound: main + workers x largest)")
    store.close()


if __name__ == "__main__":
    main()
