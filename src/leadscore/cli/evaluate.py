"""``leadscore backtest``: how a model's scores ranked the contacts that later converted.

It reads contacts and events from files (as ``score`` does) or from the state
store, never calls a platform, and writes nothing but its reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadscore.cli.offline import DEFAULT_MODEL, Problems, fail, parse_now, spool_files
from leadscore.engine import ModelFile, engines, load_model_file
from leadscore.errors import ConfigError
from leadscore.records import Contact, Event, from_epoch_ms

if TYPE_CHECKING:
    from leadscore.evaluate.backtest import Backtest, Scored
    from leadscore.evaluate.outcomes import OutcomeFile

EXTRA_HINT = "backtest needs the evaluate extra: pip install 'leadscore[evaluate]'"


def _store_history(url: str, source: str) -> Iterator[tuple[Contact, list[Event]]]:
    from leadscore.store import SQLStore

    store = SQLStore.open(url)
    try:
        for page in store.contacts_with_events(source, page_size=1000):
            for contact, rows in page:
                events = [
                    Event(source, event_id, contact.id, action, from_epoch_ms(at), _decoded(attributes))
                    for event_id, action, at, attributes in rows
                ]
                yield contact, events
    finally:
        store.close()


@contextmanager
def _history(
    contacts: Path | None, events: Path | None, state: str | None, source: str | None, problems: Problems
) -> Iterator[Iterator[tuple[Contact, list[Event]]]]:
    """Every contact with its events, from the files or from the store's source."""
    if contacts is not None:
        with spool_files(contacts, events, problems) as spool:
            yield spool.scored_in_order()
        return
    assert state is not None
    assert source is not None
    yield _store_history(state, source)


def _checked(
    model: Path, contacts: Path | None, state: str | None, source: str | None, outcomes: Path | None
) -> tuple[ModelFile, OutcomeFile | None, Problems]:
    """The model file, the outcomes (None: read from the store's converted events) and the problems met reading
    them, once the inputs are known to be usable."""
    from leadscore.evaluate.outcomes import read_outcomes

    try:
        model_file = load_model_file(model)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    if (contacts is None) == (state is None):
        raise fail("give either --contacts (and --events) or --state with --source", 2)
    if state is not None and source is None:
        raise fail("--state needs --source: the source whose contacts to judge", 2)
    problems = Problems(strict=False)
    if outcomes is None:
        if state is None:
            raise fail(
                "give --outcomes (a file of conversions), or --state with --source to read the conversions the "
                "platforms reported (README, 'Judging a model')",
                2,
            )
        return model_file, None, problems
    if not outcomes.is_file():
        raise fail(f"{outcomes}: file not found", 2)
    return model_file, read_outcomes(outcomes, problems), problems


def _decoded(attributes: object) -> dict[str, object]:
    if isinstance(attributes, str) and attributes:
        decoded = json.loads(attributes)
        return decoded if isinstance(decoded, dict) else {}
    return dict(attributes) if isinstance(attributes, dict) else {}


OUTCOMES_HELP = (
    'Known results: {"contact_id", "converted_at", "as_of"?} lines. Without it, --state reads the conversions the '
    "platforms reported."
)


def backtest(
    outcomes: Annotated[Path | None, typer.Option("--outcomes", help=OUTCOMES_HELP)] = None,
    model: Annotated[
        Path, typer.Option("--model", "-m", envvar="LEADSCORE_MODEL", help="Model file; every model in it is judged.")
    ] = DEFAULT_MODEL,
    contacts: Annotated[Path | None, typer.Option("--contacts", help="Contacts, one JSON object per line.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events, one JSON object per line.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Read the history from this store instead.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="The store's source to read (with --state).")] = None,
    as_of: Annotated[
        list[str] | None, typer.Option("--as-of", help="Score as of this ISO time (repeatable); default: now.")
    ] = None,
    horizon_days: Annotated[float, typer.Option("--horizon-days", help="A conversion counts this long after.")] = 90,
    now: Annotated[str | None, typer.Option("--now", help="'Now' when no --as-of is given (ISO time).")] = None,
    target_rate: Annotated[
        float | None, typer.Option("--target-rate", help="Suggest the score whose leads convert at this rate.")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
) -> None:
    """Score past moments and measure how the scores ranked later conversions (AUC, lift, rates per band)."""
    try:
        from leadscore.evaluate.backtest import evaluate, score_history
        from leadscore.evaluate.report import as_html, as_json
    except ImportError:
        raise fail(EXTRA_HINT, 2) from None
    model_file, known, problems = _checked(model, contacts, state, source, outcomes)
    moments = [parse_now(text) for text in as_of or []]
    moment = parse_now(now)
    horizon = timedelta(days=horizon_days)
    results = []
    for engine in engines(model_file):
        with _history(contacts, events, state, source, problems) as history:
            scored = score_history(
                engine,
                history,
                known.converted if known else None,
                moments,
                moment,
                horizon,
                known.as_of if known else None,
            )
        latest = _latest_outcome(known, scored)
        results.append(
            evaluate(
                engine,
                scored,
                as_of=moments,
                horizon_days=horizon_days if moments or (known and known.as_of) else None,
                latest_outcome=latest,
                target_rate=target_rate,
            )
        )
    _print(results, moments)
    for problem in problems.found[:20]:
        Console(stderr=True).print(f"[yellow]skipped {escape(str(problem))}[/]", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(as_json(results), indent=2), encoding="utf-8")
    if report is not None:
        report.write_text(as_html(results, f"leadscore backtest of {model.name}"), encoding="utf-8")


def _latest_outcome(known: OutcomeFile | None, scored: Sequence[Scored]) -> datetime | None:
    """The latest known conversion: a horizon reaching past it counts conversions still to come as misses."""
    if known is not None:
        return max((at for at in known.converted.values() if at is not None), default=None)
    return max((s.converted_at for s in scored if s.converted_at is not None), default=None)


def _print(results: Sequence[Backtest], moments: Sequence[datetime]) -> None:
    out = Console()
    for result in results:
        when = ", ".join(m.isoformat() for m in moments) or "now, conversions at any time"
        out.print(
            f"[bold]model {result.model}[/]: {result.contacts:,} contacts, {result.converted:,} converted "
            f"({result.base_rate:.1%}); as of {when}",
            highlight=False,
        )
        if result.roc_auc is not None and result.roc_auc_interval and result.pr_auc is not None:
            low, high = result.roc_auc_interval
            out.print(
                f"  ROC AUC {result.roc_auc:.3f} (95% {low:.3f}-{high:.3f}), PR AUC {result.pr_auc:.3f}; "
                f"top decile lift {result.top_decile_lift:.2f} (captures {result.top_decile_capture:.0%}), "
                f"top half lift {result.top_half_lift:.2f} (captures {result.top_half_capture:.0%})",
                highlight=False,
            )
        table = Table("band", "contacts", "converted", "rate")
        for rate in result.by_band:
            table.add_row(rate.name, f"{rate.contacts:,}", f"{rate.converted:,}", f"{rate.rate:.1%}")
        out.print(table)
        target, at_rate = result.threshold_for_rate or (0.0, None)
        share, at_share = result.threshold_for_capture or (0.0, None)
        out.print(
            f"  suggested thresholds: score {at_rate if at_rate is not None else '(none)'} and above converts at "
            f"{target:.0%} or better; score {at_share} and above holds {share:.0%} of the converters",
            highlight=False,
        )
        for warning in result.warnings:
            out.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)


def calibrate(
    out: Annotated[Path, typer.Option("--out", help="Write the calibrated model file here.")],
    outcomes: Annotated[Path | None, typer.Option("--outcomes", help=OUTCOMES_HELP)] = None,
    model: Annotated[
        Path, typer.Option("--model", "-m", envvar="LEADSCORE_MODEL", help="The model whose points to set.")
    ] = DEFAULT_MODEL,
    name: Annotated[str | None, typer.Option("--name", help="Which model of the file (default: the first).")] = None,
    contacts: Annotated[Path | None, typer.Option("--contacts", help="Contacts, one JSON object per line.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events, one JSON object per line.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Read the history from this store instead.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="The store's source to read (with --state).")] = None,
    holdout: Annotated[float, typer.Option("--holdout", help="Share of contacts held out to measure.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/held-out split.")] = 0,
    now: Annotated[str | None, typer.Option("--now", help="Score as of this ISO time.")] = None,
    propose: Annotated[
        bool, typer.Option("--propose", help="Also propose rules for fields and actions the model does not use.")
    ] = False,
    max_rules: Annotated[int, typer.Option("--max-rules", help="With --propose: the most rules to end with.")] = 40,
    band: Annotated[str, typer.Option("--band", help="The band whose threshold --band-share/--band-rate set.")] = "MQL",
    band_share: Annotated[
        float | None, typer.Option("--band-share", help="Put the band's threshold where this share of leads reach.")
    ] = None,
    band_rate: Annotated[
        float | None, typer.Option("--band-rate", help="Put it at the lowest score whose leads convert at this rate.")
    ] = None,
) -> None:
    """Set the model's points from history (a logistic regression over its rules), keeping every rule; writes a new
    model file and prints held-out AUC before and after. Applies nothing."""
    try:
        from leadscore.evaluate.calibrate import BandTarget, examples_from
        from leadscore.evaluate.calibrate import calibrate as fit_points
    except ImportError:
        raise fail(EXTRA_HINT, 2) from None
    if not 0 < holdout < 1:
        raise fail("--holdout must be between 0 and 1, e.g. 0.3", 2)
    if band_share is not None and band_rate is not None:
        raise fail("give --band-share or --band-rate, not both", 2)
    for name_of, value in (("--band-share", band_share), ("--band-rate", band_rate)):
        if value is not None and not 0 < value <= 1:
            raise fail(f"{name_of} must be above 0 and at most 1, e.g. 0.2", 2)
    target = BandTarget(band, band_share, band_rate) if band_share is not None or band_rate is not None else None
    model_file, known, problems = _checked(model, contacts, state, source, outcomes)
    chosen = name or next(iter(model_file.models))
    if chosen not in model_file.models:
        raise fail(f"{model}: no model named '{chosen}'; models: {', '.join(model_file.models)}", 2)
    moment = parse_now(now)
    engine = next(e for e in engines(model_file) if e.name == chosen)
    with _history(contacts, events, state, source, problems) as history:
        examples = examples_from(history, known.converted if known else None, known.as_of if known else None)
    if sum(e.converted for e in examples) < 10 or sum(not e.converted for e in examples) < 10:
        raise fail("calibrate needs at least 10 converted and 10 other contacts with known outcomes", 1)
    raw = yaml.safe_load(model.read_text(encoding="utf-8"))["models"][chosen]
    try:
        result = fit_points(
            engine, raw, examples, moment, holdout=holdout, seed=seed, propose=propose, max_rules=max_rules,
            band_target=target,
        )  # fmt: skip
    except ValueError as exc:
        raise fail(f"{model}: {exc}", 2) from None
    header = (
        f"# Calibrated from {model.name} on {result.train:,} contacts ({result.holdout:,} held out, seed {seed}).\n"
        "# Points and base set by a logistic regression over the rules; review with leadscore plan and backtest.\n"
        + (f"# Proposed rules kept: {', '.join(result.proposed)}.\n" if result.proposed else "")
    )
    out.write_text(header + yaml.safe_dump({"version": 1, "models": {chosen: result.model}}, sort_keys=False))
    console = Console()
    table = Table("rule", "points before", "points after")
    for rule_id, (before, after) in result.points.items():
        was = "(proposed)" if rule_id in result.proposed else f"{before:+g}"
        note = " (no evidence: kept)" if rule_id in result.no_evidence else ""
        table.add_row(rule_id, was, f"{after:+g}{note}")
    console.print(table)
    if propose:
        console.print(
            f"proposed: {len(result.proposed)} rules kept (ids start proposed_), {len(result.dropped)} dropped",
            highlight=False,
        )
        for rule_id, why in result.dropped[:30]:
            console.print(f"  dropped {rule_id}: {why}", highlight=False)
    for move in result.band_moves:
        console.print(f"band {move}", highlight=False)
    if result.holdout_auc_all_inputs is not None:
        console.print(
            f"a plain regression over the rules and every candidate: held-out ROC AUC "
            f"{result.holdout_auc_all_inputs:.3f}",
            highlight=False,
        )
    if result.holdout_auc_before is not None:
        console.print(
            f"held-out ROC AUC: {result.holdout_auc_before:.3f} before, {result.holdout_auc_after:.3f} after "
            f"(the regression itself: {result.holdout_auc_regression:.3f}); wrote {out}",
            highlight=False,
        )
