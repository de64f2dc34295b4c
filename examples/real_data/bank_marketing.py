"""The UCI bank telemarketing set (../shared/data/bank-marketing) as leadscore contacts, events and outcomes.

    python examples/real_data/bank_marketing.py OUT_DIR [--csv PATH]

Each row is a person called in a term-deposit campaign; ``y`` says whether they
subscribed. Profile fields: age, job, marital status, education, credit default,
housing and personal loans, the contact channel, the previous campaign's outcome.
Engagement: one ``call`` event per call of this campaign and one ``previous_call``
per earlier contact. Left out: ``duration`` (the length of the last call is known
only after the call, when the answer is too: the data set's own notes say to drop
it for a realistic model), and the economic indicators (the same for everyone
called in a month; they describe the calendar, not the lead). The set has no
dates: backtest it without --as-of. The data is read where it lies, never copied.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DEFAULT_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "bank-marketing" / "bank-additional-full.csv.gz"
PROFILE = ("age", "job", "marital", "education", "default", "housing", "loan", "contact", "poutcome")
MAX_CALLS = 20


def convert(csv_path: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    moment = (NOW - timedelta(days=1)).isoformat()
    opener = gzip.open if csv_path.suffix == ".gz" else open
    count = 0
    with (
        opener(csv_path, "rt", encoding="utf-8") as source,
        (out / "contacts.jsonl").open("w", encoding="utf-8") as contacts,
        (out / "events.jsonl").open("w", encoding="utf-8") as events,
        (out / "outcomes.jsonl").open("w", encoding="utf-8") as outcomes,
    ):
        for number, row in enumerate(csv.DictReader(source, delimiter=";")):
            person = f"b{number}"
            profile = {name: row[name] for name in PROFILE if row[name] not in ("", "unknown")}
            contacts.write(json.dumps({"id": person, "properties": profile}) + "\n")
            calls = min(int(row["campaign"]), MAX_CALLS)
            earlier = min(int(row["previous"]), MAX_CALLS)
            for kind, times in (("call", calls), ("previous_call", earlier)):
                for n in range(times):
                    line = {"id": f"{person}-{kind}-{n}", "contact_id": person, "action": kind, "occurred_at": moment}
                    events.write(json.dumps(line) + "\n")
            converted = NOW.isoformat() if row["y"] == "yes" else None
            outcomes.write(json.dumps({"contact_id": person, "converted_at": converted}) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    print(f"{convert(args.csv, args.out)} people written to {args.out}")


if __name__ == "__main__":
    main()
