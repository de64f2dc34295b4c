"""Value parsing every connector needs: numbers written as ranges, and platform timestamps. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from leadscore.records import ensure_utc

_RANGE = re.compile(r"^\s*([\d,.]+)\s*(?:[-–+]|$)")


def number_or_range(raw: str) -> int | None:
    """``"250"`` -> 250; ``"1,000-5,000"`` -> 1000; ``"5000+"`` -> 5000; anything else -> None."""
    match = _RANGE.match(raw)
    if match is None:
        return None
    digits = match.group(1).replace(",", "")
    try:
        return int(float(digits))
    except ValueError:
        return None


def parse_time(raw: Any) -> datetime | None:
    """Platforms write times as ISO 8601 or as epoch milliseconds, depending on the field."""
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        return None
