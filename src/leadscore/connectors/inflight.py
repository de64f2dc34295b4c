"""Calls sent a few at a time and answered in order.

A write call's round trip and the saving of its outcomes take about as long as the platform's pace allows per
call; done one after the other they fall behind it, the more so the farther away the platform is. With a few calls
in flight the round trips overlap the saving, and the shared call budget still paces them.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def in_order(calls: Sequence[Callable[[], T]], width: int) -> Iterator[Iterator[T]]:
    """Each call's result, in the order given, with up to ``width`` calls running at once.

    When the block ends early (an exception where a result is handled, a lost lease), calls not yet started are
    dropped and those already sent finish before it is left: at most ``width - 1`` calls go out after the last
    result taken, where one call at a time would send none.
    """
    if width <= 1 or len(calls) <= 1:
        yield (call() for call in calls)
        return
    running: deque[Future[T]] = deque()
    with ThreadPoolExecutor(width, thread_name_prefix="write") as pool:
        try:
            yield _results(calls, width, pool, running)
        finally:
            for future in running:
                future.cancel()


def _results(
    calls: Iterable[Callable[[], T]], width: int, pool: ThreadPoolExecutor, running: deque[Future[T]]
) -> Iterator[T]:
    for call in calls:
        running.append(pool.submit(call))
        if len(running) == width:
            yield running.popleft().result()
    while running:
        yield running.popleft().result()
