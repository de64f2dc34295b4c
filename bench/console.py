"""Benchmark: the console's pages at 1,000,000 contacts and 10,000,000 events, p50 and p95 per page.

    python bench/console.py --db /tmp/lsb/console.db            # SQLite, built once and reused
    python bench/console.py --url postgresql://postgres@127.0.0.1:5432/test --copy-from /tmp/lsb/console.db
    python bench/console.py --contacts 100000                   # a smaller store

The store is loaded as bench/engine.py loads it, then scored as of four moments a week apart (so the score
history holds a first score for everyone and the changes of three weeks), then the console is served over real
HTTP (uvicorn on loopback, as the daemon serves it) and each page is requested ``--requests`` times by a logged-in
client. Prints p50 and p95 milliseconds per page and the history's size; the target is < 300 ms per page.
Nothing asserts on time: machines are shared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from engine import NOW, SOURCE, contact_id, load
from leadscore.console import ConsoleConfig, create_console
from leadscore.engine import engines, load_model_file
from leadscore.rescore import Parallelism, close_pools, rescore
from leadscore.store import SQLStore
from leadscore.store import schema as tables
from leadscore.web import HttpServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-console-token"
WEEKS = 3


def count(store: SQLStore, table: object) -> int:
    with store.db.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def fill(store: SQLStore, contacts: int, per_contact: int, seed: int) -> None:
    """Load the store and score it a week at a time, unless it already holds a scored history."""
    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    if count(store, tables.contacts) == 0:
        load(store, contacts, per_contact, seed)
    if count(store, tables.score_history) > 0:
        return
    for week in range(WEEKS, -1, -1):
        moment = NOW - timedelta(weeks=week)
        started = time.perf_counter()
        rescore(store, SOURCE, compiled, moment, only_queued=False, parallelism=Parallelism.auto(0, 50_000))
        print(f"scored as of {moment:%Y-%m-%d} in {time.perf_counter() - started:.0f}s", flush=True)
    close_pools()


COPIED = (
    "persons",
    "contacts",
    "events",
    "cursors",
    "scores",
    "runs",
    "score_history",
    "score_counts",
    "band_flows",
    "week_scores",
    "band_entry_days",
)


def copy_store(sqlite_file: Path, store: SQLStore) -> None:
    """A PostgreSQL store made equal to a SQLite one, table by table with COPY: loading and scoring ten million
    events through the store's own path takes hours on PostgreSQL, and the console only reads."""
    import sqlite3

    source = sqlite3.connect(sqlite_file)
    raw = store.db.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        for table in COPIED:
            started = time.perf_counter()
            columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
            listed = ", ".join(f'"{c}"' for c in columns)
            with cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in source.execute(f"SELECT {listed} FROM {table}"):
                    copy.write_row(row)
            print(f"copied {table} in {time.perf_counter() - started:.0f}s", flush=True)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        source.close()


def timed(client: httpx.Client, path: str, requests: int) -> tuple[float, list[float]]:
    """Milliseconds of a first request (which draws the page's charts) and of each one after, redirects
    followed."""
    started = time.perf_counter()
    client.get(path, follow_redirects=True)
    first = (time.perf_counter() - started) * 1000
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path, follow_redirects=True)
        seconds.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:200]}")
    return first, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--url", help="store URL (default: a SQLite file, --db or a temp dir)")
    parser.add_argument("--db", type=Path, help="SQLite file to keep and reuse")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--copy-from", type=Path, help="with --url: fill the PostgreSQL store from this SQLite file")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{args.db or Path(tempfile.mkdtemp(prefix='leadscore-console-')) / 'bench.db'}"
    store = SQLStore.open(url)
    if args.copy_from is not None and count(store, tables.contacts) == 0:
        copy_store(args.copy_from, store)
    fill(store, args.contacts, args.events_per_contact, args.seed)
    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    print(
        f"store {store.db.url.render_as_string(hide_password=True)}: {count(store, tables.contacts):,} contacts, "
        f"{count(store, tables.events):,} events, {count(store, tables.score_history):,} history rows; "
        f"python {sys.version.split()[0]}",
        flush=True,
    )
    app = create_console(
        ConsoleConfig(store=store, engines=compiled, token=TOKEN, sources=[(SOURCE, "bench")], clock=lambda: NOW)
    )
    server = HttpServer(app, "127.0.0.1", 0)
    port = server.start()
    middle = contact_id(args.contacts // 2)
    email = store.records_of(SOURCE, middle)[0].record.email
    pages = {
        "sources": "/",
        "models": "/models",
        "contact search (email)": f"/contact?q={email}",
        "contact": f"/contact/{SOURCE}/{middle}",
    }
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as client:
            print(f"{'page':24} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8}")
            for name, path in pages.items():
                first, seconds = timed(client, path, args.requests)
                seconds.sort()
                p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
                print(f"{name:24} {first:>9.0f} {statistics.median(seconds):>8.0f} {p95:>8.0f}", flush=True)
    finally:
        server.stop()
        store.close()


if __name__ == "__main__":
    main()
