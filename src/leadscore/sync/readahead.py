"""Reading a stream's next page while its last one is saved.

A page costs the cycle twice: waiting for the platform (the call, and the rate
limit's pause before it) and saving what came back. Done one after the other,
a cycle whose saving is slow, such as a first read of 100,000 contacts, spends
the sum; with the next page read in a thread of its own, it spends about the
larger of the two.

Nothing changes for crash safety: a page still counts only once the store has
saved it with its cursor, so a page read ahead and never saved is read again
by the next cycle. At most ``depth + 1`` pages are read beyond the one being
saved (``depth`` waiting, one being read), and no call is made once the reader
is closed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

PUT_PATIENCE_SECONDS = 0.05
"""How often a reader waiting for room in its queue looks whether it was closed."""


@dataclass(frozen=True, slots=True)
class _Page(Generic[T]):
    page: T


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


class _End:
    """The stream has no more pages."""


class ReadAhead(Generic[T]):
    """The pages of ``pages``, read in a thread of their own while the caller works on the one before.

    Errors the stream raises reach the caller after the pages read before them, as they would without reading
    ahead. Closing (or leaving the ``with`` block) stops the thread after its call in flight, if any, and closes
    the stream there, so that a generator's clean-up runs in the thread that ran it.
    """

    def __init__(self, pages: Iterator[T], *, name: str, depth: int = 2) -> None:
        self._pages = pages
        self._ready: queue.Queue[_Page[T] | _Failed | _End] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._ready.get()
        if isinstance(item, _Page):
            return item.page
        self._finished = True
        self._thread.join()
        if isinstance(item, _Failed):
            raise item.error
        raise StopIteration

    def close(self) -> None:
        """Stop reading and wait for the thread (its call in flight, if any, ends first)."""
        self._closed.set()
        self._finished = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._ready.get(timeout=PUT_PATIENCE_SECONDS)
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._offer(_Page(page)):
                    return
            self._offer(_End())
        except BaseException as error:  # handed to the caller, raised there
            self._offer(_Failed(error))
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def _offer(self, item: _Page[T] | _Failed | _End) -> bool:
        """Wait for room in the queue; False once the reader was closed (the item is dropped)."""
        while not self._closed.is_set():
            try:
                self._ready.put(item, timeout=PUT_PATIENCE_SECONDS)
            except queue.Full:
                continue
            return True
        return False
