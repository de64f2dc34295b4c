"""Commands that talk to platforms: sync one cycle, serve a sandbox."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from leadscore.cli import progress
from leadscore.cli.offline import fail, parse_now
from leadscore.clock import utcnow
from leadscore.daemon.leases import SingleDaemonLock
from leadscore.engine import Engine, engines, load_model_file
from leadscore.errors import ConfigError, LeadscoreError
from leadscore.people import PeopleScope
from leadscore.platforms import build_connector, platforms
from leadscore.protocol import Connector
from leadscore.rescore import Parallelism
from leadscore.settings import Settings, load_people_scope, load_sources
from leadscore.sources import SourceSettings
from leadscore.store import Lease, SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline
from leadscore.sync.plan import write_targets

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def load_engines(model: Path) -> list[Engine]:
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
        people = load_people_scope(sources_file or settings.sources_file, sources)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    chosen = [s for s in sources if source is None or s.name == source]
    if not chosen:
        raise fail(f"no source named '{source}'; sources: {', '.join(s.name for s in sources)}", 2)
    compiled = load_engines(model or settings.model)
    store = SQLStore.open(state_url or settings.state_url)
    try:
        single = None if dry_run else SingleDaemonLock(store, by_sync=True)
    except ConfigError as exc:
        store.close()
        raise fail(str(exc), 2) from None
    reports: list[CycleReport] = []

    def run(item: SourceSettings) -> None:
        report = _run(
            store,
            item,
            compiled,
            settings.parallelism(),
            dry_run=dry_run,
            full=full,
            now=moment,
            people=people,
            history_days=settings.history_days,
        )
        print_report(report)
        reports.append(report)

    try:
        for item in chosen:
            run(item)
        for item in _waited_for_sources_read_since(store, chosen, reports):
            run(item)
    finally:
        if single is not None:
            single.release()
        store.close()
        if report_json is not None:
            shown = [{"source": report.source, **report.as_dict()} for report in reports]
            report_json.write_text(json.dumps(shown, indent=2), encoding="utf-8")
    if any(report.status in ("failed", "skipped") for report in reports):
        raise typer.Exit(1)


def _waited_for_sources_read_since(
    store: SQLStore, chosen: list[SourceSettings], reports: list[CycleReport]
) -> list[SourceSettings]:
    """Sources whose first scoring waited for others of their people group that this run has read since: they
    run once more (the run shows both reports), so that one run of a new group ends with every source scored."""
    waited = {report.source: report.waiting_for for report in reports if report.waiting_for}
    return [item for item in chosen if item.name in waited and not store.never_pulled(waited[item.name])]


def _run(
    store: SQLStore,
    source: SourceSettings,
    compiled: list[Engine],
    parallelism: Parallelism,
    *,
    dry_run: bool,
    full: bool,
    now: datetime | None,
    people: PeopleScope | None = None,
    history_days: int = 400,
) -> CycleReport:
    """One cycle of ``source`` under its lease (a dry run writes nothing and needs none); a lease another
    replica or sync holds skips the source."""
    lease: contextlib.AbstractContextManager[Lease | None] = (
        contextlib.nullcontext(None) if dry_run else store.source_lease(source.name)
    )
    with lease as held:
        if held is not None and not held:
            report = CycleReport(source.name)
            report.status = "skipped"
            report.error = (
                f"another replica or sync holds source {source.name}'s lease on {store.display_url()} (a running "
                "daemon syncs it); nothing was read or written. Leave it to the daemon, or stop it first"
            )
            return report
        pipeline: Pipeline | None = None
        connector: Connector | None = None
        try:
            connector = build_connector(source, write_targets(compiled))
            clock = (lambda: now) if now is not None else utcnow
            pipeline = Pipeline(
                store,
                connector,
                compiled,
                clock=clock,
                parallelism=parallelism,
                people=people,
                history_days=history_days,
            )
            with progress.shown(pipeline, err):
                return pipeline.run_cycle(dry_run=dry_run, full_rescore=full, lease=held)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        except LeadscoreError as exc:
            report = (pipeline.last_report if pipeline else None) or CycleReport(source.name, dry_run=dry_run)
            report.status, report.error = "failed", str(exc)
            return report
        finally:
            if connector is not None:
                connector.close()


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
    if report.waiting_for:
        out.print(
            f"  scoring waits for the first pull of {', '.join(report.waiting_for)} (people group), so that shared "
            "people are written once, with every platform's data; its records stay queued",
            highlight=False,
        )
    if report.events_waiting or report.events_expired:
        out.print(
            f"  webhook events for someone not a contact yet: {report.events_waiting} kept for the next cycle, "
            f"{report.events_expired} given up (older than the inbox keeps them)",
            highlight=False,
        )
    for stream, why in report.streams_off.items():
        out.print(escape(f"  stream {stream} left out: {why}"), highlight=False)
    for stream, why in report.streams_waiting.items():
        out.print(escape(f"  stream {stream} waits for its budget (read on by a later cycle): {why}"), highlight=False)
    calls = sum(report.api_calls.values())
    out.print(f"  API calls: {calls} ({report.rate_limited} rate-limited)", highlight=False)
    if report.phase_seconds:
        spent = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report.phase_seconds.items())
        out.print(f"  time: {spent}", highlight=False)
    if report.stream_seconds:
        streams = "; ".join(
            f"{name} {spent.pages} pages, waited {spent.waiting:.1f}s, saved {spent.saving:.1f}s"
            for name, spent in report.stream_seconds.items()
        )
        out.print(escape(f"  reading: {streams}"), highlight=False)
    if report.problems:
        out.print(f"  [yellow]{len(report.problems)} records with bad data[/], e.g.", highlight=False)
        for problem in report.problems[:3]:
            out.print(escape(f"    {problem.record_id}: {problem.field}: {problem.problem}"), highlight=False)
    if report.linked:
        others = ", ".join(f"{n} for {s}" for s, n in sorted(report.linked_changes.items())) or "none"
        out.print(
            f"  people: {report.linked} linked records in other sources given their person's score; "
            f"changes planned there: {others}; {report.folded} events counted once as another platform's",
            highlight=False,
        )
    if report.duplicates:
        out.print(f"  [yellow]{len(report.duplicates)} duplicate records[/] (one email, one source), e.g.")
        for line in report.duplicates[:3]:
            out.print(escape(f"    {line}"), highlight=False)
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
        out.print(f"  [red]{escape(report.error)}[/]", highlight=False)


def sandbox(
    platform: Annotated[
        str | None, typer.Option("--platform", help="Which platform to imitate (default: the first installed).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    contacts: Annotated[int, typer.Option("--contacts", help="Seeded contacts.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 1,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", min=0, help="Hold every answer this long, as a distant platform would.")
    ] = 0,
) -> None:
    """Serve a seeded platform sandbox in the foreground, for a source (or another tool) to point at."""
    known = platforms()
    platform = platform or next(iter(known))
    if platform not in known:
        raise fail(f"--platform: '{platform}' has no sandbox; available: {', '.join(known)}", 2)
    seeded = known[platform].sandbox(port, contacts, seed)
    seeded.server.faults.latency_seconds = latency_ms / 1000
    out.print(f"{platform} sandbox on {seeded.base_url} with {contacts} contacts (seed {seed})")
    out.print(f"point a source at it: base_url: {seeded.base_url}, token: {seeded.token}. Ctrl-C stops it.")
    try:
        seeded.server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")
