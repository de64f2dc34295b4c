"""The console revops and sales managers look at: sources and runs, models' distributions, one contact."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette

from leadscore.console.app import ConsoleConfig, create_console
from leadscore.engine import Engine
from leadscore.people import PeopleScope
from leadscore.platforms import platform
from leadscore.settings import Settings
from leadscore.sources import SourceSettings
from leadscore.store import Store

__all__ = ["ConsoleConfig", "console_for", "create_console"]


def console_for(
    settings: Settings,
    store: Store,
    engines: Sequence[Engine],
    sources: Sequence[SourceSettings],
    people: PeopleScope | None,
) -> Starlette:
    """The console over ``store`` for the configured sources (every source the store has runs of, when the
    sources file names none); raises ConfigError when no login token is set."""
    shown = [(s.name, platform(s.platform).title) for s in sources]
    if not shown:
        shown = [(name, name) for name in store.run_sources()]
    return create_console(
        ConsoleConfig(
            store=store,
            engines=engines,
            token=settings.resolved_console_token(),
            sources=shown,
            model_file=str(settings.model),
            reports=settings.reports_dir,
            people=people,
        )
    )
