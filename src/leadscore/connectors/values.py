"""Value parsing every connector needs: numbers written as ranges, and platform timestamps. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from leadscore.protocol import RecordProblem
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


def profile_values(
    record_id: str, raw: Mapping[str, Any], fields: Mapping[str, str], transforms: Mapping[str, str]
) -> tuple[dict[str, Any], list[RecordProblem]]:
    """Canonical profile values from a platform record's fields (canonical field -> platform name).

    ``number_or_range`` turns "1,000-5,000" into 1000; ``words`` (a mapping may call it ``enum_words``)
    turns "COMPUTER_SOFTWARE" into "computer software". A value that cannot be read is a problem, never an error.
    """
    profile: dict[str, Any] = {}
    problems: list[RecordProblem] = []
    for field, name in fields.items():
        value = raw.get(name)
        if value in (None, ""):
            continue
        transform = transforms.get(field)
        if transform == "number_or_range":
            number = number_or_range(str(value))
            if number is None:
                problems.append(RecordProblem(record_id, name, f"'{value}' is not a number or a range; ignored"))
                continue
            profile[field] = number
        elif transform in ("words", "enum_words"):
            profile[field] = str(value).replace("_", " ").strip().lower()
        else:
            profile[field] = value
    return profile, problems
