"""Benchmark: memory of reading each Brevo event stream, against the Brevo sandbox at its real limits.

    python bench/brevo_streams.py --size 100000

Starts a seeded Brevo sandbox (`leadscore sandbox`), reads every event stream from
its start through the connector, and prints per stream its pages, its largest page
(events) and the Python heap's peak while reading it (tracemalloc). A stream whose
largest page grows with the account holds the account in memory at once.
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

from _sync_run import free_port, sandbox_source, start_sandbox
from leadscore.engine import engines, load_model_file
from leadscore.platforms import build_connector, platform
from leadscore.sync.plan import write_targets

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compiled = engines(load_model_file(ROOT / "config" / "scoring.yaml"))
    port = free_port()
    server = start_sandbox("brevo", port, args.size, args.seed)
    source = platform("brevo").settings.model_validate(sandbox_source("brevo", port))
    connector = build_connector(source, write_targets(compiled))
    try:
        print(f"{args.size:,} contacts")
        for stream in connector.event_streams():
            tracemalloc.start()
            pages = largest = 0
            for page in connector.read_events(stream, None):
                pages += 1
                largest = max(largest, len(page.events) + len(page.by_email or ()))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"{stream:22} {pages:>5} pages, largest {largest:>7,} events, heap peak {peak / 2**20:6.1f} MB")
    finally:
        connector.close()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
