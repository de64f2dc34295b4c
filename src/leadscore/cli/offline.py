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
from rich.markup import escape
from rich.table import Column, Table

from leadscore.clock import utcnow
from leadscore.engine import Engine, ModelFile, load_model_file, reasons_text
from leadscore.engine.compiled import DERIVED
from leadscore.engine.describe import describe_rule, model_notes
from leadscore.engine.explain import describe, format_points, top_contributions
from leadscore.engine.loader import model_warnings
from leadscore.engine.model import BehaviourRule, FitRule
from leadscore.errors import ConfigError, InputError
from leadscore.packaged import default_model
from leadscore.records import ScoreResult, ensure_utc
from leadscore.spool import Spool

DEFAULT_MODEL = default_model()
ALWAYS_KNOWN = DERIVED
"""Fields every source fills: the email and what is derived from it."""
err = Console(stderr=True, soft_wrap=True)

ModelOption = Annotated[
    Path, typer.Option("--model", "-m", envvar="LEADSCORE_MODEL", help="Scoring model file (YAML).")
]
ContactsOption = Annotated[Path, typer.Option("--contacts", help="Contacts, one JSON object per line.")]
EventsOption = Annotated[Path | None, typer.Option("--events", help="Events, one JSON object per line.")]
NowOption = Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (default: now, UTC).")]
NameOption = Annotated[str | None, typer.Option("--name", help="Which model of the file (default: the first).")]


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
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


class Problems:
    """Every malformed input line, kept for the report; with ``strict``, the first one stops the command."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.found: list[InputError] = []

    def __call__(self, problem: InputError) -> None:
        if self.strict:
            raise fail(f"{problem} (--strict)", 1)
        self.found.append(problem)


def spool_files(contacts_path: Path, events_path: Path | None, problems: Problems) -> Spool:
    for path in (contacts_path, events_path):
        if path is not None and not path.is_file():
            raise fail(f"{path}: file not found", 2)
    return Spool(contacts_path, events_path, problems)


def validate(
    model: Annotated[Path, typer.Argument(help="Model file to check.")] = DEFAULT_MODEL,
    sources: Annotated[
        Path | None, typer.Option("--sources", help="Also check that each source maps every field the models read.")
    ] = None,
) -> None:
    """Check a scoring model file: exit 0 if valid, 2 with file, line, field and fix if not."""
    try:
        model_file = load_model_file(model)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    if sources is not None:
        _check_sources(model_file, sources)
    for warning in model_warnings(model.read_text(encoding="utf-8")):
        err.print(f"[yellow]warning:[/] {escape(warning.describe(str(model)))}", highlight=False)
    for name, scoring_model in model_file.models.items():
        extras = [
            f"{len(scoring_model.fields)} declared fields" if scoring_model.fields else "",
            f"{len(scoring_model.groups)} groups" if scoring_model.groups else "",
        ]
        typer.echo(
            f"{model}: model '{name}' ok ({len(scoring_model.fit)} fit rules, "
            f"{len(scoring_model.behaviour)} behaviour rules, "
            + "".join(f"{extra}, " for extra in extras if extra)
            + f"bands {', '.join(b.name for b in scoring_model.bands)})"
        )
        for note in model_notes(scoring_model):
            typer.echo(f"  note: {note}")


def _check_sources(model_file: ModelFile, sources_path: Path) -> None:
    """Every field a model reads must be mapped for every kind of record of every source; a declared field that is
    not is an error, a built-in one a warning (its rules never match there)."""
    from leadscore.platforms import platform
    from leadscore.settings import load_sources

    try:
        sources = load_sources(sources_path)
        unmapped = [
            (source.name, kind, field, field in declared)
            for source in sources
            for kind, mapped in platform(source.platform).profile_fields(source.mapping).items()
            for name, scoring_model in model_file.models.items()
            for declared in [set(scoring_model.fields)]
            for field in Engine(name, scoring_model).compiled.read_fields
            if field not in mapped and field not in ALWAYS_KNOWN
        ]
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    for source, kind, field, declared in dict.fromkeys(unmapped):
        where = f"{sources_path}: source '{source}'" + (f" ({kind})" if kind else "")
        entry = f"{{{field}: <platform property>}}"
        fix = f"map it under mapping: {{profile: {f'{{{kind}: {entry}}}' if kind else entry}}}"
        if declared:
            err.print(f"[bold red]error:[/] {where}: model field '{field}' is not mapped; {fix}", highlight=False)
        else:
            err.print(f"[yellow]warning:[/] {where}: '{field}' is not mapped, so rules on it never match; {fix}")
    if any(declared for *_, declared in unmapped):
        raise typer.Exit(2)
    typer.echo(f"{sources_path}: every declared field is mapped for {len(sources)} sources")


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
    problems = Problems(strict)
    unmatched: Counter[str] = Counter()
    bands: Counter[str] = Counter()
    unreadable: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with spool_files(contacts, events, problems) as spool:
        sink = out.open("w", encoding="utf-8") if out is not None else sys.stdout
        try:
            for contact, history in spool.scored_in_order():
                result = engine.score(contact, history, moment)
                unmatched.update(result.unmatched_actions)
                bands[result.band] += 1
                for problem in result.problems:
                    unreadable[problem.field] += 1
                    examples.setdefault(problem.field, f"contact {contact.id}: {problem.problem}")
                sink.write(json.dumps(_result_line(result, moment), ensure_ascii=False) + "\n")
        finally:
            if out is not None:
                sink.close()
        _report(spool, problems, unmatched, bands)
    if unreadable:
        err.print(
            "[yellow]values not of their declared type (rules reading them did not match): "
            + ", ".join(f"{field} x{n} (e.g. {examples[field]})" for field, n in unreadable.most_common())
            + "[/]",
            highlight=False,
        )


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


def _report(spool: Spool, problems: Problems, unmatched: Counter[str], bands: Counter[str]) -> None:
    err.print(
        f"scored {spool.contact_count} contacts from {spool.event_lines} events; "
        f"bands: {', '.join(f'{band} {count}' for band, count in sorted(bands.items())) or 'none'}",
        highlight=False,
    )
    if unmatched:
        err.print(
            "events no rule scored: " + ", ".join(f"{action} x{n}" for action, n in unmatched.most_common()),
            highlight=False,
        )
    orphan_events, orphan_ids, example = spool.orphans()
    if orphan_events:
        err.print(
            f"[yellow]{orphan_events} events name {orphan_ids} contact ids not in the "
            f"contacts file (e.g. {example}); they were not scored[/]",
            highlight=False,
        )
    for problem in problems.found:
        err.print(f"[yellow]skipped {escape(str(problem))}[/]", highlight=False)


def contributions_table(engine: Engine, result: ScoreResult, moment: datetime) -> Table:
    """Every rule that gave or took points, with what it tests, its events, their sources and ages."""
    rules: dict[str, FitRule | BehaviourRule] = {rule.id: rule for rule in engine.model.fit}
    rules.update((rule.id, rule) for rule in engine.model.behaviour)
    table = Table(Column("rule", no_wrap=True), "kind", "points", "events taken", "latest", "why (and what it tests)")
    for item in result.contributions:
        latest = f"{int((moment - item.last_seen).total_seconds() // 86400)}d ago" if item.last_seen else ""
        if item.sources:
            latest = f"{latest} ({', '.join(item.sources)})"
        rule = rules.get(item.rule_id)
        tests = describe_rule(rule) if rule is not None else ""
        why = escape(item.reason)
        if isinstance(rule, BehaviourRule) and rule.count is not None and item.points == 0:
            why += f" (count not reached: {item.events} of {rule.count.at_least})"
        if tests:
            why += f"\n[dim]{escape(tests)}[/]"
        table.add_row(item.rule_id, item.kind, format_points(item.points), str(item.events or ""), latest, why)
    for action, count in sorted(result.unmatched_actions.items()):
        table.add_row("(no rule)", "behaviour", "0", str(count), "", f"'{action}' events earn nothing")
    return table


def explain(
    contact: Annotated[str, typer.Option("--contact", help="Id of the contact to explain.")],
    contacts: Annotated[
        Path | None, typer.Option("--contacts", help="Contacts, one JSON object per line (or --state).")
    ] = None,
    events: EventsOption = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Explain a record of this store instead (with --source).")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="The store's source holding the record.")] = None,
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="With --state: the sources file, for its people group.")
    ] = None,
    model: ModelOption = DEFAULT_MODEL,
    name: NameOption = None,
    now: NowOption = None,
) -> None:
    """Show, rule by rule, why one contact has its score: from files, or a live source's record in the store,
    scored as its cycle scores it."""
    engine = pick_engine(model, name)
    moment = parse_now(now)
    if (contacts is None) == (state is None):
        raise fail("give either --contacts (and --events) or --state with --source", 2)
    if state is not None:
        if source is None:
            raise fail("--state needs --source: the source that holds the record", 2)
        from leadscore.cli.people import stored_result

        found, result = stored_result(engine, state, source, contact, sources_file, moment)
    else:
        assert contacts is not None
        with spool_files(contacts, events, Problems(strict=False)) as spool:
            record = spool.one(contact)
        if record is None:
            raise fail(f"{contacts}: no contact with id '{contact}'", 2)
        found, history = record
        result = engine.score(found, history, moment)
    out = Console()
    out.print(
        f"[bold]{contact}[/] {found.email or ''}  score [bold]{result.score}[/]  grade {result.grade}  "
        f"band {result.band}  ({result.label}; fit {result.fit:g}, behaviour {result.behaviour:g})",
        highlight=False,
    )
    table = contributions_table(engine, result, moment)
    out.print(table)
    for problem in result.problems:
        out.print(f"[yellow]{problem.field}: {problem.problem}; rules reading it did not match[/]", highlight=False)
    out.print(f"written as: {reasons_text(result, moment, engine.model.top_reasons)}", highlight=False)
