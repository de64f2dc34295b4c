"""``leadscore person EMAIL``: a person's records on every source, and why the person scores what they do."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadscore.cli.offline import contributions_table, fail, parse_now
from leadscore.cli.sync import load_engines
from leadscore.engine import Engine, reasons_text
from leadscore.errors import ConfigError
from leadscore.people import PeopleScope, assemble, score_person
from leadscore.records import Contact, ScoreResult
from leadscore.settings import Settings, load_people_scope, load_sources
from leadscore.store import SQLStore

out = Console(soft_wrap=True)


def person(
    email: Annotated[str, typer.Argument(help="The person's email (any case; trimmed).")],
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="Sources file (LEADSCORE_SOURCES_FILE), for its people group.")
    ] = None,
    state_url: Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Model file (LEADSCORE_MODEL).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (default: now).")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write what is shown here, as JSON.")] = None,
) -> None:
    """Show a person's records on every source, where each profile field came from, and every rule that
    moved the person's score (with the source of its events)."""
    settings = Settings()
    path = sources_file or settings.sources_file
    try:
        scope = load_people_scope(path, load_sources(path)) if path.is_file() else None
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    compiled = load_engines(model or settings.model)
    moment = parse_now(now)
    store = SQLStore.open(state_url or settings.state_url, migrate=False)
    try:
        records = store.person_records(email)
    finally:
        store.close()
    if not records:
        raise fail(f"no record in {store.display_url()} has the email '{email}'", 1)
    table = Table("source", "record", "email", "state", *(f"{e.name}: stored score" for e in compiled))
    for found in records:
        stored = [found.scores.get(e.name) for e in compiled]
        table.add_row(
            found.source,
            found.contact_id,
            found.record.email or "",
            "live" if found.live else "deleted or merged",
            *(f"{s[0]} {s[1]} {s[2]}" if s else "not scored" for s in stored),
        )
    out.print(table)
    live = [found.record for found in records if found.live]
    grouped = [r for r in live if scope is not None and r.source in scope.sources]
    shown: dict[str, Any] = {"email": email, "records": [_record_json(found) for found in records], "people": []}
    if grouped and scope is not None:
        shown["people"].append(_show(compiled, scope, grouped, moment))
    for alone in (r for r in live if r not in grouped):
        solo = PeopleScope(sources=(alone.source,))
        shown["people"].append(_show(compiled, solo, [alone], moment, note=f"scored alone ({alone.source})"))
    if as_json is not None:
        as_json.write_text(json.dumps(shown, indent=2, default=str), encoding="utf-8")


def _show(
    compiled: list[Any], scope: PeopleScope, records: list[Any], moment: Any, note: str | None = None
) -> dict[str, Any]:
    first = records[0]
    view = assemble(Contact(first.source, first.contact_id, first.email, first.profile), records, scope)
    title = note or f"the person across {', '.join(sorted({r.source for r in records}))}"
    out.rule(escape(title))
    if view.profile_sources:
        out.print(
            "profile: "
            + "; ".join(
                f"{name} = {view.contact.profile[name]!r} ({view.profile_sources[name]})"
                for name in sorted(view.profile_sources)
            ),
            highlight=False,
        )
    if view.folded:
        out.print(f"{view.folded} events counted once (another platform reported the same action)")
    results = []
    for engine in compiled:
        result = score_person(engine, view, scope, moment)
        out.print(
            f"[bold]{engine.name}[/]: score [bold]{result.score}[/]  grade {result.grade}  band {result.band}  "
            f"(fit {result.fit:g}, behaviour {result.behaviour:g})",
            highlight=False,
        )
        out.print(contributions_table(engine, result, moment))
        written = reasons_text(result, moment, engine.model.top_reasons)
        out.print(f"written as: {escape(written)}", highlight=False)
        results.append(
            {
                "model": engine.name,
                "score": result.score,
                "grade": result.grade,
                "band": result.band,
                "reasons": written,
                "contributions": [
                    {"rule": c.rule_id, "kind": c.kind, "points": c.points, "events": c.events, "sources": c.sources}
                    for c in result.contributions
                ],
            }
        )
    return {
        "records": [[r.source, r.contact_id] for r in records],
        "profile_sources": view.profile_sources,
        "folded": view.folded,
        "scores": results,
    }


def _record_json(found: Any) -> dict[str, Any]:
    return {
        "source": found.source,
        "id": found.contact_id,
        "email": found.record.email,
        "live": found.live,
        "scores": {
            model: dict(zip(("score", "grade", "band", "reasons"), v, strict=True)) for model, v in found.scores.items()
        },
    }


def stored_result(
    engine: Engine, state_url: str, source: str, contact_id: str, sources_file: Path | None, moment: datetime
) -> tuple[Contact, ScoreResult]:
    """A store's record and its result as its cycle scores it: as its person where its source shares people."""
    from leadscore.console.figures import explain_person

    path = sources_file or Settings().sources_file
    try:
        scope = load_people_scope(path, load_sources(path)) if path.is_file() else None
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    store = SQLStore.open(state_url, migrate=False)
    try:
        records = store.records_of(source, contact_id)
        where = store.display_url()
    finally:
        store.close()
    records.sort(key=lambda found: (found.source, found.contact_id) != (source, contact_id))
    if not records or not records[0].live or records[0].source != source:
        state = "deleted or merged away" if records and records[0].source == source else "not in it"
        raise fail(f"{where}: source {source} has no live record '{contact_id}' ({state})", 2)
    [explained] = explain_person([engine], records, scope, moment)
    first = records[0].record
    return Contact(first.source, first.contact_id, first.email, first.profile), explained.result
