"""Event streams read at once (ReadPolicy.concurrent_streams): one thread per stream, one shared call budget.

HubSpot's web events stream spends most of a large first cycle waiting on the ten-second window; reading the
email events beside it lets the email pages' saving use that time (bench/sync_hubspot.py measures the effect).
These tests pin the behaviour: the streams really overlap, they store what a one-at-a-time read stores, and a
failing stream stops its sibling and fails the cycle with its own error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from leadscore.connectors.hubspot.connector import EMAIL, WEB
from leadscore.errors import PlatformError
from leadscore.protocol import EventPage, SavedCursor
from tests.sync.conftest import Rig


def _wrap_streams(rig: Rig, reader: Callable[[str, SavedCursor | None], Iterator[EventPage]]) -> None:
    rig.connector.read_events = reader  # type: ignore[method-assign]


def _events(rig: Rig) -> set[tuple[str, str]]:
    with rig.store.db.connect() as connection:
        rows = connection.exec_driver_sql("select event_id, contact_id from events").all()
    return {(str(e), str(c)) for e, c in rows}


def test_the_streams_of_a_connector_that_allows_it_are_read_at_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(contacts=120)
    assert rig.connector.read_policy.concurrent_streams
    both_started = threading.Barrier(2, timeout=10)
    real = rig.connector.read_events

    def meeting_first(stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        both_started.wait()  # one stream at a time would leave the first alone here until the timeout
        yield from real(stream, cursor)

    _wrap_streams(rig, meeting_first)
    report = rig.pipeline.run_cycle()
    assert report.status == "ok"
    assert report.events_new > 0

    alone = make_rig(contacts=120)
    alone.connector.read_policy = replace(alone.connector.read_policy, concurrent_streams=False)
    alone_report = alone.pipeline.run_cycle()
    assert report.events_new == alone_report.events_new
    assert _events(rig) == _events(alone)
    assert rig.store.cursor("hubspot", WEB) == alone.store.cursor("hubspot", WEB)
    assert rig.store.cursor("hubspot", EMAIL) == alone.store.cursor("hubspot", EMAIL)


def test_a_failing_stream_stops_its_sibling_and_fails_the_cycle_with_its_own_error(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(contacts=60)
    real = rig.connector.read_events
    endless_pages: list[str] = []

    def failing_or_endless(stream: str, cursor: SavedCursor | None) -> Iterator[EventPage]:
        if stream == EMAIL:
            yield from real(stream, cursor)
            raise PlatformError("GET /email/public/v1/events: HubSpot answered 400: bad offset", source="hubspot")
        while True:  # a stream that would never end by itself
            endless_pages.append(stream)
            time.sleep(0.01)
            yield EventPage([], None)

    _wrap_streams(rig, failing_or_endless)
    started = time.monotonic()
    with pytest.raises(PlatformError, match="bad offset"):
        rig.pipeline.run_cycle()
    assert time.monotonic() - started < 30
    assert rig.pipeline.last_report is not None
    assert rig.pipeline.last_report.status == "failed"
    stopped_at = len(endless_pages)
    time.sleep(0.1)
    assert len(endless_pages) == stopped_at, "the endless stream went on reading after the cycle ended"
    last = rig.store.last_run("hubspot")
    assert last is not None
    assert last[0] == "failed"
