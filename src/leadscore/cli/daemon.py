"""``leadscore run`` and ``leadscore config show``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from dotenv import dotenv_values
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from leadscore.cli.offline import fail
from leadscore.daemon import logs
from leadscore.engine import engines, load_model_file
from leadscore.errors import ConfigError, LeadscoreError
from leadscore.settings import ENV_PREFIX, Settings, load_people_scope, load_settings, load_sources
from leadscore.sources import SourceSettings

out = Console(soft_wrap=True)


def _load() -> tuple[Settings, list[SourceSettings]]:
    try:
        settings = load_settings()
        return settings, load_sources(settings.sources_file)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def _start_failed(message: str) -> typer.Exit:
    """A daemon that cannot start says why in the format its log would have had (JSON for a log collector)."""
    print(logs.start_failure(message, os.environ.get(f"{ENV_PREFIX}LOG_FORMAT")), file=sys.stderr)
    return typer.Exit(2)


def run() -> None:
    """Run the daemon: every source on its schedule, health and metrics on LEADSCORE_HTTP_PORT, until SIGTERM."""
    from leadscore.daemon.service import Daemon

    try:
        settings = load_settings()
        sources = load_sources(settings.sources_file)
    except ConfigError as exc:
        raise _start_failed(str(exc)) from None
    secrets = [secret for source in sources for secret in source.secrets()]
    logs.configure(settings.log_format, settings.log_level, secrets, settings.log_emails)
    try:
        for source in sources:
            source.check_credentials()
        compiled = engines(load_model_file(settings.model))
        daemon = Daemon(settings, sources, compiled, load_people_scope(settings.sources_file, sources))
    except ConfigError as exc:
        raise _start_failed(
            f"{exc} (model: {ENV_PREFIX}MODEL={settings.model})" if "model" in str(exc) else str(exc)
        ) from None
    except LeadscoreError as exc:
        raise _start_failed(str(exc)) from None
    try:
        code = daemon.run()
    except ConfigError as exc:
        raise _start_failed(str(exc)) from None
    raise typer.Exit(code)


def config_show() -> None:
    """Print the effective settings and sources, where each value came from, secrets masked."""
    import os

    settings, sources = _load()
    from_file = dotenv_values(".env") if Path(".env").is_file() else {}
    table = Table("setting", "value", "from")
    for name in Settings.model_fields:
        variable = f"{ENV_PREFIX}{name.upper()}"
        origin = "environment" if variable in os.environ else ".env" if variable in from_file else "default"
        value = getattr(settings, name)
        table.add_row(variable, "***" if isinstance(value, SecretStr) else str(value), origin)
    out.print(table)
    for source in sources:
        shown: dict[str, Any] = {
            key: "***" if isinstance(value, SecretStr) else value
            for key, value in source.model_dump(exclude_none=True).items()
        }
        try:
            source.check_credentials()
            shown["token (resolved)"] = "***"
        except ConfigError as exc:
            shown["token (resolved)"] = f"missing: {exc}"
        out.print(f"source {source.name}: {shown}", highlight=False)
