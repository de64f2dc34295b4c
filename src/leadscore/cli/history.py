"""``leadscore history --contact ID``: every change of what a record showed, with what moved it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadscore.cli.offline import fail
from leadscore.settings import Settings
from leadscore.store import HistoryEntry, SQLStore

out = Console(soft_wrap=True)
TABLE_WIDTH = 120
"""Narrower than this (a pipe, a small terminal), each change is one line rather than a table of squeezed cells."""


def history(
    contact: Annotated[str, typer.Option("--contact", help="A record id, or an email (every record with it).")],
    source: Annotated[str | None, typer.Option("--source", help="Only this source's record.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's scores.")] = None,
    state_url: Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write the changes as JSON lines.")] = None,
) -> None:
    """Show every change of a record's score, grade or band: when, from what to what, the model version,
    and the rules behind the new score."""
    settings = Settings()
    store = SQLStore.open(state_url or settings.state_url, migrate=False)
    try:
        if "@" in contact:
            records = [(r.source, r.contact_id) for r in store.person_records(contact)]
            entries = [e for s, c in records if source in (None, s) for e in store.score_history(s, c, model)]
            entries.sort(key=lambda e: e.changed_at)
        else:
            entries = store.score_history(source, contact, model)
    finally:
        store.close()
    if not entries:
        raise fail(f"no score history for '{contact}' in {store.display_url()}", 1)
    if out.width >= TABLE_WIDTH:
        out.print(history_table(entries))
    else:
        for entry in entries:
            out.print(history_line(entry), highlight=False, markup=False)
    if as_json is not None:
        with as_json.open("w", encoding="utf-8") as sink:
            for entry in entries:
                sink.write(json.dumps(asdict(entry), default=str) + "\n")


def history_table(entries: list[HistoryEntry]) -> Table:
    table = Table("when (UTC)", "source", "record", "model", "score", "grade", "band", "version", "top rules")
    for entry in entries:
        table.add_row(
            entry.changed_at.strftime("%Y-%m-%d %H:%M"),
            entry.source,
            entry.contact_id,
            entry.model,
            _moved(entry.old_score, entry.new_score),
            _moved(entry.old_grade, entry.new_grade),
            _moved(entry.old_band, entry.new_band),
            entry.model_version,
            " · ".join(f"{points:+g} {reason}" for reason, points in entry.contributions[:3]),
        )
    return table


def history_line(entry: HistoryEntry) -> str:
    rules = " · ".join(f"{points:+g} {reason}" for reason, points in entry.contributions[:3])
    return (
        f"{entry.changed_at:%Y-%m-%d %H:%M} {entry.source} {entry.contact_id} {entry.model}: "
        f"score {_moved(entry.old_score, entry.new_score)}, grade {_moved(entry.old_grade, entry.new_grade)}, "
        f"band {_moved(entry.old_band, entry.new_band)} (model {entry.model_version}): {rules}"
    )


def _moved(old: object, new: object) -> str:
    if old is None:
        return f"{new}"
    return f"{new}" if old == new else f"{old} -> {new}"
