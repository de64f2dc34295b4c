"""Olist's marketing-qualified leads (../shared/data/olist-marketing-funnel) as contacts, events and outcomes.

    python examples/real_data/olist_mqls.py OUT_DIR [--data DIR]

Each MQL is a seller who filled in a form on a landing page; a closed deal
(``won_date``) is a conversion. Profile: the lead's origin (the channel that
brought it) and its landing page. Engagement: the form submission, dated at the
first contact. Left out: everything in the closed-deals file but the won date (the
segment, lead type, behaviour profile and the declared catalogue and revenue are
filled in by the sales team during the deal, so they exist only for won leads).
Backtest without --as-of: leads arrived over a year, and the conversion is the label.
The data is read where it lies, never copied.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "olist-marketing-funnel"


def convert(data: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with (data / "olist_closed_deals_dataset.csv").open(encoding="utf-8") as deals:
        won = {row["mql_id"]: row["won_date"] for row in csv.DictReader(deals)}
    count = 0
    with (
        (data / "olist_marketing_qualified_leads_dataset.csv").open(encoding="utf-8") as source,
        (out / "contacts.jsonl").open("w", encoding="utf-8") as contacts,
        (out / "events.jsonl").open("w", encoding="utf-8") as events,
        (out / "outcomes.jsonl").open("w", encoding="utf-8") as outcomes,
    ):
        for row in csv.DictReader(source):
            lead = row["mql_id"]
            profile = {"origin": row["origin"] or "unknown", "landing_page": row["landing_page_id"]}
            contacts.write(json.dumps({"id": lead, "properties": profile}) + "\n")
            first = datetime.fromisoformat(row["first_contact_date"]).replace(tzinfo=UTC)
            events.write(json.dumps({"id": f"{lead}-form", "contact_id": lead, "action": "form_submit",
                                     "occurred_at": first.isoformat(),
                                     "attributes": {"landing_page": row["landing_page_id"]}}) + "\n")  # fmt: skip
            closed = won.get(lead)
            converted = datetime.fromisoformat(closed).replace(tzinfo=UTC).isoformat() if closed else None
            outcomes.write(json.dumps({"contact_id": lead, "converted_at": converted}) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print(f"{convert(args.data, args.out)} leads written to {args.out}")


if __name__ == "__main__":
    main()
