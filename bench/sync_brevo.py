"""Benchmark: a first sync cycle of N contacts against the Brevo sandbox with Brevo's "General" rate limits.

    python bench/sync_brevo.py                 # 10,000 and 100,000 contacts
    python bench/sync_brevo.py --sizes 2000

The sandbox and the sync run in separate processes; the sync's peak RSS is
sampled with psutil. Prints API calls per endpoint against the minimum for the
same work (connectors/brevo.md, Limits: contact pages of 1,000, event pages of
5,000, four recipient exports per campaign, imports of up to ``limits.import_rows``
rows into each band list, counted from the lists' members once the cycles are
done), the calls the batch path alone would need, and peak RSS; then where the
cycle's time went and a second cycle's, which re-reads every contact (Brevo
reports every written contact modified).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import httpx

from _sync_run import sync_against_sandbox
from leadscore.connectors.brevo.mapping import BrevoMapping
from leadscore.connectors.mapping import load_mapping
from leadscore_sandbox.brevo import BrevoSandbox
from leadscore_sandbox.brevo_seed import seed_brevo

LIMITS = load_mapping("brevo", BrevoMapping, {}).limits
IMPORT_ROWS = LIMITS.import_rows
CONTACTS_PER_SECOND = LIMITS.contacts_per_second
SETUP = ("attributes", "folders", "/lists")


def expected_work(contacts: int, seed: int) -> dict[str, int]:
    """Count what the seeded sandbox holds, with the same seed, without serving it."""
    shadow = BrevoSandbox(port=0)
    seed_brevo(shadow, contacts, seed=seed)
    shadow.stop()
    return {"contacts": contacts, "campaigns": len(shadow.campaigns), "smtp_events": len(shadow.smtp_events)}


def minimum_calls(work: dict[str, int], band_members: list[int]) -> dict[str, int]:
    return {
        "GET /contacts": math.ceil(work["contacts"] / 1000) + (work["contacts"] % 1000 == 0),
        "GET /smtp/statistics/events": max(1, math.ceil(work["smtp_events"] / 5000)),
        "GET /emailCampaigns": 1,
        "POST /emailCampaigns/{campaignId}/exportRecipients": 4 * work["campaigns"],
        "GET /processes/{processId}": 4 * work["campaigns"],
        "POST /contacts/import": sum(math.ceil(n / IMPORT_ROWS) for n in band_members),
    }


def band_list_members(base_url: str, into: dict[str, int]) -> None:
    """Members of each list in leadscore's folders, as the sandbox counts them once the cycles are done."""
    with httpx.Client(base_url=base_url, headers={"api-key": "sandbox-key"}) as client:
        for folder in client.get("/contacts/folders", params={"limit": 50}).json()["folders"]:
            lists = client.get(f"/contacts/folders/{folder['id']}/lists", params={"limit": 50}).json()["lists"]
            into.update({item["name"]: int(item["totalSubscribers"]) for item in lists})


def run(contacts: int, seed: int) -> None:
    members: dict[str, int] = {}
    [(report, wall, peak), (again, again_wall, _)] = sync_against_sandbox(
        "brevo",
        contacts,
        seed,
        token="sandbox-key",
        mapping={"limits": {"process_poll_seconds": 0.2}},
        base_path="/v3",
        cycles=2,
        inspect=lambda base_url: band_list_members(base_url, members),
    )
    work = expected_work(contacts, seed)
    calls: dict[str, int] = report["api_calls"]
    minimum = minimum_calls(work, list(members.values()))
    print(f"--- {contacts:,} contacts, {work['campaigns']} campaigns, {work['smtp_events']:,} transactional events ---")
    print(f"status {report['status']}, applied {report['applied']:,} changes, {report['rate_limited']} rate-limited")
    if report["error"]:
        print(f"error: {report['error']}")
    print(f"{'endpoint':55} {'calls':>8} {'minimum':>8}")
    for name, minimal in minimum.items():
        print(f"{name:55} {calls.get(name, 0):>8,} {minimal:>8,}")
    others = {n: c for n, c in calls.items() if n not in minimum}
    for name, count in sorted(others.items()):
        kind = "setup" if any(part in name for part in SETUP) else "read" if name.startswith("GET") else "write"
        print(f"{name:55} {count:>8,} {'(' + kind + ')':>8}")
    used, least = sum(calls.values()), sum(minimum.values())
    setup = sum(c for n, c in others.items() if any(part in n for part in SETUP))
    batch_only = math.ceil(contacts / 100)
    ratio, ratio_work = used / least, (used - setup) / least
    print(f"{'total':55} {used:>8,} {least:>8,}   ratio {ratio:.2f} ({ratio_work:.2f} without setup)")
    print(f"the batch path alone would need {batch_only:,} POST /contacts/batch calls for the writes")
    print(f"wall seconds {wall:.1f}; {peak.describe()}")
    print(f"phases: {_phases(report)}")
    print(f"streams: {_streams(report)}")
    pages = calls.get("GET /contacts", 0)
    print(
        f"contacts phase {report['phase_seconds'].get('contacts', 0):.1f} s for {pages} pages; "
        f"their floor at {CONTACTS_PER_SECOND} a second {pages / CONTACTS_PER_SECOND:.1f} s"
    )
    read_again = again["api_calls"].get("GET /contacts", 0)
    print(
        f"second cycle (nothing changed; every contact re-read, as after a write): {again_wall:.1f} s wall, "
        f"{again['contacts_read']:,} read in {read_again} pages; phases: {_phases(again)}"
    )


def _streams(report: dict[str, Any]) -> str:
    return "; ".join(
        f"{name} {spent['pages']} pages, waited {spent['waiting']:.1f}s, saved {spent['saving']:.1f}s"
        for name, spent in report["stream_seconds"].items()
    )


def _phases(report: dict[str, Any]) -> str:
    return ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report["phase_seconds"].items() if seconds >= 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.seed)


if __name__ == "__main__":
    main()
