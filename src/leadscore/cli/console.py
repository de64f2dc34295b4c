"""``leadscore console``: the console against any store, without a daemon (a laptop beside a production
PostgreSQL, or a copy of a SQLite file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leadscore.cli.offline import fail
from leadscore.cli.sync import load_engines
from leadscore.errors import ConfigError
from leadscore.settings import Settings, load_people_scope, load_sources
from leadscore.store import SQLStore
from leadscore.web import HttpServer

err = Console(stderr=True, soft_wrap=True)


def console(
    state_url: Annotated[str | None, typer.Option("--state", help="Store URL (LEADSCORE_STATE_URL).")] = None,
    sources_file: Annotated[
        Path | None, typer.Option("--sources", help="Sources file (LEADSCORE_SOURCES_FILE), for names and groups.")
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Model file (LEADSCORE_MODEL).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free).")] = 8080,
) -> None:
    """Serve the console (sources, models, contacts) for a store, until Ctrl-C; log in with
    LEADSCORE_CONSOLE_TOKEN."""
    from leadscore.console import console_for

    settings = Settings()
    path = sources_file or settings.sources_file
    try:
        sources = load_sources(path) if path.is_file() else []
        people = load_people_scope(path, sources) if path.is_file() else None
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    compiled = load_engines(model or settings.model)
    store = SQLStore.open(state_url or settings.state_url, migrate=False)
    try:
        app = console_for(
            settings.model_copy(update={"model": model or settings.model}), store, compiled, sources, people
        )
        server = HttpServer(app, host, port)
        sock = server.bind()
        err.print(f"leadscore console on http://{host}:{server.port}/ (store {store.display_url()}); Ctrl-C stops")
        server.server.run(sockets=[sock])
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    finally:
        store.close()
