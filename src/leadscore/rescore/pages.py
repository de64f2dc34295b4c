"""Scoring a range of the store's contacts, page by page: what one process does, alone or as a worker.

Each page is read, scored with every model and handed to the page hook (which
plans its writes); then the planned changes, the page's scores and the end of
its contacts' rescore marks are committed in one transaction, so a crash leaves
the page either wholly done or wholly to do.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from leadscore.engine import Engine, reasons_text
from leadscore.errors import CycleInterruptedError
from leadscore.records import Change, Contact, FieldProblem, ScoreResult
from leadscore.store import Store, StoredScore, VisibleScore

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ScoredPage = list[tuple[Contact, list[ScoreResult]]]
IdRange = tuple[str, str | None]
"""Contact ids above the first, up to the second (None: no upper end)."""
FEWER_GC_PASSES = 200_000
PROBLEMS_KEPT = 1_000


class PageHook(Protocol[T_co]):
    """Runs on each scored page before anything of it is saved, in whichever process scored it.

    The changes it appends to ``outbox`` are enqueued in the transaction that saves
    the page's scores. A hook given to a parallel rescore is pickled into every
    worker, so it holds data, not open connections; it gets that process's store
    (to read written state) with each page.
    """

    def __call__(self, store: Store, page: ScoredPage, outbox: list[Change]) -> T_co: ...


@dataclass(slots=True)
class RescoreReport(Generic[T]):
    contacts: int = 0
    events: int = 0
    unmatched_actions: Counter[str] = field(default_factory=Counter)
    workers: int = 1
    """Processes that scored (1: the caller's own)."""
    pages: list[T] = field(default_factory=list)
    """What the page hook returned for each page, in id order."""
    unreadable: list[tuple[str, FieldProblem]] = field(default_factory=list)
    """(contact id, problem) for profile values not of their field's type, the first PROBLEMS_KEPT of them."""

    def merge(self, other: RescoreReport[T]) -> None:
        self.contacts += other.contacts
        self.events += other.events
        self.unmatched_actions.update(other.unmatched_actions)
        self.pages.extend(other.pages)
        self.unreadable.extend(other.unreadable[: max(0, PROBLEMS_KEPT - len(self.unreadable))])


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """What scoring any range of one rescore needs; pickled once per rescore for the workers."""

    source: str
    engines: Sequence[Engine]
    now: datetime
    only_queued: bool
    page_size: int
    on_page: PageHook[T] | None
    persist: bool


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
def fewer_gc_passes() -> Iterator[None]:
    """Scoring allocates millions of short-lived, acyclic objects; Python's default
    young-generation threshold (700) makes the cyclic collector rescan them over and
    over, which measured as a third of rescore time. Reference counting frees them
    anyway, so collect less often for the duration."""
    previous = gc.get_threshold()
    gc.set_threshold(FEWER_GC_PASSES, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _visible(score: StoredScore) -> VisibleScore:
    """What a person sees on the record; a stored score is rewritten only when this changes."""
    return VisibleScore(score.score, score.grade, score.band, score.label, score.reasons)


def score_range(
    store: Store, job: Job[T], ids: IdRange, report: RescoreReport[T], should_stop: Callable[[], bool]
) -> None:
    """Score, plan and save every page of contacts in ``ids``; ``should_stop`` is asked before each page."""
    after, upto = ids
    pages = store.contacts_with_events(
        job.source, only_queued=job.only_queued, page_size=job.page_size, after=after, upto=upto
    )
    for page in pages:
        if should_stop():
            raise CycleInterruptedError(f"source {job.source}: scoring stopped between pages")
        previous = store.visible_scores(job.source, [contact.id for contact, _ in page])
        stored: list[StoredScore] = []
        scored_page: ScoredPage = []
        for contact, events in page:
            report.contacts += 1
            report.events += len(events)
            results = []
            for engine in job.engines:
                last = previous.get((contact.id, engine.name))
                result = engine.score_rows(contact, events, job.now, previous_band=last.band if last else None)
                if result.unmatched_actions:
                    report.unmatched_actions.update(result.unmatched_actions)
                if result.problems and len(report.unreadable) < PROBLEMS_KEPT and engine is job.engines[0]:
                    report.unreadable.extend((contact.id, problem) for problem in result.problems)
                results.append(result)
                fresh = to_stored(result, job.now, engine.model.top_reasons)
                if last is None or last != _visible(fresh):
                    stored.append(fresh)
            scored_page.append((contact, results))
        outbox: list[Change] = []
        if job.on_page is not None:
            report.pages.append(job.on_page(store, scored_page, outbox))
        if job.persist:
            store.save_scored_page(job.source, stored, [contact.id for contact, _ in page], outbox)
