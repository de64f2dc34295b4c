"""The ``leadscore`` command line."""

from __future__ import annotations

from leadscore.cli.main import app

__all__ = ["app"]
