"""X Education's leads (../shared/data/leads-x-education/Leads.csv) as leadscore contacts, events and outcomes.

    python examples/real_data/x_education.py OUT_DIR [--csv PATH]

writes OUT_DIR/contacts.jsonl, events.jsonl and outcomes.jsonl, for

    leadscore backtest --model examples/real_data/x_education.yaml --contacts OUT_DIR/contacts.jsonl \\
        --events OUT_DIR/events.jsonl --outcomes OUT_DIR/outcomes.jsonl --now 2026-11-23T12:00:00Z

The set has no dates: every event is dated a day before NOW and a conversion is a
label, not a moment, so backtest it without --as-of. Left out, because sales fill
them in while working a lead (they leak the outcome): Tags, Lead Quality, Last
Notable Activity, Lead Profile and the Asymmetrique activity and profile indices.
The data is read where it lies and never copied into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DEFAULT_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "leads-x-education" / "Leads.csv"
MAX_VISITS = 30
ACTIVITY = {
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Email Bounced": "hard_bounce",
    "Unsubscribed": "unsubscribe",
    "SMS Sent": "sms_sent",
    "Olark Chat Conversation": "chat",
    "Page Visited on Website": "page_view",
    "Converted to Lead": "lead_status_change",
    "Form Submitted on Website": "form_submit",
    "Had a Phone Conversation": "phone_call",
    "Unreachable": "call_unreachable",
}
PROFILE = {
    "Lead Origin": "lead_origin",
    "Lead Source": "lead_source",
    "What is your current occupation": "occupation",
    "Specialization": "specialization",
    "Country": "country",
    "City": "city",
    "Do Not Email": "do_not_email",
}


def _action(activity: str) -> str:
    return ACTIVITY.get(activity) or re.sub(r"[^a-z0-9]+", "_", activity.lower()).strip("_")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def convert(csv_path: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    moment = (NOW - timedelta(days=1)).isoformat()
    count = 0
    with (
        csv_path.open(encoding="utf-8") as source,
        (out / "contacts.jsonl").open("w", encoding="utf-8") as contacts,
        (out / "events.jsonl").open("w", encoding="utf-8") as events,
        (out / "outcomes.jsonl").open("w", encoding="utf-8") as outcomes,
    ):
        for row in csv.DictReader(source):
            lead = row["Prospect ID"]
            profile = {name: row[column] for column, name in PROFILE.items() if row[column] not in ("", "Select")}
            contacts.write(json.dumps({"id": lead, "properties": profile}) + "\n")
            visits = int(min(_number(row["TotalVisits"]), MAX_VISITS))
            seconds = _number(row["Total Time Spent on Website"]) / visits if visits else 0.0
            lines = [{"action": "page_view", "attributes": {"seconds": round(seconds)}} for _ in range(visits)]
            if row["Last Activity"]:
                lines.append({"action": _action(row["Last Activity"]), "attributes": {}})
            if row["A free copy of Mastering The Interview"] == "Yes":
                lines.append({"action": "content_download", "attributes": {"asset": "mastering the interview"}})
            for number, line in enumerate(lines):
                events.write(
                    json.dumps({"id": f"{lead}-{number}", "contact_id": lead, "occurred_at": moment, **line}) + "\n"
                )
            converted = NOW.isoformat() if row["Converted"] == "1" else None
            outcomes.write(json.dumps({"contact_id": lead, "converted_at": converted}) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    print(f"{convert(args.csv, args.out)} leads written to {args.out}")


if __name__ == "__main__":
    main()
