"""Records held back while a drain hands Brevo's changes over, kept in a temporary SQLite file.

A first sync of a large account plans a change for every record, far more than
memory should hold at once, and an import takes one list's arrivals, as many as
Brevo's body limit allows. So the records wait on disk, each once (a record planned
twice in one drain is merged, its later changes winning), until the drain has
handed everything over; then each list's arrivals are read back together, and the
rest go by batch updates, as few as their number allows.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE records (seq INTEGER PRIMARY KEY, contact_id TEXT NOT NULL UNIQUE, data TEXT NOT NULL,
                      importable INTEGER NOT NULL);
CREATE TABLE adds (list_id INTEGER NOT NULL, seq INTEGER NOT NULL, first INTEGER NOT NULL);
CREATE INDEX adds_by_list ON adds (list_id, seq);
CREATE INDEX adds_by_record ON adds (seq);
"""


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """One record's changes as Brevo takes them, and the outbox keys each part answers for.

    ``carried``: the keys answered by the record's first write (its attributes,
    and changes a later plan of the same drain superseded). ``adds`` and
    ``removes``: (list id, key) per list; the first add carries the attributes
    when the record is imported.
    """

    contact_id: str
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    carried: tuple[int, ...] = ()
    adds: tuple[tuple[int, int], ...] = ()
    removes: tuple[tuple[int, int], ...] = ()

    @property
    def importable(self) -> bool:
        """Whether an import can carry it: import keys rows by email and needs a list to put them in."""
        return bool(self.adds) and bool(self.email)

    def outbox_keys(self) -> list[int]:
        return [*self.carried, *(key for _, key in self.adds), *(key for _, key in self.removes)]

    def item(self) -> dict[str, Any]:
        """The record as one ``/contacts/batch`` item (never identity or blacklist fields)."""
        item: dict[str, Any] = {"id": int(self.contact_id)}
        if self.attributes:
            item["attributes"] = self.attributes
        if self.adds:
            item["listIds"] = [list_id for list_id, _ in self.adds]
        if self.removes:
            item["unlinkListIds"] = [list_id for list_id, _ in self.removes]
        return item

    def then(self, later: RecordWrite) -> RecordWrite:
        """This record's changes followed by a later plan's: later attributes and list moves win, and the keys of
        moves they supersede are carried with the record's first write."""
        touched = {list_id for list_id, _ in (*later.adds, *later.removes)}
        superseded = [key for list_id, key in (*self.adds, *self.removes) if list_id in touched]
        return replace(
            self,
            email=later.email or self.email,
            attributes={**self.attributes, **later.attributes},
            carried=(*self.carried, *superseded, *later.carried),
            adds=(*((lid, key) for lid, key in self.adds if lid not in touched), *later.adds),
            removes=(*((lid, key) for lid, key in self.removes if lid not in touched), *later.removes),
        )


class HeldWrites:
    """The records of one drain that wait for its end; ``close`` deletes the file."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="leadscore-brevo-held-")
        self._db = sqlite3.connect(Path(self._directory.name) / "held.db", check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)

    def importable(self) -> int:
        """How many held records an import can carry."""
        return int(self._db.execute("SELECT count(*) FROM records WHERE importable").fetchone()[0])

    def holding(self, contact_ids: Sequence[str]) -> set[str]:
        return set(self._known(list(contact_ids)))

    def hold(self, records: Iterable[RecordWrite]) -> None:
        incoming = {record.contact_id: record for record in _merged_in_order(records)}
        if not incoming:
            return
        known = self._known(list(incoming))
        for contact_id, record in incoming.items():
            if contact_id in known:
                seq, earlier = known[contact_id]
                merged = earlier.then(record)
                self._db.execute(
                    "UPDATE records SET data = ?, importable = ? WHERE seq = ?",
                    (_encode(merged), merged.importable, seq),
                )
                self._db.execute("DELETE FROM adds WHERE seq = ?", (seq,))
                self._add_rows(seq, merged)
            else:
                cursor = self._db.execute(
                    "INSERT INTO records (contact_id, data, importable) VALUES (?, ?, ?)",
                    (contact_id, _encode(record), record.importable),
                )
                self._add_rows(int(cursor.lastrowid or 0), record)

    def lists(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT list_id FROM adds ORDER BY list_id")]

    def arrivals(self, list_id: int) -> Iterator[tuple[RecordWrite, bool]]:
        """The records entering ``list_id``, in the order they were held, each with whether it is the record's
        first list (the one its attributes travel to)."""
        rows = self._db.execute(
            "SELECT r.data, a.first FROM adds a JOIN records r ON r.seq = a.seq WHERE a.list_id = ? ORDER BY a.seq",
            (list_id,),
        )
        for data, first in rows:
            yield _decode(data), bool(first)

    def records(self, importable: bool | None = None) -> Iterator[RecordWrite]:
        """The held records in the order held: all, or those an import can carry (or cannot)."""
        query = "SELECT data FROM records"
        if importable is not None:
            query += " WHERE importable" if importable else " WHERE NOT importable"
        for (data,) in self._db.execute(query + " ORDER BY seq"):
            yield _decode(data)

    def close(self) -> None:
        self._db.close()
        self._directory.cleanup()

    def _known(self, contact_ids: list[str]) -> dict[str, tuple[int, RecordWrite]]:
        found: dict[str, tuple[int, RecordWrite]] = {}
        for start in range(0, len(contact_ids), 500):
            chunk = contact_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT contact_id, seq, data FROM records WHERE contact_id IN ({marks})"
            for contact_id, seq, data in self._db.execute(query, chunk):
                found[contact_id] = (seq, _decode(data))
        return found

    def _add_rows(self, seq: int, record: RecordWrite) -> None:
        if not record.importable:
            return
        self._db.executemany(
            "INSERT INTO adds (list_id, seq, first) VALUES (?, ?, ?)",
            [(list_id, seq, position == 0) for position, (list_id, _) in enumerate(record.adds)],
        )


def _merged_in_order(records: Iterable[RecordWrite]) -> list[RecordWrite]:
    merged: dict[str, RecordWrite] = {}
    for record in records:
        earlier = merged.get(record.contact_id)
        merged[record.contact_id] = earlier.then(record) if earlier is not None else record
    return list(merged.values())


def _encode(record: RecordWrite) -> str:
    return json.dumps(
        [record.contact_id, record.email, record.attributes, record.carried, record.adds, record.removes],
        separators=(",", ":"),
    )


def _decode(data: str) -> RecordWrite:
    contact_id, email, attributes, carried, adds, removes = json.loads(data)
    return RecordWrite(
        contact_id,
        email,
        attributes,
        tuple(carried),
        tuple((int(list_id), int(key)) for list_id, key in adds),
        tuple((int(list_id), int(key)) for list_id, key in removes),
    )
