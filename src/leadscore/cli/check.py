"""``leadscore check``: whether each source would sync, found by reading only (credentials and scopes, streams,
write targets, limits), as Airbyte's and Census's connection checks do."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadscore.cli.offline import fail
from leadscore.cli.sync import load_engines
from leadscore.errors import ConfigError, LeadscoreError
from leadscore.platforms import build_connector
from leadscore.protocol import FAIL, OK, WARN, Checkable, CheckItem, WriteTargets
from leadscore.settings import Settings, load_sources
from leadscore.sources import SourceSettings
from leadscore.sync.plan import write_targets

out = Console(soft_wrap=True)
STYLE = {OK: "green", WARN: "yellow", FAIL: "red"}


def check(
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="Sources file (LEADSCORE_SOURCES_FILE).")
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Model file (LEADSCORE_MODEL).")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write the findings here, as JSON.")] = None,
) -> None:
    """Check every source without syncing: credentials and scopes, each stream, the properties and lists leadscore
    writes, and the limits the platform reports. Writes nothing; exit 1 when a sync would stop."""
    settings = Settings()
    try:
        sources = load_sources(sources_file or settings.sources_file)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    chosen = [s for s in sources if source is None or s.name == source]
    if not chosen:
        raise fail(f"no source named '{source}'; sources: {', '.join(s.name for s in sources)}", 2)
    targets = write_targets(load_engines(model or settings.model))
    found = {item.name: _findings(item, targets) for item in chosen}
    for name, items in found.items():
        table = Table("what", "status", "detail", "fix", title=f"{name}", title_justify="left")
        for finding in items:
            colour = STYLE.get(finding.status, "")
            table.add_row(escape(finding.what), f"[{colour}]{finding.status}[/]", escape(finding.detail),
                          escape(finding.fix))  # fmt: skip
        out.print(table)
    if as_json is not None:
        payload = {name: [dataclasses.asdict(f) for f in items] for name, items in found.items()}
        as_json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if any(f.status == FAIL for items in found.values() for f in items):
        raise typer.Exit(1)


def _findings(source: SourceSettings, targets: WriteTargets) -> list[CheckItem]:
    try:
        source.check_credentials()
        connector = build_connector(source, targets)
    except LeadscoreError as exc:
        return [CheckItem("settings", FAIL, str(exc), "fix the source's settings")]
    try:
        if not isinstance(connector, Checkable):
            return [CheckItem("check", WARN, f"platform {source.platform} cannot be checked without syncing")]
        return connector.check()
    except LeadscoreError as exc:
        return [CheckItem("check", FAIL, str(exc), "see the message")]
    finally:
        connector.close()
