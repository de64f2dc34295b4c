"""Shared HTTP machinery for connectors: a call budget paced before sending, one retry policy, one call helper.

Pacing before the call keeps 429s the exception (Airbyte's APIBudget idea); the
retry policy is the only retry layer, honours Retry-After, and always stops;
``call_with_retries`` is the one loop every client sends through, renewing
expired credentials at most once per call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from leadscore.errors import RetryableError

T = TypeVar("T")
Sleep = Callable[[float], None]


@dataclass
class Window:
    """At most ``limit`` calls in any ``seconds``-long window (a sliding log of send times), and none before
    ``held_until`` when the platform said the window is spent."""

    limit: int
    seconds: float
    sent: deque[float] = field(default_factory=deque)
    held_until: float = 0.0

    def wait_needed(self, now: float) -> float:
        while self.sent and now - self.sent[0] >= self.seconds:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[0] + self.seconds - now

    def record(self, now: float) -> None:
        self.sent.append(now)


class CallBudget:
    """Named windows (a ten-second window and a per-second one, say); ``acquire`` sleeps until one has room.

    Threads reading a platform's streams at once share one budget: a lock makes taking a place in a window one
    step (nobody sleeps holding it), so together they never send more than the window allows."""

    def __init__(
        self, windows: dict[str, Window], sleep: Sleep = time.sleep, clock: Callable[[], float] = time.monotonic
    ):
        self.windows = windows
        self.sleep = sleep
        self.clock = clock
        self.waited = 0.0
        self._lock = threading.Lock()

    def acquire(self, name: str) -> float:
        """Wait out a hold the platform asked for, then until the window has room, and count the call; returns
        the moment the call was counted at, for ``answered``."""
        window = self.windows[name]
        with self._lock:
            served = window.held_until
            held = served - self.clock()
            self.waited += max(0.0, held)
        if held > 0:
            self.sleep(held)
        with self._lock:
            if window.held_until == served:  # not renewed by another thread's answer meanwhile
                window.held_until = 0.0
        while True:
            with self._lock:
                now = self.clock()
                delay = window.wait_needed(now)
                if delay <= 0:
                    window.record(now)
                    return now
                self.waited += delay
            self.sleep(delay)

    def answered(self, name: str, sent_at: float) -> None:
        """Count the call counted at ``sent_at`` as made when its answer came: the platform received it somewhere
        between, and a call held up on its way (a busy host, a slow network) must not let the next window's calls
        reach the platform before this one leaves the platform's window."""
        window = self.windows[name]
        with self._lock:
            for position in range(len(window.sent) - 1, -1, -1):
                if window.sent[position] == sent_at:
                    window.sent[position] = max(sent_at, self.clock())
                    return

    def next_free_in(self, name: str) -> float:
        window = self.windows[name]
        with self._lock:
            now = self.clock()
            return max(0.0, window.held_until - now, window.wait_needed(now))

    def learn(self, name: str, limit: int, seconds: float, remaining: int) -> None:
        """The platform's rate-limit headers: its window is ``limit`` calls per ``seconds`` with ``remaining``
        left. A window slower than the configured one is adopted (a configured slower one is kept), and calls
        the platform counted that this process did not send (another process, or this one before a restart)
        are counted too, so pacing never bursts past it."""
        window = self.windows[name]
        with self._lock:
            now = self.clock()
            if limit / seconds < window.limit / window.seconds:
                window.limit, window.seconds = limit, seconds
            window.wait_needed(now)
            used = max(0, limit - remaining)
            while len(window.sent) < min(used, window.limit):
                window.sent.appendleft(now)
            if remaining <= 0:
                # The window rolls: it has room again when the oldest call counted in it (ours, or one the platform
                # counted and we did not send, dated now) leaves it, not a whole window from now.
                window.held_until = max(window.held_until, now + window.wait_needed(now))

    def rate(self, name: str) -> float:
        """Calls a second that the window ``name`` lets through at its steady pace."""
        window = self.windows[name]
        with self._lock:
            return window.limit / window.seconds

    def hold(self, name: str, seconds: float) -> None:
        """The platform's rate-limit headers say this window has no calls left for ``seconds``: hold it, so the
        next call waits for the platform's reset instead of meeting a 429."""
        window = self.windows[name]
        with self._lock:
            window.held_until = max(window.held_until, self.clock() + seconds)


def retrying(max_attempts: int, max_wait: float, max_total: float, sleep: Sleep = time.sleep) -> Retrying:
    """Retry only RetryableError; wait its Retry-After when given, else exponential backoff with jitter."""
    backoff = wait_exponential_jitter(multiplier=0.5, max=max_wait)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(max_wait, max(0.0, error.retry_after))
        return float(backoff(state))

    return Retrying(
        retry=retry_if_exception_type(RetryableError),
        wait=wait,
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_total),
        sleep=sleep,
        reraise=True,
    )


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """How hard one logical call tries: attempts, the longest single wait, and the longest time in all."""

    max_attempts: int
    max_wait: float
    max_total: float


def call_with_retries(
    send: Callable[[], T],
    limits: RetryLimits,
    *,
    sleep: Sleep = time.sleep,
    on_retry: Callable[[], None] | None = None,
    expired: type[Exception] | None = None,
    renew: Callable[[], None] | None = None,
    refused: Callable[[Exception, bool], Exception] | None = None,
) -> T:
    """Send one logical call under the retry policy.

    A RetryableError from ``send`` is retried (``on_retry`` counts each retry). An
    ``expired`` error means the credentials expired: ``renew`` renews them once
    and the call is replayed at once; without ``renew``, or when the renewed
    credentials are refused too, the error (or what ``refused(error, renewed)``
    makes of it) is raised and nothing retries it.
    """
    policy = retrying(limits.max_attempts, limits.max_wait, limits.max_total, sleep=sleep)
    renewed = False
    for attempt in policy:
        with attempt:
            if attempt.retry_state.attempt_number > 1 and on_retry is not None:
                on_retry()
            try:
                return send()
            except Exception as exc:
                if expired is None or not isinstance(exc, expired):
                    raise
                if renewed or renew is None:
                    if refused is None:
                        raise
                    raise refused(exc, renewed) from None
                renew()
                renewed = True
                raise RetryableError("credentials renewed; replaying the call", retry_after=0) from None
    raise AssertionError("unreachable: tenacity reraises")
