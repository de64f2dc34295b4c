"""Scoring what is in the store: full (for decay) or only contacts marked by new data.

This joins the pure engine to the store. It streams page by page so a million
contacts cost the memory of one page. A large rescore is split at page ends
into id ranges that worker processes score side by side (one Python process
uses one core); each worker commits its own pages, in the same order as the
single-process path, so a crash anywhere leaves the same guarantees.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from leadscore.engine import Engine, reasons_text
from leadscore.errors import CycleInterruptedError, ScoringWorkerError
from leadscore.records import Contact, ScoreResult
from leadscore.store import SQLStore, StoredScore

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ScoredPage = list[tuple[Contact, list[ScoreResult]]]
IdRange = tuple[str, str | None]
"""Contact ids above the first, up to the second (None: no upper end)."""


class PageHook(Protocol[T_co]):
    """Runs on each scored page before its scores are saved, in whichever process scored it.

    A hook given to a parallel rescore is pickled into every worker, so it holds
    data, not open connections; it gets that process's store with each page.
    """

    def __call__(self, store: SQLStore, page: ScoredPage) -> T_co: ...


@dataclass(frozen=True, slots=True)
class Parallelism:
    """How many processes score a rescore of at least ``min_contacts``; smaller ones stay in this process,
    where starting workers (about a second each) would cost more than it saves."""

    workers: int = 1
    min_contacts: int = 50_000

    @classmethod
    def auto(cls, workers: int = 0, min_contacts: int = 50_000) -> Parallelism:
        """``workers`` 0 means one per core, at most four (the store's single writer limits the gain past that)."""
        return cls(workers or min(os.cpu_count() or 1, 4), min_contacts)


IN_PROCESS = Parallelism()
"""Score in the calling process only: tests, and callers that hold an in-memory store."""


@dataclass(slots=True)
class RescoreReport(Generic[T]):
    contacts: int = 0
    events: int = 0
    unmatched_actions: Counter[str] = field(default_factory=Counter)
    workers: int = 1
    pages: list[T] = field(default_factory=list)
    """What the page hook returned for each page, in id order."""

    def merge(self, other: RescoreReport[T]) -> None:
        self.contacts += other.contacts
        self.events += other.events
        self.unmatched_actions.update(other.unmatched_actions)
        self.pages.extend(other.pages)


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


@dataclass(frozen=True, slots=True)
class _Job(Generic[T]):
    """Everything one range of pages needs; pickled once into each worker."""

    source: str
    engines: Sequence[Engine]
    now: datetime
    only_dirty: bool
    page_size: int
    on_page: PageHook[T] | None
    persist: bool


def rescore(
    store: SQLStore,
    source: str,
    engines: Sequence[Engine],
    now: datetime,
    *,
    only_dirty: bool,
    page_size: int = 2000,
    on_page: PageHook[T] | None = None,
    persist: bool = True,
    parallelism: Parallelism = IN_PROCESS,
    should_stop: Callable[[], bool] = lambda: False,
    report: RescoreReport[T] | None = None,
) -> RescoreReport[T]:
    """Score contacts of one source with every model, hand each page to ``on_page``, then save the scores.

    ``on_page`` runs before the page's scores are saved (and its contacts lose
    their rescore mark), so a crash in between leaves them marked and planned
    again next cycle. ``persist=False`` scores without saving anything (dry run).
    ``should_stop`` is asked between pages; when it says yes, what is committed
    stays committed and CycleInterruptedError is raised. A ``report`` passed in is
    filled as pages finish, so a caller still has the tallies of an interrupted run.
    """
    report = RescoreReport() if report is None else report
    job = _Job(source, tuple(engines), now, only_dirty, page_size, on_page, persist)
    url = _shareable_url(store)
    if parallelism.workers > 1 and url is not None:
        ends = store.page_ends(source, only_dirty=only_dirty, page_size=page_size)
        if len(ends) * page_size >= parallelism.min_contacts:
            report.workers = parallelism.workers
            _rescore_in_workers(url, job, _ranges(ends), report, should_stop)
            return report
    with _fewer_gc_passes():
        _rescore_range(store, job, ("", None), report, should_stop)
    return report


def _rescore_range(
    store: SQLStore, job: _Job[T], ids: IdRange, report: RescoreReport[T], should_stop: Callable[[], bool]
) -> None:
    after, upto = ids
    pages = store.contacts_with_events(
        job.source, only_dirty=job.only_dirty, page_size=job.page_size, after=after, upto=upto
    )
    for page in pages:
        if should_stop():
            raise CycleInterruptedError(f"source {job.source}: scoring stopped between pages")
        previous = store.stored_scores(job.source, [contact.id for contact, _ in page])
        stored: list[StoredScore] = []
        scored_page: ScoredPage = []
        for contact, events in page:
            report.contacts += 1
            report.events += len(events)
            results = []
            for engine in job.engines:
                last = previous.get((contact.id, engine.name))
                result = engine.score_rows(contact, events, job.now, previous_band=last.band if last else None)
                report.unmatched_actions.update(result.unmatched_actions)
                results.append(result)
                fresh = to_stored(result, job.now, engine.model.top_reasons)
                if last is None or _visible(last) != _visible(fresh):
                    stored.append(fresh)
            scored_page.append((contact, results))
        if job.on_page is not None:
            report.pages.append(job.on_page(store, scored_page))
        if job.persist:
            store.save_scores(job.source, stored, [contact.id for contact, _ in page])


def _ranges(ends: list[str]) -> list[IdRange]:
    """Id ranges of one page each: ("", end 1], (end 1, end 2], ..., (last end, no end)."""
    starts = ["", *ends]
    return [(start, end) for start, end in zip(starts, [*ends, None], strict=True)]


def _shareable_url(store: SQLStore) -> str | None:
    """The store's URL with its password, when another process can open the same database (not in-memory SQLite)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


def _rescore_in_workers(
    url: str, job: _Job[T], ranges: list[IdRange], report: RescoreReport[T], should_stop: Callable[[], bool]
) -> None:
    """Each range is one page, scored by whichever worker is free; reports merge in id order.

    Workers start with ``spawn`` (a fresh interpreter), because forking a process
    that runs threads and holds pooled connections is unsafe.
    """
    context = multiprocessing.get_context("spawn")
    starting: tuple[Any, ...] = (url, job)
    with ProcessPoolExecutor(report.workers, mp_context=context, initializer=_start_worker, initargs=starting) as pool:
        futures: list[Future[RescoreReport[T]]] = [pool.submit(_score_in_worker, ids) for ids in ranges]
        try:
            for future in futures:
                if should_stop():
                    raise CycleInterruptedError(f"source {job.source}: scoring stopped between pages")
                report.merge(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@dataclass(slots=True)
class _Worker:
    store: SQLStore
    job: _Job[Any]
    parent: int


_worker: _Worker | None = None


def _start_worker(url: str, job: _Job[Any]) -> None:
    global _worker
    gc.set_threshold(200_000, *gc.get_threshold()[1:])
    _worker = _Worker(SQLStore.open(url, migrate=False), job, os.getppid())


def _score_in_worker(ids: IdRange) -> RescoreReport[Any]:
    """One range in a worker; an error comes back as a ScoringWorkerError, whose one message always unpickles."""
    worker = _worker
    if worker is None:
        raise ScoringWorkerError("a scoring worker ran a range before it was started")
    report: RescoreReport[Any] = RescoreReport()
    try:
        _rescore_range(worker.store, worker.job, ids, report, lambda: os.getppid() != worker.parent)
    except CycleInterruptedError:
        raise
    except Exception as exc:
        raise ScoringWorkerError(f"scoring contacts after '{ids[0]}': {type(exc).__name__}: {exc}") from None
    return report
