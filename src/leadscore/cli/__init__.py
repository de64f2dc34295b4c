"""The ``leadscore`` command line."""

from __future__ import annotations

import sys

from leadscore.cli.main import app
from leadscore.errors import ConfigError, LeadscoreError, StoreError

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line; an error leadscore raises on purpose that no command caught is one clear line and an
    exit code (2 for a setting or the store, 1 otherwise), never a traceback."""
    try:
        app()
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except LeadscoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
