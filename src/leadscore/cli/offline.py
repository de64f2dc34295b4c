"""Commands that work on files alone: validate a model, score JSON-lines, explain one contact.

They let a revops engineer test a model before it touches a live platform.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadscore.clock import utcnow
from leadscore.engine import Engine, load_model_file, reasons_text
from leadscore.engine.explain import describe, format_points, top_contributions
from leadscore.errors import ConfigError, InputError
from leadscore.jsonl import read_contacts, read_events
from leadscore.records import Contact, Event, ScoreResult, ensure_utc

DEFAULT_MODEL = Path("config/scoring.yaml")
err = Console(stderr=True, soft_wrap=True)

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Scoring model file (YAML).")]
ContactsOption = Annotated[Path, typer.Option("--contacts", help="Contacts, one JSON object per line.")]
EventsOption = Annotated[Path | None, typer.Option("--events", help="Events, one JSON object per line.")]
NowOption = Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (default: now, UTC).")]
NameOption = Annotated[str | None, typer.Option("--name", help="Which model of the file (default: the first).")]


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def pick_engine(model_path: Path, name: str | None) -> Engine:
    try:
        model_file = load_model_file(model_path)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    if name is None:
        name = next(iter(model_file.models))
    if name not in model_file.models:
        raise fail(f"{model_path}: no model named '{name}'; models: {', '.join(model_file.models)}", 2)
    return Engine(name, model_file.models[name])


def parse_now(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        raise fail(f"--now: '{value}' is not an ISO 8601 time, e.g. 2026-11-23T12:00:00Z", 2) from None


class _Inputs:
    """Contacts and their events read from files, with every problem counted."""

    def __init__(self, contacts_path: Path, events_path: Path | None, strict: bool) -> None:
        self.problems: list[InputError] = []
        self.strict = strict
        for path in (contacts_path, events_path):
            if path is not None and not path.is_file():
                raise fail(f"{path}: file not found", 2)
        self.contacts: dict[str, Contact] = {}
        for contact in read_contacts(contacts_path, self._problem):
            if contact.id in self.contacts:
                self._problem(InputError(str(contacts_path), 0, f"contact id '{contact.id}' appears twice; last wins"))
            self.contacts[contact.id] = contact
        self.events: dict[str, list[Event]] = {}
        self.orphans: Counter[str] = Counter()
        self.event_lines = 0
        if events_path is not None:
            for event in read_events(events_path, self._problem):
                self.event_lines += 1
                if event.contact_id not in self.contacts:
                    self.orphans[event.contact_id] += 1
                    continue
                self.events.setdefault(event.contact_id, []).append(event)

    def _problem(self, problem: InputError) -> None:
        if self.strict:
            raise fail(f"{problem} (--strict)", 1)
        self.problems.append(problem)


def validate(
    model: Annotated[Path, typer.Argument(help="Model file to check.")] = DEFAULT_MODEL,
) -> None:
    """Check a scoring model file: exit 0 if valid, 2 with file, line, field and fix if not."""
    try:
        model_file = load_model_file(model)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    for name, scoring_model in model_file.models.items():
        typer.echo(
            f"{model}: model '{name}' ok ({len(scoring_model.fit)} fit rules, "
            f"{len(scoring_model.behaviour)} behaviour rules, bands {', '.join(b.name for b in scoring_model.bands)})"
        )


def score(
    contacts: ContactsOption,
    events: EventsOption = None,
    model: ModelOption = DEFAULT_MODEL,
    name: NameOption = None,
    now: NowOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write results here (default: stdout).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first malformed line.")] = False,
) -> None:
    """Score contacts from JSON-lines files, offline; one result line per contact."""
    engine = pick_engine(model, name)
    moment = parse_now(now)
    inputs = _Inputs(contacts, events, strict)
    unmatched: Counter[str] = Counter()
    bands: Counter[str] = Counter()
    sink = out.open("w", encoding="utf-8") if out is not None else sys.stdout
    try:
        for contact in inputs.contacts.values():
            result = engine.score(contact, inputs.events.get(contact.id, []), moment)
            unmatched.update(result.unmatched_actions)
            bands[result.band] += 1
            sink.write(json.dumps(_result_line(result, moment), ensure_ascii=False) + "\n")
    finally:
        if out is not None:
            sink.close()
    _report(inputs, unmatched, bands)


def _result_line(result: ScoreResult, now: datetime) -> dict[str, object]:
    ranked = top_contributions(result, len(result.contributions))
    return {
        "id": result.contact_id,
        "score": result.score,
        "grade": result.grade,
        "band": result.band,
        "label": result.label,
        "fit": result.fit,
        "behaviour": result.behaviour,
        "reasons": [describe(c, now) for c in ranked],
        "summary": reasons_text(result, now),
    }


def _report(inputs: _Inputs, unmatched: Counter[str], bands: Counter[str]) -> None:
    err.print(
        f"scored {len(inputs.contacts)} contacts from {inputs.event_lines} events; "
        f"bands: {', '.join(f'{band} {count}' for band, count in sorted(bands.items())) or 'none'}",
        highlight=False,
    )
    if unmatched:
        err.print(
            "events no rule scored: " + ", ".join(f"{action} x{n}" for action, n in unmatched.most_common()),
            highlight=False,
        )
    if inputs.orphans:
        err.print(
            f"[yellow]{sum(inputs.orphans.values())} events name {len(inputs.orphans)} contact ids not in the "
            f"contacts file (e.g. {next(iter(inputs.orphans))}); they were not scored[/]",
            highlight=False,
        )
    for problem in inputs.problems:
        err.print(f"[yellow]skipped {problem}[/]", highlight=False)


def explain(
    contact: Annotated[str, typer.Option("--contact", help="Id of the contact to explain.")],
    contacts: ContactsOption,
    events: EventsOption = None,
    model: ModelOption = DEFAULT_MODEL,
    name: NameOption = None,
    now: NowOption = None,
) -> None:
    """Show, rule by rule, why one contact has its score."""
    engine = pick_engine(model, name)
    moment = parse_now(now)
    inputs = _Inputs(contacts, events, strict=False)
    found = inputs.contacts.get(contact)
    if found is None:
        raise fail(f"{contacts}: no contact with id '{contact}'", 2)
    result = engine.score(found, inputs.events.get(contact, []), moment)
    out = Console()
    out.print(
        f"[bold]{contact}[/] {found.email or ''}  score [bold]{result.score}[/]  grade {result.grade}  "
        f"band {result.band}  ({result.label}; fit {result.fit:g}, behaviour {result.behaviour:g})",
        highlight=False,
    )
    table = Table("rule", "kind", "points", "events", "latest", "why")
    for item in result.contributions:
        latest = f"{int((moment - item.last_seen).total_seconds() // 86400)}d ago" if item.last_seen else ""
        table.add_row(item.rule_id, item.kind, format_points(item.points), str(item.events or ""), latest, item.reason)
    for action, count in sorted(result.unmatched_actions.items()):
        table.add_row("(no rule)", "behaviour", "0", str(count), "", f"'{action}' events earn nothing")
    out.print(table)
    out.print(f"written as: {reasons_text(result, moment, engine.model.top_reasons)}", highlight=False)
