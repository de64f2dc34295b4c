"""The ``leadscore`` command line.

``main`` is the console script. For ``leadscore run`` it notes SIGTERM and SIGINT from its first instruction,
before the imports and the store's migration that take the better part of a second: a container stopped while it
starts then exits 0 like one stopped later, instead of dying with -15.
"""

from __future__ import annotations

import sys
from typing import Any

from leadscore.signals import note_early_signals

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line; an error leadscore raises on purpose that no command caught is one clear line and an
    exit code (2 for a setting or the store, 1 otherwise), never a traceback."""
    if sys.argv[1:2] == ["run"]:
        note_early_signals()
    from leadscore.cli.main import app
    from leadscore.errors import ConfigError, LeadscoreError, StoreError

    try:
        app()
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except LeadscoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def __getattr__(name: str) -> Any:
    if name == "app":
        from leadscore.cli.main import app

        return app
    raise AttributeError(name)
