"""Known conversions, one JSON object per line: ``{"contact_id": "...", "converted_at": ISO time or null}``.

A contact missing from the file is not part of a backtest: an outcome file says
which contacts have a known result, and null says "did not convert". A line may
add ``"as_of"``: the moment to judge that lead at (for data sets whose leads
arrived over years, e.g. a week after each lead was created), instead of the
backtest's ``--as-of`` moments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadscore.errors import InputError
from leadscore.records import CONVERTED, Event, ensure_utc


class OutcomeLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    contact_id: str = Field(min_length=1)
    converted_at: datetime | None = None
    as_of: datetime | None = None

    @field_validator("contact_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Outcomes = dict[str, datetime | None]
"""Contact id -> when it converted (None: it did not)."""


@dataclass(frozen=True, slots=True)
class OutcomeFile:
    converted: Outcomes
    as_of: dict[str, datetime] = field(default_factory=dict)
    """Contact id -> the moment to judge that lead at, where its line gives one."""


def read_outcomes(path: Path, on_error: Callable[[InputError], None]) -> OutcomeFile:
    outcomes: Outcomes = {}
    as_of: dict[str, datetime] = {}
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = OutcomeLine.model_validate(json.loads(raw))
            except json.JSONDecodeError as exc:
                on_error(InputError(str(path), number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
                continue
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "(line)"
                on_error(InputError(str(path), number, f"{where}: {first['msg']}"))
                continue
            outcomes[line.contact_id] = ensure_utc(line.converted_at) if line.converted_at else None
            if line.as_of is not None:
                as_of[line.contact_id] = ensure_utc(line.as_of)
    return OutcomeFile(outcomes, as_of)


def known_outcome(
    contact_id: str, events: Sequence[Event], outcomes: Mapping[str, datetime | None] | None
) -> tuple[bool, datetime | None, Sequence[Event]]:
    """Whether the contact's outcome is known, when it converted, and its events less the ``converted`` ones (an
    outcome is never an input). ``outcomes`` None: every outcome is known, the earliest ``converted`` event's."""
    conversions = [event.occurred_at for event in events if event.action == CONVERTED]
    inputs = [event for event in events if event.action != CONVERTED] if conversions else events
    if outcomes is None:
        return True, min(conversions, default=None), inputs
    if contact_id not in outcomes:
        return False, None, inputs
    return True, outcomes[contact_id], inputs
