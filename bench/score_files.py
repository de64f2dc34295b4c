"""Benchmark: `leadscore score` over large JSON-lines files, for its peak memory.

    python bench/score_files.py                            # 1,000,000 contacts, 10,000,000 events
    python bench/score_files.py --contacts 100000 --events-per-contact 10

Writes the two files (events in random contact order, as exports come), runs the
command in a child process and prints its wall time and peak RSS (the child's
``ru_maxrss``), against the target of 200 MB at 10,000,000 events in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ACTIONS = [
    ("page_view", {"url": "https://example.com/blog/post"}),
    ("page_view", {"url": "https://example.com/pricing"}),
    ("email_open", {}),
    ("email_click", {"campaign_type": "newsletter"}),
    ("form_submit", {"form": "ebook"}),
    ("content_download", {}),
    ("quote_request", {}),
]
WEIGHTS = [40, 8, 25, 8, 5, 4, 1]


def write_files(folder: Path, contacts: int, per_contact: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    contacts_path, events_path = folder / "contacts.jsonl", folder / "events.jsonl"
    with contacts_path.open("w", encoding="utf-8") as out:
        for number in range(contacts):
            profile = {
                "seniority": rng.choice(["vp", "director", "manager", None]),
                "company_size": rng.randint(1, 5000),
            }
            out.write(
                json.dumps(
                    {"id": f"c{number}", "email": f"p{number}@firm{number % 997}.example", "properties": profile}
                )
                + "\n"
            )
    total = contacts * per_contact
    with events_path.open("w", encoding="utf-8") as out:
        for number in range(total):
            action, attributes = rng.choices(ACTIONS, WEIGHTS)[0]
            moment = NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 90))
            out.write(
                json.dumps(
                    {
                        "id": f"e{number}",
                        "contact_id": f"c{rng.randrange(contacts)}",
                        "action": action,
                        "occurred_at": moment.isoformat(),
                        "attributes": attributes,
                    }
                )
                + "\n"
            )
    return contacts_path, events_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=None, help="Keep the files here (default: a temporary folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-") as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        contacts, events = write_files(folder, args.contacts, args.events_per_contact)
        print(
            f"wrote {args.contacts:,} contacts and {args.contacts * args.events_per_contact:,} events "
            f"in {time.perf_counter() - started:.1f} s"
        )
        command = [
            sys.executable,
            "-m",
            "leadscore",
            "score",
            "--model",
            str(ROOT / "config" / "scoring.yaml"),
            "--contacts",
            str(contacts),
            "--events",
            str(events),
            "--now",
            NOW.isoformat(),
            "--out",
            str(folder / "scores.jsonl"),
        ]
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(finished.stderr.strip())
        if finished.returncode != 0:
            raise SystemExit(f"score failed with {finished.returncode}")
        lines = sum(1 for _ in (folder / "scores.jsonl").open(encoding="utf-8"))
        print(f"machine: {platform.machine()}, Python {platform.python_version()}")
        print(
            f"scored {lines:,} contacts in {wall:.1f} s; peak RSS of `leadscore score`: {peak_mb:.0f} MB "
            f"(target <= 200 MB at 10,000,000 events)"
        )


if __name__ == "__main__":
    main()
