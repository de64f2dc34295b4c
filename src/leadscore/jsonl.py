"""Reading contacts and events from JSON-lines files for offline scoring.

Each line is validated by a pydantic model; a bad line becomes an InputError
that names the file and the line, and the caller decides whether it is fatal.
Nothing is dropped without being reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadscore.errors import InputError
from leadscore.records import Contact, Event, ensure_utc, normalize_email

OFFLINE_SOURCE = "file"


class ContactLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    email: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def to_contact(self, source: str = OFFLINE_SOURCE) -> Contact:
        email = normalize_email(self.email) or normalize_email(self.properties.get("email"))
        return Contact(source=source, id=self.id, email=email, profile=self.properties)


class EventLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1)
    action: str = Field(min_length=1)
    occurred_at: datetime
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "contact_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def to_event(self, source: str = OFFLINE_SOURCE) -> Event:
        return Event(source, self.id, self.contact_id, self.action, ensure_utc(self.occurred_at), self.attributes)


LineModel = TypeVar("LineModel", bound=BaseModel)


def _read(path: Path, model: type[LineModel], on_error: Callable[[InputError], None]) -> Iterator[LineModel]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                raw = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                on_error(
                    InputError(str(path), number, f"not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8")
                )
                continue
            if not raw.strip():
                continue
            try:
                yield model.model_validate(json.loads(raw))
            except RecursionError:
                on_error(InputError(str(path), number, "nested too deeply to be a record"))
            except json.JSONDecodeError as exc:
                on_error(InputError(str(path), number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "(line)"
                on_error(InputError(str(path), number, f"{where}: {first['msg']}"))


def read_contacts(path: Path, on_error: Callable[[InputError], None]) -> Iterator[Contact]:
    for line in _read(path, ContactLine, on_error):
        yield line.to_contact()


def read_events(path: Path, on_error: Callable[[InputError], None]) -> Iterator[Event]:
    for line in _read(path, EventLine, on_error):
        yield line.to_event()
