"""Operator commands: ``leadscore runs`` (the run history) and ``leadscore state show|reset`` (stream cursors)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadscore.cli.offline import fail
from leadscore.settings import Settings
from leadscore.store import SQLStore

out = Console(soft_wrap=True)
StateOption = Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")]
state_app = typer.Typer(help="Inspect or reset where each source's streams stand.", no_args_is_help=True)


def _open(state_url: str | None) -> SQLStore:
    return SQLStore.open(state_url or Settings().state_url, migrate=False)


def runs(
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Runs per source, newest first.")] = 20,
    state_url: StateOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run on stdout, for scripts.")] = False,
) -> None:
    """The run history: when each cycle ran, how long, its status, counts, API calls and error."""
    store = _open(state_url)
    try:
        names = [source] if source else store.run_sources()
        found = [run for name in names for run in store.recent_runs(name, limit)]
    finally:
        store.close()
    if as_json:
        for run in found:
            record = {"id": run.id, "source": run.source, "started_at": run.started_at.isoformat()}
            record |= {"seconds": run.seconds, "status": run.status, "report": run.report}
            typer.echo(json.dumps(record, default=str))
        return
    if not found:
        raise fail(f"no runs{f' of source {source}' if source else ''} in the store", 1)
    table = Table("source", "started (UTC)", "seconds", "status", "read", "new events", "applied", "API calls", "error")
    for run in found:
        report = run.report
        table.add_row(
            run.source,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{run.seconds:.1f}" if run.seconds is not None else "",
            run.status,
            str(report.get("contacts_read", "")),
            str(report.get("events_new", "")),
            str(report.get("applied", "")),
            str(sum((report.get("api_calls") or {}).values())),
            str(report.get("error") or ""),
        )
    out.print(table)


@state_app.command("show")
def state_show(
    source: Annotated[str, typer.Option("--source", help="The source whose streams to show.")],
    state_url: StateOption = None,
) -> None:
    """Each stream's saved position (its cursor) and when it last moved."""
    store = _open(state_url)
    try:
        cursors = store.cursors(source)
    finally:
        store.close()
    if not cursors:
        raise fail(f"source {source} has no saved stream position in the store", 1)
    table = Table("stream", "position", "moved (UTC)")
    for stream, value, moved in cursors:
        table.add_row(stream, json.dumps(value)[:200], moved.strftime("%Y-%m-%d %H:%M:%S"))
    out.print(table)


@state_app.command("reset")
def state_reset(
    source: Annotated[str, typer.Option("--source", help="The source whose streams to reset.")],
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream (default: all of them).")] = None,
    state_url: StateOption = None,
) -> None:
    """Forget where the source's streams (or one stream) stand: the next cycle reads them from the start. Stored
    contacts, events and scores stay; re-read records and events are de-duplicated. The store's own marks of the
    source (named with a leading ``_``: read to the end once, its people group, refused streams) stay too."""
    store = _open(state_url)
    try:
        known = [name for name, _, _ in store.cursors(source) if not name.startswith("_")]
        chosen = [stream] if stream else known
        if stream and stream not in known:
            raise fail(f"source {source} has no stream '{stream}'; it has: {', '.join(known) or 'none'}", 2)
        for name in chosen:
            store.forget_cursor(source, name)
    finally:
        store.close()
    out.print(f"reset {len(chosen)} stream(s) of {source}: {', '.join(chosen) or 'none'}", highlight=False)
