"""The shared call machinery: the call budget's windows, and the one retry loop every client sends through."""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from leadscore.connectors.http import CallBudget, RetryLimits, Window, call_with_retries
from leadscore.errors import AuthError, RateLimitedError, RetryableError
from leadscore.protocol import ApiUsage

LIMITS = RetryLimits(max_attempts=4, max_wait=10, max_total=60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_window_lets_its_limit_through_then_waits_for_the_oldest_call_to_age_out() -> None:
    clock = Clock()
    budget = CallBudget({"general": Window(3, 10.0)}, sleep=clock.sleep, clock=clock)
    for _ in range(3):
        budget.acquire("general")
    assert clock.slept == []
    clock.now = 4.0
    assert budget.next_free_in("general") == pytest.approx(6.0)
    budget.acquire("general")
    assert clock.slept == [pytest.approx(6.0)]
    assert budget.waited == pytest.approx(6.0)


def test_a_call_counts_in_its_window_from_when_its_answer_came() -> None:
    """The platform received the call at some moment before its answer: a call held up on its way (a busy host)
    must not let the next window's calls reach the platform before it leaves the platform's window (a 429)."""
    clock = Clock()
    budget = CallBudget({"general": Window(2, 10.0)}, sleep=clock.sleep, clock=clock)
    first = budget.acquire("general")
    clock.now = 0.5
    budget.answered("general", first)
    second = budget.acquire("general")
    budget.answered("general", second)
    assert budget.next_free_in("general") == pytest.approx(10.0), "free at 10.5, not at 10.0"
    clock.now = 10.5
    assert budget.next_free_in("general") == 0.0


def test_windows_are_independent() -> None:
    clock = Clock()
    budget = CallBudget({"general": Window(1, 10.0), "search": Window(1, 1.0)}, sleep=clock.sleep, clock=clock)
    budget.acquire("general")
    budget.acquire("search")
    assert clock.slept == []
    budget.acquire("search")
    assert clock.slept == [pytest.approx(1.0)]


def test_retryable_errors_are_retried_and_each_retry_counted() -> None:
    answers: list[object] = [RetryableError("502"), RetryableError("dropped"), "ok"]
    retries: list[int] = []
    slept: list[float] = []

    def send() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert call_with_retries(send, LIMITS, sleep=slept.append, on_retry=lambda: retries.append(1)) == "ok"
    assert len(retries) == 2
    assert len(slept) == 2


def test_a_429_waits_its_retry_after_capped_at_the_longest_wait() -> None:
    answers: list[object] = [RateLimitedError("429", retry_after=3.0), RateLimitedError("429", retry_after=99), 1]
    slept: list[float] = []

    def send() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(str(answer))

    assert call_with_retries(send, LIMITS, sleep=slept.append) == 1
    assert slept == [3.0, 10.0]


def test_the_attempts_run_out_with_the_last_error() -> None:
    calls: list[int] = []

    def send() -> None:
        calls.append(1)
        raise RetryableError("still 503")

    with pytest.raises(RetryableError, match="still 503"):
        call_with_retries(send, LIMITS, sleep=lambda _: None)
    assert len(calls) == LIMITS.max_attempts


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def send() -> None:
        calls.append(1)
        raise ValueError("a bug, not a platform hiccup")

    with pytest.raises(ValueError, match="a bug"):
        call_with_retries(send, LIMITS, sleep=lambda _: None)
    assert calls == [1]


def test_expired_credentials_are_renewed_once_and_the_call_replayed_at_once() -> None:
    answers: list[object] = [AuthError("401"), "ok"]
    renewals: list[int] = []
    slept: list[float] = []

    def send() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert call_with_retries(send, LIMITS, sleep=slept.append, expired=AuthError, renew=lambda: renewals.append(1))
    assert renewals == [1]
    assert slept == [0.0]


def test_credentials_refused_again_after_renewal_fail_without_more_renewals() -> None:
    renewals: list[int] = []

    def send() -> None:
        raise AuthError("401 again")

    def refused(error: Exception, renewed: bool) -> Exception:
        return AuthError(f"refused ({'after' if renewed else 'without'} renewal): {error}")

    with pytest.raises(AuthError, match=r"refused \(after renewal\): 401 again"):
        call_with_retries(
            send, LIMITS, sleep=lambda _: None, expired=AuthError, renew=lambda: renewals.append(1), refused=refused
        )
    assert renewals == [1]


def test_expired_credentials_without_a_way_to_renew_fail_at_once() -> None:
    calls: list[int] = []

    def send() -> None:
        calls.append(1)
        raise AuthError("401")

    with pytest.raises(AuthError):
        call_with_retries(send, LIMITS, sleep=lambda _: None, expired=AuthError)
    assert calls == [1]


def test_a_hold_from_the_platforms_headers_delays_the_next_call_until_the_reset() -> None:
    clock = Clock()
    budget = CallBudget({"hour": Window(100, 3600.0)}, sleep=clock.sleep, clock=clock)
    budget.acquire("hour")
    budget.hold("hour", 42.0)
    assert budget.next_free_in("hour") == pytest.approx(42.0)
    budget.acquire("hour")
    assert clock.slept == [pytest.approx(42.0)]
    assert budget.next_free_in("hour") == 0.0, "the hold is served once"


def after_a_burst(calls: int) -> tuple[Clock, CallBudget]:
    """A HubSpot-like budget (190 calls per 10.2 s) after ``calls`` sent 15 ms apart."""
    clock = Clock()
    budget = CallBudget({"general": Window(190, 10.2)}, sleep=clock.sleep, clock=clock)
    for _ in range(calls):
        budget.acquire("general")
        clock.now += 0.015
    return clock, budget


def test_a_rolling_window_spent_by_our_own_burst_frees_when_its_oldest_call_leaves_it() -> None:
    """HubSpot's ten-second limit rolls: once a burst of our own calls spends it (Remaining 0), the next call may go
    when the burst's first call is ten seconds old, not ten seconds after the burst ended. Holding a whole window
    from its last call made a 100,000-contact sync pull at 14.5 calls a second where the limit allows 19."""
    clock, budget = after_a_burst(190)
    budget.learn("general", 190, 10.2, remaining=0)
    assert budget.next_free_in("general") == pytest.approx(10.2 - 190 * 0.015)
    budget.acquire("general")
    assert clock.slept == [pytest.approx(10.2 - 190 * 0.015)]


def test_calls_the_platform_counted_that_we_did_not_send_hold_a_spent_window_whole() -> None:
    """Another integration's calls are not in our log: when the platform says the window is spent and our log
    does not, the next call waits the whole window."""
    _, budget = after_a_burst(10)
    budget.learn("general", 190, 10.2, remaining=0)
    assert budget.next_free_in("general") == pytest.approx(10.2)


def test_threads_sharing_one_budget_never_send_more_than_its_window_allows() -> None:
    """Streams read at once share their client's budget: four threads taking places in one window of 25 calls per
    half second together stay within it."""
    budget = CallBudget({"general": Window(25, 0.5)})
    sent: list[float] = []
    record = threading.Lock()

    def send(calls: int) -> None:
        for _ in range(calls):
            budget.acquire("general")
            with record:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=send, args=(20,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 80
    busiest = max(bisect.bisect_left(sent, start + 0.5) - i for i, start in enumerate(sent))
    assert busiest <= 25
    assert sent[-1] - sent[0] >= 1.0, "80 calls at 25 per half second span at least three windows"


def test_calls_counted_from_many_threads_are_all_counted() -> None:
    usage = ApiUsage()

    def count() -> None:
        for _ in range(20_000):
            usage.count_call("GET /things")
            usage.count_retry()

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert usage.calls == {"GET /things": 80_000}
    assert usage.retries == 80_000
