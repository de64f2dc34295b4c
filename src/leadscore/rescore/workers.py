"""Worker processes that score ranges of contacts side by side, kept for the life of the process.

Workers start with ``spawn`` (a fresh interpreter): forking a process that runs
threads and holds pooled connections is unsafe. Each opens the store once; each
task carries its rescore's job as pickled bytes, unpickled only when it differs
from the worker's last one, so a rescore of 500 pages compiles its models once
per worker. A worker whose parent died (kill -9 of the daemon) stops before its
next page, and a watchdog thread ends it within a second even while it waits
for work, which it would otherwise do for ever.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from leadscore.errors import CycleInterruptedError, ScoringWorkerError
from leadscore.rescore.pages import IdRange, Job, RescoreReport, T, fewer_gc_passes, score_range
from leadscore.store import SQLStore
from leadscore.store.sql import SCORING_MEMORY

_pools: dict[tuple[str, int], ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def running_pool(url: str, workers: int) -> ProcessPoolExecutor | None:
    with _pools_lock:
        return _pools.get((url, workers))


def _pool(url: str, workers: int) -> ProcessPoolExecutor:
    with _pools_lock:
        pool = _pools.get((url, workers))
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(url,))
            _pools[(url, workers)] = pool
        return pool


def close_pools() -> None:
    """Stop every worker process (at exit, and in tests that open stores of their own)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(close_pools)


def score_in_pool(
    url: str,
    workers: int,
    job: Job[T],
    ranges: list[IdRange],
    report: RescoreReport[T],
    should_stop: Callable[[], bool],
) -> None:
    """Each range is one page, scored by whichever worker is free; reports merge in id order.

    On a stop or a failure, ranges not yet started are cancelled and those
    running are waited for, so the store is left with whole pages only.
    """
    pool = _pool(url, workers)
    blob = pickle.dumps(job)
    key = uuid.uuid4().hex
    futures: list[Future[RescoreReport[T]]] = [pool.submit(_score_task, key, blob, ids) for ids in ranges]
    try:
        for future in futures:
            if should_stop():
                raise CycleInterruptedError(f"source {job.source}: scoring stopped between pages")
            report.merge(future.result())
    except BrokenProcessPool:
        _forget(url, workers, pool)
        raise ScoringWorkerError(
            "a scoring worker process died (killed, or out of memory); committed pages stay, the rest stay marked "
            "and the next cycle starts new workers"
        ) from None
    finally:
        for future in futures:
            future.cancel()
        wait(futures)


def _forget(url: str, workers: int, pool: ProcessPoolExecutor) -> None:
    with _pools_lock:
        if _pools.get((url, workers)) is pool:
            del _pools[(url, workers)]
    pool.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class _Worker:
    store: SQLStore
    parent: int
    job_key: str = ""
    job: Job[Any] | None = None


_worker: _Worker | None = None


ORPHAN_CHECK_SECONDS = 1.0


def _start_worker(url: str) -> None:
    """Ctrl-C in a terminal reaches the whole process group; the parent decides when scoring stops."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    _worker = _Worker(SQLStore.open(url, migrate=False, sqlite_memory=SCORING_MEMORY), parent)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan-watch", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    """Like a kill -9 of this worker: what it committed stays, a transaction in flight rolls back."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _score_task(key: str, blob: bytes, ids: IdRange) -> RescoreReport[Any]:
    """One range in a worker; an error comes back as a ScoringWorkerError, whose one message always unpickles."""
    worker = _worker
    if worker is None:
        raise ScoringWorkerError("a scoring worker ran a range before it was started")
    if worker.job_key != key or worker.job is None:
        worker.job, worker.job_key = pickle.loads(blob), key
    report: RescoreReport[Any] = RescoreReport()
    try:
        with fewer_gc_passes():
            score_range(worker.store, worker.job, ids, report, lambda: os.getppid() != worker.parent)
    except CycleInterruptedError:
        raise
    except Exception as exc:
        raise ScoringWorkerError(f"scoring contacts after '{ids[0]}': {type(exc).__name__}: {exc}") from None
    return report
