"""The webhook inbox: bodies kept until a cycle turns them into events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from leadscore.clock import utcnow
from leadscore.protocol import EventPage
from leadscore.records import Event, ensure_utc
from leadscore.store import schema
from leadscore.store.base import Tables, with_owners

UNRESOLVED_KEPT_FOR = timedelta(days=7)
"""How long a webhook event waits for its recipient to appear as a contact before it is given up (and counted)."""


@dataclass(slots=True)
class InboxOutcome:
    """What one drain of webhook bodies did: events stored, events whose recipient is unknown, of those the ones
    kept for a later cycle and the ones given up as too old."""

    added: int = 0
    unresolved: int = 0
    waiting: int = 0
    expired: int = 0


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

    def inbox(self, source: str, limit: int, after: int = 0) -> list[tuple[int, Any]]:
        """Bodies of ``source`` with an id above ``after``, oldest first (bodies kept for an unknown recipient stay
        in the inbox, so a drain walks past them)."""
        i = schema.inbox
        with self.db.connect() as connection:
            rows = connection.execute(
                select(i.c.id, i.c.body).where(i.c.source == source, i.c.id > after).order_by(i.c.id).limit(limit)
            )
            return [(int(row[0]), row[1]) for row in rows]

    def save_inbox_pages(
        self,
        source: str,
        pages: Sequence[EventPage],
        inbox_ids: Sequence[int],
        keep_for: timedelta = UNRESOLVED_KEPT_FOR,
    ) -> InboxOutcome:
        """Store the events parsed from some webhook bodies, in one transaction, their recipients looked up and
        their events inserted together. A body whose events all found their contact is dropped; one with an event
        whose recipient is not a known contact yet (the contact may arrive with the next pull) is kept and parsed
        again next cycle, until it is older than ``keep_for``."""
        i = schema.inbox
        outcome = InboxOutcome()
        cutoff = utcnow() - keep_for
        with self.db.begin() as connection:
            received = dict(
                connection.execute(select(i.c.id, i.c.received_at).where(i.c.id.in_(list(inbox_ids)))).all()
            )
            owners = self._owners(connection, source, pages)
            done: list[int] = []
            resolved: list[Event] = []
            for page, inbox_id in zip(pages, inbox_ids, strict=True):
                events, missing = with_owners(page, owners)
                resolved += events
                outcome.unresolved += missing
                at = received.get(inbox_id)
                if missing and at is not None and ensure_utc(at) > cutoff:
                    outcome.waiting += missing
                    continue
                outcome.expired += missing
                done.append(inbox_id)
            outcome.added = self._insert_events(connection, source, resolved)
            connection.execute(delete(i).where(i.c.id.in_(done)))
        return outcome
