"""Stop signals that arrive before the daemon installed its own handlers (while it imports and migrates)."""

from __future__ import annotations

import signal
from types import FrameType

early_signals: list[int] = []


def _note(signum: int, _frame: FrameType | None) -> None:
    early_signals.append(signum)


def note_early_signals() -> None:
    """Note SIGTERM and SIGINT instead of dying of them, until the daemon takes them over and reads the note."""
    signal.signal(signal.SIGTERM, _note)
    signal.signal(signal.SIGINT, _note)
