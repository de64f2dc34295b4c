"""Reading the next page while the last one is saved (leadscore.sync.readahead), alone and in a cycle.

What it must keep: every page in order, the stream's error after the pages read before it, at most ``depth`` pages
read beyond the one the caller holds, no call after it is closed, and the stream's clean-up run when it stops."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from leadscore.connectors.hubspot.connector import EMAIL, WEB
from leadscore.errors import PlatformError
from leadscore.protocol import ContactPage, EventPage, SavedCursor
from leadscore.sync.pipeline import CONTACT_STREAM
from leadscore.sync.readahead import ReadAhead
from tests.sync.conftest import Rig


class Stream:
    """A stream of numbered pages that counts what was read and whether it was cleaned up, and where."""

    def __init__(self, pages: int, fail_after: int | None = None) -> None:
        self.pages = pages
        self.fail_after = fail_after
        self.read = 0
        self.cleaned_up_in: str | None = None

    def __call__(self) -> Iterator[int]:
        try:
            for number in range(self.pages):
                if number == self.fail_after:
                    raise PlatformError(f"page {number}: the platform answered 500", source="test")
                self.read += 1
                yield number
        finally:
            self.cleaned_up_in = threading.current_thread().name


def test_every_page_comes_in_order() -> None:
    stream = Stream(50)
    with ReadAhead(stream(), name="pages") as ahead:
        assert list(ahead) == list(range(50))
    assert stream.cleaned_up_in == "pages"


def test_a_failing_stream_hands_over_its_pages_then_its_error() -> None:
    stream = Stream(10, fail_after=4)
    got: list[int] = []

    def take_all(ahead: ReadAhead[int]) -> None:
        got.extend(ahead)

    with ReadAhead(stream(), name="pages") as ahead, pytest.raises(PlatformError, match="page 4"):
        take_all(ahead)
    assert got == [0, 1, 2, 3]


def test_no_more_than_depth_pages_are_read_beyond_the_one_held() -> None:
    stream = Stream(100)
    ahead = ReadAhead(stream(), name="pages", depth=2)
    assert next(ahead) == 0
    held = 1
    for _ in range(20):  # give the reader time to run as far ahead as it may
        threading.Event().wait(0.01)
    # the caller holds 1; the queue holds up to 2; the reader may hold one more, waiting for room
    assert stream.read <= held + 2 + 1
    ahead.close()


def test_closing_stops_the_reads_and_cleans_up_the_stream_in_its_own_thread() -> None:
    stream = Stream(1_000)
    ahead = ReadAhead(stream(), name="reader", depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    read_when_closed = stream.read
    threading.Event().wait(0.1)
    assert stream.read == read_when_closed <= 3 + 2 + 1
    assert stream.cleaned_up_in == "reader"
    with pytest.raises(StopIteration):
        next(ahead)


def test_a_caller_that_fails_mid_stream_closes_it() -> None:
    stream = Stream(1_000)

    def save_until_the_fifth(ahead: ReadAhead[int]) -> None:
        with ahead:
            for page in ahead:
                if page == 5:
                    raise RuntimeError("save failed")

    with pytest.raises(RuntimeError, match="save failed"):
        save_until_the_fifth(ReadAhead(stream(), name="reader"))
    assert stream.cleaned_up_in == "reader"
    assert stream.read < 10


def _first_save_sees_the_next_read(
    rig: Rig, read: str, save: str, wrap_reader: Callable[[threading.Event], None]
) -> list[bool]:
    """Run a cycle in which the first page's save waits up to 5 s for the next page's read to begin; returns, for
    each save, whether that read had begun."""
    next_read_began = threading.Event()
    wrap_reader(next_read_began)
    real_save = getattr(rig.store, save)
    seen: list[bool] = []

    def save_page(*args: object) -> object:
        if not seen:
            seen.append(next_read_began.wait(5))
        return real_save(*args)

    setattr(rig.store, save, save_page)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok", report.error
    assert read
    return seen


def test_a_cycle_reads_the_next_contacts_page_while_it_saves_one(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=300)
    real = rig.connector.read_contacts

    def wrap(began: threading.Event) -> None:
        def reading(cursor: SavedCursor | None) -> Iterator[ContactPage]:
            for number, page in enumerate(real(cursor)):
                if number == 1:
                    began.set()
                yield page

        rig.connector.read_contacts = reading  # type: ignore[method-assign]

    assert _first_save_sees_the_next_read(rig, CONTACT_STREAM, "save_contact_page", wrap) == [True]
    assert rig.pipeline.last_report is not None
    assert rig.pipeline.last_report.contacts_read == 300
    assert rig.store.count("contacts", "hubspot") == 300


def test_a_cycle_reads_an_event_streams_next_page_while_it_saves_one(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=300)
    rig.connector.read_policy = replace(rig.connector.read_policy, concurrent_streams=False)
    assert rig.connector.event_streams()[0] == WEB
    real = rig.connector.read_events
    pages: Counter[str] = Counter()

    def wrap(began: threading.Event) -> None:
        def reading(stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
            for number, page in enumerate(real(stream, cursor)):
                pages[stream] += 1
                if stream == WEB and number == 1:
                    began.set()
                yield page

        rig.connector.read_events = reading  # type: ignore[method-assign]

    assert _first_save_sees_the_next_read(rig, WEB, "save_event_page", wrap) == [True]
    assert pages[WEB] >= 2


def test_the_report_says_whether_the_platform_or_the_store_held_a_stream_up(make_rig: Callable[..., Rig]) -> None:
    """A store slowed by 50 ms a page, then a platform slowed by 50 ms a page: each shows where it should."""
    rig = make_rig(contacts=300)
    real_save = rig.store.save_contact_page

    def slow_save(*args: Any) -> int:
        time.sleep(0.05)
        return real_save(*args)

    rig.store.save_contact_page = slow_save  # type: ignore[method-assign]
    slow_store = rig.pipeline.run_cycle().stream_seconds[CONTACT_STREAM]
    assert slow_store.pages == 3
    assert slow_store.saving >= 3 * 0.05
    assert set(rig.pipeline.run_cycle().as_dict()["stream_seconds"]) == {CONTACT_STREAM, WEB, EMAIL}

    slow = make_rig(contacts=300)
    real_read = slow.connector.read_contacts

    def slow_read(cursor: SavedCursor | None) -> Iterator[ContactPage]:
        for page in real_read(cursor):
            time.sleep(0.05)
            yield page

    slow.connector.read_contacts = slow_read  # type: ignore[method-assign]
    slow_platform = slow.pipeline.run_cycle().stream_seconds[CONTACT_STREAM]
    assert slow_platform.pages == 3
    assert slow_platform.waiting >= 0.05, "the first page is waited for whatever is read ahead"
