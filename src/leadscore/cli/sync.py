"""Commands that talk to platforms: sync one cycle, serve a sandbox, run the demo."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from leadscore.cli.offline import fail, parse_now
from leadscore.clock import utcnow
from leadscore.connectors import build_connector
from leadscore.engine import Engine, engines, load_model_file
from leadscore.errors import ConfigError, LeadscoreError
from leadscore.settings import Settings, SourceSettings, load_sources
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline

out = Console(soft_wrap=True)


def _engines(model: Path) -> list[Engine]:
    try:
        return engines(load_model_file(model))
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def sync(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle per source and exit.")] = True,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing to any platform.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Rescore every contact (applies decay), not only changed ones.")
    ] = False,
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="Sources file (LEADSCORE_SOURCES_FILE).")
    ] = None,
    state_url: Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Model file (LEADSCORE_MODEL).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (tests, replays).")] = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Also write the reports here.")] = None,
) -> None:
    """Run one sync cycle: pull, score, plan, and write back what changed."""
    settings = Settings()
    moment = parse_now(now) if now is not None else None
    try:
        sources = load_sources(sources_file or settings.sources_file)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    chosen = [s for s in sources if source is None or s.name == source]
    if not chosen:
        raise fail(f"no source named '{source}'; sources: {', '.join(s.name for s in sources)}", 2)
    compiled = _engines(model or settings.model)
    store = SQLStore.open(state_url or settings.state_url)
    failed = False
    reports = []
    try:
        for item in chosen:
            report = _run(store, item, compiled, dry_run=dry_run, full=full, now=moment)
            print_report(report)
            reports.append({"source": report.source, **report.as_dict()})
            failed = failed or report.status == "failed"
    finally:
        store.close()
        if report_json is not None:
            report_json.write_text(json.dumps(reports, indent=2), encoding="utf-8")
    if failed:
        raise typer.Exit(1)


def _run(
    store: SQLStore, source: SourceSettings, compiled: list[Engine], *, dry_run: bool, full: bool, now: datetime | None
) -> CycleReport:
    try:
        connector = build_connector(source)
        clock = (lambda: now) if now is not None else utcnow
        return Pipeline(store, connector, compiled, clock=clock).run_cycle(dry_run=dry_run, full_rescore=full)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except LeadscoreError as exc:
        report = CycleReport(source.name, dry_run=dry_run, status="failed", error=str(exc))
        return report


def print_report(report: CycleReport) -> None:
    verb = "would write" if report.dry_run else "wrote"
    out.print(f"[bold]{report.source}[/]: {report.status}", highlight=False)
    out.print(
        f"  read {report.contacts_read} contacts and {report.events_new} new events; "
        f"scored {report.contacts_scored}; {report.score_changes} score, {report.grade_changes} grade and "
        f"{report.band_changes} band changes",
        highlight=False,
    )
    out.print(
        f"  {verb}: {report.changes.get('set_properties', 0)} property updates, "
        f"{report.changes.get('list_add', 0)} list adds, {report.changes.get('list_remove', 0)} list removes"
        + (
            ""
            if report.dry_run
            else f"; applied {report.applied}, set aside {report.set_aside}, gone {report.gone}, merged {report.merged}"
        ),
        highlight=False,
    )
    calls = sum(report.api_calls.values())
    out.print(f"  API calls: {calls} ({report.rate_limited} rate-limited)", highlight=False)
    if report.problems:
        out.print(f"  [yellow]{len(report.problems)} records with bad data[/], e.g.", highlight=False)
        for problem in report.problems[:3]:
            out.print(f"    {problem.record_id}: {problem.field}: {problem.problem}", highlight=False)
    if report.unmatched_actions:
        out.print("  events no rule scored: " + ", ".join(f"{a} x{n}" for a, n in report.unmatched_actions.items()))
    if report.dry_run and report.sample:
        out.print("  sample of the plan:")
        for item in report.sample:
            out.print(
                f"    {item['contact']}: {item['score']} {item['grade']} {item['band']}: " + "; ".join(item["changes"]),
                highlight=False,
            )
    if report.error:
        out.print(f"  [red]{report.error}[/]", highlight=False)


def sandbox(
    platform: Annotated[str, typer.Option("--platform", help="Which platform to imitate.")] = "hubspot",
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    contacts: Annotated[int, typer.Option("--contacts", help="Seeded contacts.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 1,
) -> None:
    """Serve a seeded platform sandbox in the foreground, for a source (or another tool) to point at."""
    if platform != "hubspot":
        raise fail(f"--platform: '{platform}' has no sandbox yet; available: hubspot", 2)
    from leadscore_sandbox.hubspot import HubSpotSandbox
    from leadscore_sandbox.hubspot_seed import seed_hubspot

    server = HubSpotSandbox(port=port)
    seed_hubspot(server, contacts, seed=seed)
    out.print(f"HubSpot sandbox on {server.url} with {contacts} contacts (seed {seed}); token: sandbox-token")
    out.print("point a source at it: base_url: " + server.url + ", token: sandbox-token. Ctrl-C stops it.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")


def demo(
    contacts: Annotated[int, typer.Option("--contacts", help="Seeded contacts in the sandbox.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 1,
    model: Annotated[Path, typer.Option("--model", help="Model file.")] = Path("config/scoring.yaml"),
    top: Annotated[int, typer.Option("--top", help="How many leads to list.")] = 10,
) -> None:
    """Start a seeded HubSpot sandbox, run one sync cycle into a fresh SQLite store, and show what happened."""
    from leadscore_sandbox.hubspot import HubSpotSandbox
    from leadscore_sandbox.hubspot_seed import NEWSLETTER_CAMPAIGN, seed_hubspot

    compiled = _engines(model)
    server = HubSpotSandbox(port=0).start()
    seed_hubspot(server, contacts, seed=seed)
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-demo-"))
    store = SQLStore.open(f"sqlite:///{workdir / 'leadscore.db'}")
    source = SourceSettings(
        name="hubspot-sandbox",
        platform="hubspot",
        base_url=server.url,
        token=SecretStr("sandbox-token"),
        mapping={"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]},
    )
    out.print(f"HubSpot sandbox on {server.url}, {contacts} seeded contacts; store {workdir / 'leadscore.db'}")
    try:
        started = time.monotonic()
        report = Pipeline(store, build_connector(source), compiled).run_cycle()
        out.print(f"cycle finished in {time.monotonic() - started:.1f}s")
        print_report(report)
        first = compiled[0]
        table = Table("contact", "email", "score", "grade", "band", "why", title=f"top {top} leads ({first.name})")
        for stored, email in store.top_scores(source.name, first.name, top):
            table.add_row(stored.contact_id, email or "", str(stored.score), stored.grade, stored.band, stored.reasons)
        out.print(table)
        lists = ", ".join(f"{lst.name}: {len(lst.members)}" for lst in server.lists.values())
        out.print(f"sandbox lists now: {lists}", highlight=False)
        out.print(f"sandbox saw {server.log.total()} requests", highlight=False)
    finally:
        store.close()
        server.stop()
