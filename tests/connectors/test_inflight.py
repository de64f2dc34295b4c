"""Calls a few at a time, answered in order; a block left early starts no more of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from leadscore.connectors.inflight import in_order


def test_results_come_in_the_order_given_whatever_order_the_calls_end_in() -> None:
    def call(n: int) -> Callable[[], int]:
        def run() -> int:
            time.sleep(0.02 * (5 - n))
            return n

        return run

    with in_order([call(n) for n in range(5)], 3) as results:
        assert list(results) == [0, 1, 2, 3, 4]


def test_a_block_left_early_starts_no_call_after_those_already_running() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def call(n: int) -> Callable[[], int]:
        def run() -> int:
            with lock:
                started.append(n)
            time.sleep(0.02)
            return n

        return run

    def stop_at_the_first() -> None:
        with in_order([call(n) for n in range(20)], 3) as results:
            for n in results:
                raise RuntimeError(f"stopped at {n}")

    with pytest.raises(RuntimeError, match="stopped at 0"):
        stop_at_the_first()
    assert sorted(started) == [0, 1, 2], "the first and the two sent behind it; none after"


def test_one_at_a_time_sends_each_call_only_when_its_result_is_asked_for() -> None:
    started: list[int] = []
    with in_order([lambda n=n: started.append(n) or n for n in range(5)], 1) as results:
        assert next(iter(results)) == 0
    assert started == [0]
