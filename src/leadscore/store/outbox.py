"""The outbox and the written state: changes persisted before they are sent, and what each apply answered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from leadscore.clock import utcnow
from leadscore.protocol import PendingChange
from leadscore.records import (
    LIST_ADD,
    LIST_REMOVE,
    SET_PROPERTIES,
    Change,
    WrittenState,
)
from leadscore.store import schema
from leadscore.store.base import EMPTY, Tables, chunks
from leadscore.store.statements import outbox_entries_query, pending_query


@dataclass(slots=True)
class Settlement:
    """The store's side of one apply: what to fold in, what to retry later (key, reason, not before), what is gone,
    and what was merged into which survivor."""

    acknowledged: list[PendingChange] = field(default_factory=list)
    set_aside: list[tuple[int, str, datetime]] = field(default_factory=list)
    gone: list[PendingChange] = field(default_factory=list)
    merged: list[tuple[PendingChange, str]] = field(default_factory=list)


class OutboxStore(Tables):
    """Changes waiting to be sent, and what leadscore knows to be on each platform."""

    def enqueue(self, changes: Sequence[Change]) -> list[int]:
        """Persist changes before any is sent; a crash then resumes from here."""
        with self.db.begin() as connection:
            return self._enqueue(connection, changes)

    def pending(
        self,
        source: str,
        limit: int,
        now: datetime | None = None,
        kind: str | None = None,
        order: str = "by_list",
        after: int = 0,
    ) -> list[PendingChange]:
        """Changes due for sending, oldest first within a group; set-aside changes wait for their backoff to pass.

        ``by_list`` groups by kind and list (one call carries one list's members);
        ``by_key`` takes them in the order they were planned (a record's changes are planned together), from the
        key after ``after``, so that a drain whose connector holds changes back pages through the outbox once.
        """
        query = pending_query(order, kind is not None)
        parameters = {"p_source": source, "p_now": now or utcnow(), "p_limit": limit, "p_kind": kind}
        if order == "by_key":
            parameters["p_after"] = after
        with self.db.connect() as connection:
            return _entries(source, connection.execute(query, parameters))

    def outbox_entries(self, source: str, keys: Sequence[int]) -> list[PendingChange]:
        """The entries of ``keys`` still in the outbox, as ``pending`` gives them."""
        found: list[PendingChange] = []
        with self.db.connect() as connection:
            for chunk in chunks(list(keys), 1000):
                rows = connection.execute(outbox_entries_query(), {"p_source": source, "p_keys": list(chunk)})
                found += _entries(source, rows)
        return found

    def outbox_depth(self, source: str, status: str | None = None) -> int:
        o = schema.outbox
        query = select(func.count()).select_from(o).where(o.c.source == source)
        if status is not None:
            query = query.where(o.c.status == status)
        with self.db.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def acknowledge(self, entries: Sequence[PendingChange]) -> None:
        """The platform confirmed these changes: fold them into written state and drop them from the outbox."""
        self.settle(Settlement(acknowledged=list(entries)))

    def settle(self, settlement: Settlement) -> None:
        """What the platform answered to one apply, saved in one transaction: acknowledged changes fold into
        written state and leave the outbox, rejected ones wait out their backoff, gone and merged records are
        recorded as such and their changes dropped."""
        with self.db.begin() as connection:
            self._acknowledge(connection, settlement.acknowledged)
            for key, reason, not_before in settlement.set_aside:
                connection.execute(
                    update(schema.outbox)
                    .where(schema.outbox.c.id == key)
                    .values(
                        status="set_aside",
                        last_error=reason,
                        not_before=not_before,
                        attempts=schema.outbox.c.attempts + 1,
                    )
                )
            dropped = [entry.key for entry in settlement.gone] + [entry.key for entry, _ in settlement.merged]
            for chunk in chunks(dropped, 1000):
                connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})
            for entry in settlement.gone:
                self._mark(connection, entry.change.source, [entry.contact_id], deleted=True)
            for entry, survivor in settlement.merged:
                self._merge(connection, entry.change.source, entry.contact_id, survivor)

    def _acknowledge(self, connection: Connection, entries: Sequence[PendingChange]) -> None:
        if not entries:
            return
        now = utcnow()
        by_contact: dict[tuple[str, str], list[Change]] = {}
        for entry in entries:
            by_contact.setdefault((entry.change.source, entry.change.contact_id), []).append(entry.change)
        current = self._written(connection, by_contact.keys())
        rows = []
        for key, changes in by_contact.items():
            state = _folded(current.get(key, WrittenState(EMPTY, frozenset())), changes)
            rows.append(
                {
                    "source": key[0],
                    "contact_id": key[1],
                    "properties": dict(state.properties),
                    "lists": sorted(state.lists),
                    "written_at": now,
                }
            )
        self._upsert_written(connection, rows)
        for chunk in chunks([entry.key for entry in entries], 1000):
            connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})

    def set_aside(self, entry_id: int, reason: str, not_before: datetime) -> None:
        """A record the platform rejected: keep it with its reason and retry it later, not in a loop."""
        self.settle(Settlement(set_aside=[(entry_id, reason, not_before)]))

    def discard(self, entry_ids: Sequence[int]) -> None:
        """Drop outbox entries that can never apply (their record is gone for good)."""
        with self.db.begin() as connection:
            for chunk in chunks(list(entry_ids), 1000):
                connection.execute(self._sql.delete_outbox_ids, {"p_ids": list(chunk)})

    def set_aside_entries(self, source: str) -> list[tuple[PendingChange, str]]:
        o = schema.outbox
        query = (
            select(o.c.id, o.c.contact_id, o.c.kind, o.c.payload, o.c.attempts, o.c.last_error)
            .where(o.c.source == source, o.c.status == "set_aside")
            .order_by(o.c.id)
        )
        with self.db.connect() as connection:
            return [
                (PendingChange(row[0], Change(source, row[1], row[2], row[3]), row[4]), row[5] or "")
                for row in connection.execute(query)
            ]

    def written_state(self, source: str, contact_ids: Sequence[str]) -> dict[str, WrittenState]:
        with self.db.connect() as connection:
            found = self._written(connection, [(source, contact_id) for contact_id in contact_ids])
        return {key[1]: state for key, state in found.items()}

    def expected_state(self, source: str, contact_ids: Sequence[str]) -> dict[str, WrittenState]:
        """What each record will show once its outbox is sent: the written state with the pending changes folded
        on in order. Planning against it, a change already waiting (planned by another source's cycle for one
        person, or by an earlier pass) is not planned and sent a second time."""
        o = schema.outbox
        with self.db.connect() as connection:
            found = {
                key[1]: state for key, state in self._written(connection, [(source, i) for i in contact_ids]).items()
            }
            waiting: dict[str, list[Change]] = {}
            for chunk in chunks(list(contact_ids), 1000):
                rows = connection.execute(
                    select(o.c.contact_id, o.c.kind, o.c.payload)
                    .where(o.c.source == source, o.c.contact_id.in_(list(chunk)), o.c.status == "pending")
                    .order_by(o.c.id)
                )
                for contact_id, kind, payload in rows:
                    waiting.setdefault(contact_id, []).append(Change(source, contact_id, kind, payload))
        for contact_id, changes in waiting.items():
            found[contact_id] = _folded(found.get(contact_id, WrittenState(EMPTY, frozenset())), changes)
        return found

    def _upsert_written(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            connection.execute(self._sql.upsert_written, rows)


def _folded(state: WrittenState, changes: Sequence[Change]) -> WrittenState:
    """``state`` with ``changes`` applied in order."""
    properties, lists = dict(state.properties), set(state.lists)
    for change in changes:
        if change.kind == SET_PROPERTIES:
            properties.update(change.payload)
        elif change.kind == LIST_ADD:
            lists.add(str(change.payload["list"]))
        elif change.kind == LIST_REMOVE:
            lists.discard(str(change.payload["list"]))
    return WrittenState(properties, frozenset(lists))


def _entries(source: str, rows: Any) -> list[PendingChange]:
    return [PendingChange(row[0], Change(source, row[1], row[2], row[3]), row[4], row[5]) for row in rows]
