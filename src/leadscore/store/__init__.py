"""Where leadscore keeps contacts, events, cursors, scores, the outbox and runs."""

from __future__ import annotations

from leadscore.store.sql import DEFAULT_URL, Settlement, SQLStore, StoredScore, VisibleScore, WrittenState

__all__ = ["DEFAULT_URL", "SQLStore", "Settlement", "StoredScore", "VisibleScore", "WrittenState"]
