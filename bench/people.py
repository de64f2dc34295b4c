"""Benchmark: three sources sharing people, scored as one person each, against per-source scoring of the same data.

    python bench/people.py                      # 10,000 and 100,000 records per source
    python bench/people.py --sizes 10000

Each size runs in a process of its own, so its peak RSS is its own. The store holds
three sources of N records; half of each source's records are people all three
hold (one email), the other half its own; every record has events. The store is
copied: on one copy each source's first scoring and planning runs per source, on
the other as one people group (every source's cycle order: hubspot, brevo,
salesforce). Then 1% of the people gain events in one source, and that source's
incremental rescore runs on both copies.

Printed per size: rescore seconds (people / per source), the outbox each platform
would be sent (entries per record: 1.0 means no write planned twice), the fewest
calls and seconds those writes take at each platform's limits (the platforms'
own write-cost arithmetic, as `leadscore plan` uses), and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from leadscore.engine import Engine, engines, load_model_file
from leadscore.people import PeopleScope
from leadscore.platforms import platform
from leadscore.protocol import WriteWork
from leadscore.records import LIST_ADD, SET_PROPERTIES, Contact, Event
from leadscore.rescore import rescore
from leadscore.store import SQLStore, schema
from leadscore.sync.planner import PagePlanner

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SOURCES = ("hubspot", "brevo", "salesforce")
GROUP = PeopleScope(sources=SOURCES, labels={"hubspot": "HubSpot", "brevo": "Brevo", "salesforce": "Salesforce"})
ACTIONS = [
    ("page_view", {"url": "https://example.com/pricing"}),
    ("page_view", {"url": "https://example.com/blog"}),
    ("email_open", {}),
    ("email_click", {"campaign_type": "newsletter"}),
    ("form_submit", {"form": "ebook"}),
    ("webinar_attended", {}),
    ("quote_request", {}),
]
WEIGHTS = [30, 30, 25, 6, 5, 3, 1]
EVENTS_PER_RECORD = 5


def load(store: SQLStore, records: int, seed: int) -> None:
    rng = random.Random(seed)
    for position, source in enumerate(SOURCES):
        page: list[Contact] = []
        for number in range(records):
            shared = number < records // 2
            email = f"person{number}@shared.example" if shared else f"{source}{number}@own{position}.example"
            profile = {
                "seniority": rng.choice(["vp", "director", "manager", None]),
                "industry": rng.choice(["software", "retail", None]),
                "company_size": rng.randint(1, 5000),
            }
            page.append(Contact(source, f"{source[0]}{number:08d}", email, profile, {}))
            if len(page) == 5000:
                store.save_contacts(source, page)
                page = []
        store.save_contacts(source, page)
        add_events(store, source, range(records), EVENTS_PER_RECORD, rng, "e")


def add_events(store: SQLStore, source: str, numbers: Any, per_record: int, rng: random.Random, prefix: str) -> None:
    batch: list[Event] = []
    for number in numbers:
        for index in range(per_record):
            action, attributes = rng.choices(ACTIONS, WEIGHTS)[0]
            occurred = NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))
            event_id = f"{prefix}{number}-{index}"
            batch.append(Event(source, event_id, f"{source[0]}{number:08d}", action, occurred, attributes))
        if len(batch) >= 20_000:
            store.save_events(source, batch)
            batch = []
    store.save_events(source, batch)


def score_sources(url: str, compiled: list[Engine], people: PeopleScope | None, sources: tuple[str, ...]) -> float:
    store = SQLStore.open(url)
    scored_at = tuple(e.model.writes.scored_at for e in compiled if e.model.writes.scored_at)
    started = time.perf_counter()
    for source in sources:
        planner = PagePlanner(source, tuple(compiled), NOW, scored_at, dry_run=False)
        rescore(store, source, compiled, NOW, only_queued=True, on_page=planner, people=people)
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def outbox(url: str) -> dict[str, dict[str, Any]]:
    """Per source: entries by kind, entries per record, list adds per list."""
    store = SQLStore.open(url)
    o = schema.outbox
    found: dict[str, dict[str, Any]] = {}
    with store.db.connect() as connection:
        for source in SOURCES:
            kinds = Counter(
                dict(
                    connection.execute(
                        select(o.c.kind, func.count()).where(o.c.source == source).group_by(o.c.kind)
                    ).all()
                )
            )
            records = connection.execute(
                select(func.count(func.distinct(o.c.contact_id))).where(
                    o.c.source == source, o.c.kind == SET_PROPERTIES
                )
            ).scalar_one()
            lists = Counter(
                dict(
                    connection.execute(
                        select(o.c.target, func.count())
                        .where(o.c.source == source, o.c.kind == LIST_ADD)
                        .group_by(o.c.target)
                    ).all()
                )
            )
            cost = platform(source).write_cost({}, WriteWork(kinds[SET_PROPERTIES], dict(lists)))
            found[source] = {
                "set_properties": kinds[SET_PROPERTIES],
                "list_add": kinds[LIST_ADD],
                "per_record": kinds[SET_PROPERTIES] / records if records else 0.0,
                "fewest_calls": cost.calls,
                "seconds_at_limits": cost.seconds,
            }
    store.close()
    return found


def one_size(records: int, seed: int) -> dict[str, Any]:
    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-people-bench-"))
    per_source_url, people_url = f"sqlite:///{workdir / 'alone.db'}", f"sqlite:///{workdir / 'people.db'}"
    store = SQLStore.open(per_source_url)
    started = time.perf_counter()
    load(store, records, seed)
    loaded = time.perf_counter() - started
    with store.db.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    store.close()
    shutil.copy(workdir / "alone.db", workdir / "people.db")

    first_alone = score_sources(per_source_url, compiled, None, SOURCES)
    first_people = score_sources(people_url, compiled, GROUP, SOURCES)
    writes_alone, writes_people = outbox(per_source_url), outbox(people_url)

    touched = sorted(random.Random(seed + 1).sample(range(records), max(1, records // 100)))
    for url in (per_source_url, people_url):
        store = SQLStore.open(url)
        add_events(store, "brevo", touched, 3, random.Random(seed + 2), "new")
        with store.db.begin() as connection:
            connection.execute(schema.outbox.delete())
        store.close()
    incremental_alone = score_sources(per_source_url, compiled, None, ("brevo",))
    incremental_people = score_sources(people_url, compiled, GROUP, ("brevo",))
    later = outbox(people_url)
    shutil.rmtree(workdir)
    return {
        "records": records,
        "loaded_seconds": loaded,
        "first": {"per_source": first_alone, "people": first_people},
        "incremental": {"per_source": incremental_alone, "people": incremental_people, "touched": len(touched)},
        "writes_first": {"per_source": writes_alone, "people": writes_people},
        "writes_incremental_people": later,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(figures: dict[str, Any]) -> None:
    records = figures["records"]
    first, incremental = figures["first"], figures["incremental"]
    print(f"--- {records:,} records per source, {EVENTS_PER_RECORD} events each; half of them shared by all three ---")
    print(f"loaded in {figures['loaded_seconds']:.1f}s")
    print(
        f"first scoring of the three sources: per source {first['per_source']:.1f}s, as people "
        f"{first['people']:.1f}s, ratio {first['people'] / first['per_source']:.2f}"
    )
    print(
        f"incremental, {incremental['touched']:,} Brevo records with new events: per source "
        f"{incremental['per_source']:.2f}s, as people {incremental['people']:.2f}s, "
        f"ratio {incremental['people'] / incremental['per_source']:.2f}"
    )
    print(
        f"{'source':12} {'run':10} {'set_props':>10} {'per record':>10} {'list adds':>10} {'calls':>7} {'seconds':>8}"
    )
    rows = [
        *(("first", "per source", s, v) for s, v in figures["writes_first"]["per_source"].items()),
        *(("first", "people", s, v) for s, v in figures["writes_first"]["people"].items()),
        *(("incr.", "people", s, v) for s, v in figures["writes_incremental_people"].items()),
    ]
    for phase, run, source, values in rows:
        seconds = values["seconds_at_limits"]
        print(
            f"{source:12} {phase + ' ' + run:17} {values['set_properties']:>10,} {values['per_record']:>10.3f} "
            f"{values['list_add']:>10,} {values['fewest_calls']:>7,} {seconds if seconds is not None else 0:>8.1f}"
        )
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.seed)))
        return
    peaks = []
    for size in args.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--seed", str(args.seed)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        report(figures)
        peaks.append((size, figures["peak_rss_mb"]))
    if len(peaks) > 1:
        (small, low), (large, high) = peaks[0], peaks[-1]
        print(f"peak RSS {small:,} -> {large:,} records per source: {low:.0f} -> {high:.0f} MB ({high / low - 1:+.0%})")


if __name__ == "__main__":
    main()
