"""Benchmark: a first sync cycle of N people (two thirds leads) against the Salesforce sandbox, every record
changing, through sObject Collections and through Bulk API 2.0.

    python bench/sync_salesforce.py                       # 10,000 and 1,000,000 changes, both paths
    python bench/sync_salesforce.py --sizes 10000 --paths bulk

The sandbox and the sync run in separate processes; the sync's peak RSS is sampled
with psutil. Salesforce has no per-second limit: the cost that matters is calls
against the org's daily allocation. Prints calls per endpoint against the minimum
for the path (collections: five collections of 200 per Composite call, so ceil(n/1000)
updates per object and ceil(n/1000) member inserts; bulk: 5 calls per job of up to
10,000 records, plus polls), and peak RSS.
Query pages (first page and nextRecordsUrl) are counted together.
"""

from __future__ import annotations

import argparse
import math

from _sync_run import sync_against_sandbox

BULK_JOB_ROWS = 10_000  # the pipeline hands over at most 10,000 outbox entries per apply


def minimum(people: int, path: str) -> dict[str, int]:
    leads = people - people // 3
    contacts = people // 3
    if path == "collections":
        writes = {"POST composite (PATCH collections)": math.ceil(leads / 1000) + math.ceil(contacts / 1000)}
    else:
        jobs = math.ceil(leads / BULK_JOB_ROWS) + math.ceil(contacts / BULK_JOB_ROWS)
        writes = {
            "POST jobs/ingest": jobs,
            "PUT jobs/ingest batches": jobs,
            "PATCH jobs/ingest": jobs,
            "GET jobs/ingest": jobs,
            "GET jobs/ingest failedResults": jobs,
        }
    reads = {
        "GET query Lead": math.ceil(leads / 2000),
        "GET query Contact": math.ceil(contacts / 2000),
        "POST composite (POST collections)": math.ceil(people / 1000),
    }
    return reads | writes


def run(people: int, path: str, seed: int) -> None:
    limits = {"bulk_threshold": 2000 if path == "bulk" else 10**9, "bulk_poll_seconds": 0.2}
    [(report, wall, peak)] = sync_against_sandbox(
        "salesforce", people, seed, token="sandbox-session", mapping={"limits": limits}
    )
    calls: dict[str, int] = {}
    for name, count in report["api_calls"].items():
        key = name.removesuffix(" (next page)")
        calls[key] = calls.get(key, 0) + count
    least = minimum(people, path)
    print(f"--- {people:,} people, every record changes, {path} path ---")
    print(f"status {report['status']}, applied {report['applied']:,} changes, set aside {report['set_aside']}")
    if report["error"]:
        print(f"error: {report['error']}")
    print(f"{'endpoint':40} {'calls':>8} {'minimum':>8}")
    for name, count in least.items():
        print(f"{name:40} {calls.get(name, 0):>8,} {count:>8,}")
    for name in sorted(set(calls) - set(least)):
        print(f"{name:40} {calls[name]:>8,} {'(other)':>8}")
    used, floor = sum(calls.values()), sum(least.values())
    writes = sum(c for n, c in calls.items() if "jobs/ingest" in n or "PATCH collections" in n)
    print(f"{'total':40} {used:>8,} {floor:>8,}   ratio {used / floor:.2f}; write calls {writes:,}")
    print(f"wall seconds {wall:.1f}; {peak.describe()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--paths", nargs="+", choices=["collections", "bulk"], default=["collections", "bulk"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for size in args.sizes:
        for path in args.paths:
            run(size, path, args.seed)


if __name__ == "__main__":
    main()
