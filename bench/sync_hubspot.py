"""Benchmark: a first sync cycle of N contacts against the HubSpot sandbox with HubSpot's real rate limits.

    python bench/sync_hubspot.py                 # 10,000 and 100,000 contacts
    python bench/sync_hubspot.py --sizes 2000
    python bench/sync_hubspot.py --sizes 10000 --latency-ms 100 --writes-in-flight 1

The sandbox and the sync each run in their own process (as in production, the
sync's memory is its own); the sync's peak RSS is sampled with psutil. Prints API
calls per endpoint against the minimum for the same work (connectors/hubspot.md, Limits),
wall time against the rate-limit floor, and peak RSS. Figures go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math

from _sync_run import sync_against_sandbox
from leadscore_sandbox.hubspot import HubSpotSandbox, Limits
from leadscore_sandbox.hubspot_seed import NEWSLETTER_CAMPAIGN, seed_hubspot

LIMITS = Limits()
LIST_CAP = 10_000  # connectors/hubspot.yaml limits.list_membership (HubSpot documents no per-call cap)
SETUP_CALLS = 1 + 1 + 6 + 4 + 4  # read properties, group, 6 properties, look up and create 4 band lists


def expected_work(contacts: int, seed: int) -> dict[str, int]:
    """Count what the seeded sandbox holds, with the same seed, without serving it."""
    shadow = HubSpotSandbox(port=0)
    seed_hubspot(shadow, contacts, seed=seed)
    shadow.stop()
    return {"contacts": contacts, "web_events": len(shadow.web_events), "email_events": len(shadow.email_events)}


def minimum_calls(work: dict[str, int], band_sizes: dict[str, int]) -> dict[str, int]:
    return {
        "GET /crm/v3/objects/contacts": math.ceil(work["contacts"] / LIMITS.list_page_max),
        "GET /events/v3/events": math.ceil(work["web_events"] / LIMITS.events_page_max),
        "GET /email/public/v1/events": max(1, math.ceil(work["email_events"] / LIMITS.email_events_page_max)),
        "POST /crm/v3/objects/contacts/batch/update": math.ceil(work["contacts"] / LIMITS.batch_max),
        "PUT /crm/v3/lists/memberships/add-and-remove": sum(math.ceil(n / LIST_CAP) for n in band_sizes.values()),
        "setup (properties, group, lists)": SETUP_CALLS,
    }


def run(contacts: int, seed: int, workers: int | None, latency_ms: int, writes_in_flight: int | None) -> None:
    mapping: dict[str, object] = {"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]}
    if writes_in_flight is not None:
        mapping["limits"] = {"writes_in_flight": writes_in_flight}
    [(report, wall, peak)] = sync_against_sandbox(
        "hubspot", contacts, seed, token="sandbox-token", mapping=mapping, workers=workers, latency_ms=latency_ms
    )
    work = expected_work(contacts, seed)
    band_sizes = {"adds": report["changes"].get("list_add", 0)}
    minimum = minimum_calls(work, _bands_from(report, band_sizes))
    calls = report["api_calls"]
    setup_used = sum(n for name, n in calls.items() if "properties" in name or name.endswith(("/lists", "/name")))
    used = {name: calls.get(name, 0) for name in minimum if not name.startswith("setup")}
    used["setup (properties, group, lists)"] = setup_used
    total_used, total_min = sum(used.values()), sum(minimum.values())
    general_min = total_min
    floor = general_min / (LIMITS.per_ten_seconds / 10)
    print(f"--- {contacts:,} contacts, {work['web_events']:,} web events, {work['email_events']:,} email events ---")
    print(f"status {report['status']}, applied {report['applied']:,} changes, {report['rate_limited']} rate-limited")
    print(f"{'endpoint':50} {'calls':>8} {'minimum':>8} {'ratio':>6}")
    for name, minimal in minimum.items():
        print(f"{name:50} {used[name]:>8,} {minimal:>8,} {used[name] / minimal if minimal else 0:>6.3f}")
    print(f"{'total':50} {total_used:>8,} {total_min:>8,} {total_used / total_min:>6.3f}   (target <= 1.05)")
    print(
        f"wall seconds {wall:.1f}; rate-limit floor {floor:.1f}s at {LIMITS.per_ten_seconds}/10s; "
        f"ratio {wall / floor:.2f} (target <= 1.2)"
    )
    print(f"scoring processes {report.get('scoring_workers', 1)}; {peak.describe()}")
    phases = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report.get("phase_seconds", {}).items())
    print(f"phases: {phases}")


def _bands_from(report: dict[str, object], fallback: dict[str, int]) -> dict[str, int]:
    """One add per contact, spread over the four band lists: the list minimum is at most one call per list per cap."""
    adds = int(fallback["adds"])
    return {f"band{i}": math.ceil(adds / 4) for i in range(4)} if adds else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, help="LEADSCORE_SCORING_WORKERS for the sync (default: its own)")
    parser.add_argument("--latency-ms", type=int, default=0, help="the sandbox holds every answer this long")
    parser.add_argument("--writes-in-flight", type=int, help="the source's limits.writes_in_flight (default: its own)")
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.seed, args.workers, args.latency_ms, args.writes_in_flight)


if __name__ == "__main__":
    main()
