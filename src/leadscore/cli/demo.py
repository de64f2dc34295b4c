"""``leadscore demo``: every installed platform's sandbox, synced as one people group into a fresh SQLite store.

The sandboxes of one seed share people, so the demo ends by showing someone whose
score on one platform rose because of what they did on another.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadscore.cli.offline import DEFAULT_MODEL
from leadscore.cli.sync import load_engines, print_report
from leadscore.clock import utcnow
from leadscore.engine import Engine, reasons_text
from leadscore.people import PeopleScope, assemble, score_person
from leadscore.platforms import Platform, Sandbox, build_connector, platforms
from leadscore.records import Contact
from leadscore.sources import SourceSettings
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline
from leadscore.sync.plan import write_targets

out = Console(soft_wrap=True)
PEOPLE_EXAMINED = 2000
ROOM_FOR_TABLE = 100
"""Columns the top-leads table needs before its "why" column stops wrapping to a few characters."""


def demo(
    contacts: Annotated[int, typer.Option("--contacts", help="Seeded contacts in each sandbox.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 1,
    model: Annotated[
        Path, typer.Option("--model", envvar="LEADSCORE_MODEL", help="Model file (LEADSCORE_MODEL).")
    ] = DEFAULT_MODEL,
    top: Annotated[int, typer.Option("--top", help="How many leads to list per platform.")] = 5,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write what the demo found, as JSON.")] = None,
) -> None:
    """Start a seeded sandbox of every installed platform (they share some people), sync each as one people
    group into a fresh SQLite store, and show what happened, with one person scored across platforms."""
    compiled = load_engines(model)
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-demo-"))
    store = SQLStore.open(f"sqlite:///{workdir / 'leadscore.db'}")
    out.print(f"store {workdir / 'leadscore.db'}")
    found: dict[str, Any] = {"store": str(workdir / "leadscore.db"), "sources": {}, "person": None}
    declared = list(platforms().values())
    with contextlib.ExitStack() as running:
        running.callback(store.close)
        sandboxes: dict[str, Sandbox] = {}
        for item in declared:
            sandboxes[item.name] = item.sandbox(0, contacts, seed)
            sandboxes[item.name].server.start()
            running.callback(sandboxes[item.name].server.stop)
        sources = [_source(item, sandboxes[item.name]) for item in declared]
        people = PeopleScope(
            sources=tuple(s.name for s in sources),
            labels={s.name: item.title for s, item in zip(sources, declared, strict=True)},
        )
        for item, source in zip(declared, sources, strict=True):
            out.rule(f"{item.title}: sandbox on {sandboxes[item.name].base_url}")
            started = time.monotonic()
            report = _cycle(store, compiled, source, people)
            out.print(f"cycle finished in {time.monotonic() - started:.1f}s")
            print_report(report)
            found["sources"][source.name] = {"report": report.as_dict()}
        out.rule("a second cycle of each: what waited for the others' first pull, and what their cycles planned")
        for source in sources:
            report = _cycle(store, compiled, source, people)
            out.print(
                f"{source.name}: {report.status}; scored {report.contacts_scored}, applied {report.applied} changes",
                highlight=False,
            )
        for source in sources:
            found["sources"][source.name]["top"] = _top(store, compiled[0], source.name, top)
        for item in declared:
            log = sandboxes[item.name].server.log
            out.print(f"{item.title} sandbox saw {log.total()} requests", highlight=False)
        found["person"] = _one_person(store, compiled[0], people)
    if as_json is not None:
        as_json.write_text(json.dumps(found, indent=2, default=str), encoding="utf-8")


def _source(declared: Platform, sandbox: Sandbox) -> SourceSettings:
    return declared.settings.model_validate(
        {
            "name": f"{declared.name}-sandbox",
            "platform": declared.name,
            "base_url": sandbox.base_url,
            "token": sandbox.token,
            "mapping": dict(declared.demo_mapping),
        }
    )


def _cycle(store: SQLStore, compiled: list[Engine], source: SourceSettings, people: PeopleScope) -> CycleReport:
    connector = build_connector(source, write_targets(compiled))
    try:
        return Pipeline(store, connector, compiled, people=people).run_cycle()
    finally:
        connector.close()


def _top(store: SQLStore, engine: Engine, source: str, top: int) -> list[dict[str, Any]]:
    """The best-scored leads: a table where the terminal has room for one, else a line per lead and its reasons
    under it (a table squeezed into a narrow terminal or a pipe wraps every cell to a few characters)."""
    leads = [
        {
            "contact": s.contact_id,
            "email": email or "",
            "score": s.score,
            "grade": s.grade,
            "band": s.band,
            "why": s.reasons,
        }
        for s, email in store.top_scores(source, engine.name, top)
    ]
    if out.width >= ROOM_FOR_TABLE:
        table = Table(
            "contact", "email", "score", "grade", "band", "why", title=f"top {top} leads of {source} ({engine.name})"
        )
        for lead in leads:
            table.add_row(*(str(lead[key]) for key in ("contact", "email", "score", "grade", "band", "why")))
        out.print(table)
        return leads
    out.print(f"top {top} leads of {source} ({engine.name}):", highlight=False)
    for lead in leads:
        out.print(
            f"  {lead['contact']} {lead['email']}: {lead['score']} {lead['grade']} {lead['band']}", highlight=False
        )
        out.print(f"    why: {escape(str(lead['why']))}", highlight=False)
    return leads


def _one_person(store: SQLStore, engine: Engine, people: PeopleScope) -> dict[str, Any] | None:
    """The shared person whose score on one record rose most because of the other platforms' engagement."""
    now = utcnow()
    best: tuple[int, str, str, int, int, str] | None = None
    for email in store.shared_people(people.sources, PEOPLE_EXAMINED):
        records = [found.record for found in store.person_records(email) if found.live]
        if len(records) < 2:
            continue
        view = assemble(Contact(records[0].source, records[0].contact_id, records[0].email), records, people)
        together = score_person(engine, view, people, now)
        for record in records:
            own = Contact(record.source, record.contact_id, record.email, record.profile)
            alone = engine.score_rows(own, record.events, now).score
            rise = together.score - alone
            if best is None or rise > best[0]:
                best = (rise, email, record.source, alone, together.score, reasons_text(together, now, 4))
    out.rule("one person, one score")
    if best is None:
        out.print("no person is on two platforms in these sandboxes")
        return None
    rise, email, source, alone, together_score, reasons = best
    out.print(
        f"{escape(email)} is on {len(store.person_records(email))} records; on {people.label(source)} alone the "
        f"score would be {alone}, as one person it is {together_score} (+{rise} from other platforms' engagement)",
        highlight=False,
    )
    out.print(f"written on every record: {escape(reasons)}", highlight=False)
    return {"email": email, "source": source, "alone": alone, "together": together_score, "reasons": reasons}
