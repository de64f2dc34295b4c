"""Scoring what is in the store: full (for decay) or only contacts marked by new data.

This joins the pure engine to the store. It streams page by page so a million
contacts cost the memory of one page.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from leadscore.engine import Engine, reasons_text
from leadscore.records import Contact, ScoreResult
from leadscore.store import SQLStore, StoredScore


@dataclass(slots=True)
class RescoreReport:
    contacts: int = 0
    events: int = 0
    unmatched_actions: Counter[str] = field(default_factory=Counter)


PageHook = Callable[[list[tuple[Contact, list[ScoreResult]]]], None]


def to_stored(result: ScoreResult, now: datetime, top_reasons: int) -> StoredScore:
    return StoredScore(
        contact_id=result.contact_id,
        model=result.model,
        score=result.score,
        fit=result.fit,
        behaviour=result.behaviour,
        grade=result.grade,
        band=result.band,
        label=result.label,
        reasons=reasons_text(result, now, top_reasons),
        scored_at=now,
    )


@contextmanager
def _fewer_gc_passes(threshold: int = 200_000) -> Iterator[None]:
    """Scoring allocates millions of short-lived, acyclic objects; Python's default
    young-generation threshold (700) makes the cyclic collector rescan them over and
    over, which measured as a third of rescore time. Reference counting frees them
    anyway, so collect less often for the duration."""
    previous = gc.get_threshold()
    gc.set_threshold(threshold, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _visible(score: StoredScore) -> tuple[int, str, str, str, str]:
    """What a person sees on the record; a stored score is rewritten only when this changes."""
    return (score.score, score.grade, score.band, score.label, score.reasons)


def rescore(
    store: SQLStore,
    source: str,
    engines: Sequence[Engine],
    now: datetime,
    *,
    only_dirty: bool,
    page_size: int = 2000,
    on_page: PageHook | None = None,
    persist: bool = True,
) -> RescoreReport:
    """Score contacts of one source with every model, hand each page to ``on_page``, then save the scores.

    ``on_page`` runs before the page's scores are saved (and its contacts lose
    their rescore mark), so a crash in between leaves them marked and planned
    again next cycle. ``persist=False`` scores without saving anything (dry run).
    """
    report = RescoreReport()
    with _fewer_gc_passes():
        _rescore_pages(store, source, engines, now, only_dirty, page_size, on_page, persist, report)
    return report


def _rescore_pages(
    store: SQLStore,
    source: str,
    engines: Sequence[Engine],
    now: datetime,
    only_dirty: bool,
    page_size: int,
    on_page: PageHook | None,
    persist: bool,
    report: RescoreReport,
) -> None:
    for page in store.contacts_with_events(source, only_dirty=only_dirty, page_size=page_size):
        previous = store.stored_scores(source, [contact.id for contact, _ in page])
        stored: list[StoredScore] = []
        scored_page: list[tuple[Contact, list[ScoreResult]]] = []
        for contact, events in page:
            report.contacts += 1
            report.events += len(events)
            results = []
            for engine in engines:
                last = previous.get((contact.id, engine.name))
                result = engine.score_rows(contact, events, now, previous_band=last.band if last else None)
                report.unmatched_actions.update(result.unmatched_actions)
                results.append(result)
                fresh = to_stored(result, now, engine.model.top_reasons)
                if last is None or _visible(last) != _visible(fresh):
                    stored.append(fresh)
            scored_page.append((contact, results))
        if on_page is not None:
            on_page(scored_page)
        if persist:
            store.save_scores(source, stored, [contact.id for contact, _ in page])
