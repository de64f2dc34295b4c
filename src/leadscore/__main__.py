from __future__ import annotations

from leadscore.cli import app

app()
