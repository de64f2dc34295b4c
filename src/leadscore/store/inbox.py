"""The webhook inbox: bodies kept until a cycle turns them into events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from leadscore.clock import utcnow
from leadscore.protocol import EventPage
from leadscore.store import schema
from leadscore.store.base import Tables


class InboxStore(Tables):
    """Webhook bodies received and not yet turned into events."""

    def receive(self, source: str, body: Any) -> int:
        """Keep a webhook body until the next cycle turns it into events; the sender gets 200 only after this."""
        with self.db.begin() as connection:
            result = connection.execute(
                schema.inbox.insert()
                .values(source=source, received_at=utcnow(), body=body)
                .returning(schema.inbox.c.id)
            )
            return int(result.scalar_one())

    def inbox(self, source: str, limit: int) -> list[tuple[int, Any]]:
        i = schema.inbox
        with self.db.connect() as connection:
            rows = connection.execute(
                select(i.c.id, i.c.body).where(i.c.source == source).order_by(i.c.id).limit(limit)
            )
            return [(int(row[0]), row[1]) for row in rows]

    def save_inbox_pages(self, source: str, pages: Sequence[EventPage], inbox_ids: Sequence[int]) -> tuple[int, int]:
        """Store the events parsed from some webhook bodies and drop those bodies, in one transaction.
        Returns (new events, events whose recipient is unknown)."""
        added = unresolved = 0
        with self.db.begin() as connection:
            for page in pages:
                events, missing = self._resolve(connection, source, page)
                added += self._insert_events(connection, source, events)
                unresolved += missing
            connection.execute(delete(schema.inbox).where(schema.inbox.c.id.in_(list(inbox_ids))))
        return added, unresolved
