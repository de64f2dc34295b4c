"""``leadscore plan``: what a proposed model would change on every record, before it touches one.

Read from the state store only; the sources file tells each source's platform,
for the cost of the writes at its limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadscore.cli.offline import fail, parse_now
from leadscore.cli.sync import load_engines
from leadscore.errors import ConfigError
from leadscore.platforms import platform
from leadscore.settings import Settings, load_sources
from leadscore.store import SQLStore
from leadscore.sync.plan import write_targets
from leadscore.sync.preview import Outcome, SourcePreview, preview_in_parallel

out = Console()


def plan(
    model: Annotated[Path, typer.Option("--model", "-m", help="The proposed model file.")],
    current: Annotated[
        Path | None, typer.Option("--current", help="The model in force (LEADSCORE_MODEL, default config).")
    ] = None,
    state_url: Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="Sources file (LEADSCORE_SOURCES_FILE).")
    ] = None,
    now: Annotated[str | None, typer.Option("--now", help="Score as of this ISO time.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the plan as JSON here.")] = None,
) -> None:
    """Score every stored contact with the model in force and with MODEL, and show what would change where."""
    settings = Settings()
    proposed = load_engines(model)
    in_force = load_engines(current or settings.model)
    moment = parse_now(now)
    try:
        sources = load_sources(sources_file or settings.sources_file)
    except ConfigError as exc:
        if source is None:
            raise fail(f"{exc}; or give --source to plan one source of the store", 2) from None
        sources = []
    chosen = [s.name for s in sources if source is None or s.name == source] or ([source] if source else [])
    by_name = {s.name: s for s in sources}
    scored_at = [p.name for p in write_targets(proposed).properties if p.role == "scored_at"]
    store = SQLStore.open(state_url or settings.state_url)
    results = []
    try:
        for name in chosen:
            workers = settings.parallelism().workers
            preview = preview_in_parallel(store, name, in_force, proposed, moment, scored_at, workers=workers)
            settings_of = by_name.get(name)
            costs = {}
            if settings_of is not None:
                cost_of = platform(settings_of.platform).write_cost
                costs = {
                    "proposed": cost_of(settings_of.mapping, preview.proposed.work()),
                    "decay_only": cost_of(settings_of.mapping, preview.decay_only.work()),
                }
            results.append(_as_dict(preview, costs, {e.name: e.band_names for e in (*in_force, *proposed)}))
    finally:
        store.close()
    for result in results:
        _print(result)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")


def _outcome(outcome: Outcome, cost: Any, bands: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    return {
        "bands": {m: {f"{a} -> {b}": n for (a, b), n in sorted(c.items())} for m, c in outcome.bands.items()},
        "grades": {m: {f"{a} -> {b}": n for (a, b), n in sorted(c.items())} for m, c in outcome.grades.items()},
        "entering": {m: outcome.entering(m, bands[m]) for m in outcome.bands},
        "writes": {
            "set_properties": outcome.writes["set_properties"],
            "list_add": outcome.writes["list_add"],
            "list_remove": outcome.writes["list_remove"],
        },
        "list_adds": dict(outcome.list_adds),
        "list_removes": dict(outcome.list_removes),
        "cost": None if cost is None else {"calls": cost.calls, "seconds": cost.seconds, "note": cost.note},
        "samples": {
            m: {f"{a} -> {b}": items for (a, b), items in sorted(moves.items())} for m, moves in outcome.samples.items()
        },
    }


def _as_dict(preview: SourcePreview, costs: dict[str, Any], bands: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    return {
        "source": preview.source,
        "contacts": preview.contacts,
        "proposed": _outcome(preview.proposed, costs.get("proposed"), bands),
        "decay_only": _outcome(preview.decay_only, costs.get("decay_only"), bands),
    }


def _print(result: dict[str, Any]) -> None:
    out.print(f"[bold]{result['source']}[/]: {result['contacts']:,} contacts in the store", highlight=False)
    for key, title in (("proposed", "with the proposed model"), ("decay_only", "decay alone (sync --full)")):
        part = result[key]
        out.print(f"  [bold]{title}[/]", highlight=False)
        for model, moves in part["bands"].items():
            table = Table("band on the record -> after", "contacts", title=f"model {model}")
            for move, count in moves.items():
                table.add_row(move, f"{count:,}")
            out.print(table)
            entering = ", ".join(f"{band} {n:,}" for band, n in part["entering"][model].items())
            out.print(f"    entering a higher band: {entering}", highlight=False)
            grades = sum(part["grades"].get(model, {}).values())
            out.print(f"    grade changes: {grades:,}", highlight=False)
        writes = part["writes"]
        cost = part["cost"]
        line = (
            f"    writes: {writes['set_properties']:,} property updates, {writes['list_add']:,} list adds, "
            f"{writes['list_remove']:,} list removes"
        )
        if cost is not None:
            took = f", about {cost['seconds']:.0f} s" if cost["seconds"] is not None else ""
            line += f"; at least {cost['calls']:,} API calls{took} ({cost['note']})"
        out.print(line, highlight=False)
        for model, moves in part["samples"].items():
            for move, items in moves.items():
                for item in items[:1]:
                    why = "; ".join(item["why"]) or "no rule changed"
                    scores = f"{item['score_on_record']} -> {item['score']}"
                    out.print(f"    e.g. {model} {move}: {item['contact']} {scores}: {why}", highlight=False)
