"""Scoring what is in the store: full (for decay) or only contacts marked by new data.

This joins the pure engine to the store. It streams page by page so a million
contacts cost the memory of one page. A large rescore is split at page ends
into id ranges that worker processes score side by side (one Python process
uses one core); each worker commits its own pages in the same order as the
single-process path, so a crash anywhere leaves the same guarantees.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadscore.engine import Engine
from leadscore.people import PeopleScope
from leadscore.rescore.pages import (
    IdRange,
    Job,
    PageHook,
    RescoreReport,
    ScoredContact,
    ScoredPage,
    T,
    fewer_gc_passes,
    score_range,
    to_stored,
)
from leadscore.rescore.workers import close_pools, running_pool, score_in_pool
from leadscore.store import Store

__all__ = [
    "IN_PROCESS",
    "PageHook",
    "Parallelism",
    "RescoreReport",
    "ScoredContact",
    "ScoredPage",
    "close_pools",
    "rescore",
    "to_stored",
]


@dataclass(frozen=True, slots=True)
class Parallelism:
    """How many processes score. Workers start for a rescore of at least ``min_contacts`` (starting one takes
    about a second) and then stay, so later rescores of two pages or more use them at no start-up cost."""

    workers: int = 1
    min_contacts: int = 50_000

    @classmethod
    def auto(cls, workers: int = 0, min_contacts: int = 50_000) -> Parallelism:
        """``workers`` 0 means one per core, at most four (the store's single writer limits the gain past that)."""
        return cls(workers or min(os.cpu_count() or 1, 4), min_contacts)


BALANCED_PAGES = 16
"""Pages per worker below which a rescore is cut into smaller pages: five pages on two workers take three
page-times, while cut to sixteen pages a worker the last worker ends at most one small page after the first. On the
1M-contact store, incremental rescores of 10,000 contacts on two workers, in two rounds: 0.62-0.67 s then 0.50-0.51 s
cut to four pages a worker, 0.47-0.48 s then 0.47-0.51 s cut to sixteen (bench/RESULTS.md)."""
MIN_SHARED_PAGE = 200

IN_PROCESS = Parallelism()
"""Score in the calling process only."""


def rescore(
    store: Store,
    source: str,
    engines: Sequence[Engine],
    now: datetime,
    *,
    only_queued: bool,
    page_size: int = 2000,
    on_page: PageHook[T] | None = None,
    persist: bool = True,
    parallelism: Parallelism = IN_PROCESS,
    should_stop: Callable[[], bool] = lambda: False,
    report: RescoreReport[T] | None = None,
    people: PeopleScope | None = None,
) -> RescoreReport[T]:
    """Score contacts of one source with every model, hand each page to ``on_page``, then save the page.

    ``on_page`` plans the page's writes; the changes it planned, the page's scores
    and the end of its contacts' rescore marks are then committed together, so a
    crash leaves a page wholly saved or wholly to do. ``persist=False`` scores without saving anything (dry
    run). A full rescore first drops queued ids of contacts that are gone, which no rescore would take off the
    queue.
    ``should_stop`` is asked between pages; when it says yes, what is committed
    stays committed and CycleInterruptedError is raised. A ``report`` passed in is
    filled as pages finish, so a caller still has the tallies of an interrupted run. With ``people``, the
    source's contacts score as the persons they belong to (rescore/pages.py).
    """
    report = RescoreReport() if report is None else report
    if persist and not only_queued:
        store.forget_gone_in_queue(source)
    job = Job(source, tuple(engines), now, only_queued, page_size, on_page, persist, people)
    url = store.shareable_url()
    if parallelism.workers > 1 and url is not None:
        ends = store.page_ends(source, only_queued=only_queued, page_size=page_size)
        warm = running_pool(url, parallelism.workers) is not None
        if ends and (warm or len(ends) * page_size >= parallelism.min_contacts):
            smaller = max(MIN_SHARED_PAGE, (len(ends) + 1) * page_size // (BALANCED_PAGES * parallelism.workers))
            if smaller < page_size:
                ends = store.page_ends(source, only_queued=only_queued, page_size=smaller)
            report.workers = parallelism.workers
            score_in_pool(url, parallelism.workers, job, _ranges(ends), report, should_stop)
            return report
    with fewer_gc_passes():
        score_range(store, job, ("", None), report, should_stop)
    return report


def _ranges(ends: list[str]) -> list[IdRange]:
    """Id ranges of one page each: ("", end 1], (end 1, end 2], ..., (last end, no end)."""
    return list(zip(["", *ends], [*ends, None], strict=True))
