"""The one place that reads wall time; everything else is handed ``now``."""

from __future__ import annotations

from datetime import UTC, datetime

from leadscore.records import to_epoch_ms

__all__ = ["to_epoch_ms", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)
