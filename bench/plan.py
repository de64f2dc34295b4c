"""Benchmark: ``leadscore plan`` of a proposed model against one full rescore of the same store.

    python bench/plan.py                               # 1,000,000 contacts, 10,000,000 events, SQLite
    python bench/plan.py --contacts 100000 --db /tmp/plan.db

Builds (or reuses) the engine benchmark's store, runs a full rescore (its scores
are what plan compares against), then times a plan of a proposed model (MQL from
30 instead of 50) over every contact, and prints the ratio the target is stated in
(plan <= 1.5x one full rescore, bench/RESULTS.md). Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine import NOW, ROOT, SOURCE, clear_scores, load
from leadscore.engine import engines, load_model_file, parse_model_text
from leadscore.rescore import Parallelism, close_pools, rescore
from leadscore.store import SQLStore
from leadscore.sync.preview import preview_in_parallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--db", type=Path, help="SQLite file to keep; reused if it holds the same contacts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = f"sqlite:///{args.db or Path(tempfile.mkdtemp(prefix='leadscore-bench-')) / 'bench.db'}"
    store = SQLStore.open(url)
    if store.count("contacts", SOURCE) == args.contacts:
        clear_scores(store)
    else:
        load(store, args.contacts, args.events_per_contact, args.seed)
    model_text = (ROOT / "config" / "scoring.yaml").read_text(encoding="utf-8")
    current = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    proposed = engines(parse_model_text(model_text.replace("{name: MQL, min: 50", "{name: MQL, min: 30")))

    started = time.perf_counter()
    rescore(store, SOURCE, current, NOW, only_queued=False, parallelism=Parallelism.auto())
    full = time.perf_counter() - started
    close_pools()
    print(f"full rescore (default workers): {full:.1f}s", flush=True)

    started = time.perf_counter()
    workers = Parallelism.auto().workers
    preview = preview_in_parallel(store, SOURCE, current, proposed, NOW, workers=workers)
    planned = time.perf_counter() - started
    entering = preview.proposed.entering("lead", current[0].band_names)
    print(f"plan of {preview.contacts:,} contacts in {workers} processes: {planned:.1f}s; entering: {entering}")
    print("--- figures ---")
    print(f"plan / full rescore          {planned / full:.2f}   (target <= 1.5)")
    store.close()


if __name__ == "__main__":
    main()
