"""Where each Salesforce stream stands: a keyset over ``(SystemModstamp, Id)``, saved with the page it ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadscore.protocol import JsonObject, SavedCursor


@dataclass(frozen=True, slots=True)
class Keyset:
    """Every record up to this ``(stamp, id)`` is read (no stamp: none is)."""

    stamp: str | None = None
    after_id: str | None = None

    def to_json(self) -> JsonObject:
        return {"stamp": self.stamp, "after_id": self.after_id} if self.stamp is not None else {}

    @classmethod
    def from_json(cls, saved: Mapping[str, Any] | None) -> Keyset:
        saved = saved or {}
        stamp, after = saved.get("stamp"), saved.get("after_id")
        return cls(None if stamp is None else str(stamp), None if after is None else str(after))


@dataclass(frozen=True, slots=True)
class PerObject:
    """The contacts stream reads several objects (Lead, Contact) in turn, each with its own keyset."""

    objects: tuple[tuple[str, Keyset], ...] = ()

    def of(self, sobject: str) -> Keyset:
        return dict(self.objects).get(sobject, Keyset())

    def moved(self, sobject: str, position: Keyset) -> PerObject:
        return PerObject(tuple((dict(self.objects) | {sobject: position}).items()))

    def to_json(self) -> JsonObject:
        return {sobject: position.to_json() for sobject, position in self.objects}

    @classmethod
    def from_json(cls, saved: SavedCursor | None) -> PerObject:
        return cls(tuple((str(k), Keyset.from_json(v)) for k, v in (saved or {}).items() if isinstance(v, Mapping)))
