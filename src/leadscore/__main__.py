from __future__ import annotations

from leadscore.cli import main

main()
