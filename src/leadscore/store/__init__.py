"""Where leadscore keeps contacts, events, cursors, scores, the outbox and runs."""

from __future__ import annotations

from leadscore.store.face import Store
from leadscore.store.history import HistoryEntry
from leadscore.store.leases import Lease
from leadscore.store.outbox import Settlement
from leadscore.store.scores import StoredScore, VisibleScore
from leadscore.store.sql import DEFAULT_URL, SQLStore

__all__ = ["DEFAULT_URL", "HistoryEntry", "Lease", "SQLStore", "Settlement", "Store", "StoredScore", "VisibleScore"]
