"""The only module that talks to Brevo: httpx, paced per rate-limit group, one retry policy.

Brevo limits each endpoint group separately (connectors/brevo.md, "Limits"): ``/contacts/*`` per
second and per hour, ``/smtp/*`` and everything else per hour. Calls are paced
before sending; every response's ``x-sib-ratelimit-*`` headers are read, and a
group whose remaining count reaches zero waits out its ``reset`` before the next
call. A 429 carries no Retry-After, so its ``x-sib-ratelimit-reset`` is the wait
. 5xx and dropped connections are retried for idempotent calls;
POSTs that create something are retried only where a repeat is harmless.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import httpx

from leadscore.connectors.brevo.mapping import Limits
from leadscore.connectors.brevo.resolution import TABLE
from leadscore.connectors.http import CallBudget, RetryLimits, Sleep, Window, call_with_retries
from leadscore.connectors.resolution import Action, resolve
from leadscore.errors import AuthError, BudgetExhaustedError, PlatformError, RateLimitedError, RetryableError
from leadscore.protocol import ApiUsage

CONTACTS, SMTP, OTHER = "contacts", "smtp", "other"
PACE_MARGIN_SECONDS = 0.05
PER_SECOND_WINDOW = 1.0 + PACE_MARGIN_SECONDS
"""The contacts group's per-second window as paced, with a margin, both when set up and when learned from Brevo's
headers."""


class BrevoApiError(PlatformError):
    """Brevo refused a call with its ``{"code", "message"}`` body; ``code`` says why."""

    def __init__(self, message: str, *, code: str, source: str, endpoint: str, status: int) -> None:
        self.code = code
        super().__init__(message, source=source, endpoint=endpoint, status=status)


@functools.cache
def trust_store() -> ssl.SSLContext:
    """httpx's own default TLS context (its CA bundle, or SSL_CERT_FILE), loaded once per process (loading it takes
    50 ms) and shared by every client."""
    return httpx.create_ssl_context()


def group_of(path: str) -> str:
    if path.startswith("/contacts"):
        return CONTACTS
    if path.startswith("/smtp"):
        return SMTP
    return OTHER


@dataclass(frozen=True, slots=True)
class EncodedJson:
    """A request body serialized already: an import's rows are turned into JSON one by one as they are read from
    disk, so tens of thousands of them are never held as objects at once."""

    data: bytes


class BrevoClient:
    def __init__(self, source: str, base_url: str, api_key: str, limits: Limits, sleep: Sleep = time.sleep) -> None:
        self.source = source
        self.limits = limits
        self.sleep = sleep
        trust = trust_store()
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"api-key": api_key, "accept": "application/json"},
            timeout=limits.request_timeout_seconds,
            verify=trust,
        )
        self.downloads = httpx.Client(timeout=limits.request_timeout_seconds, verify=trust)
        """Export files are links outside the API, fetched without the key: one client for all of them."""
        self.budget = CallBudget(
            {
                "contacts_second": Window(limits.contacts_per_second, PER_SECOND_WINDOW),
                "contacts_hour": Window(limits.contacts_per_hour, 3600.0),
                SMTP: Window(limits.smtp_per_hour, 3600.0),
                OTHER: Window(limits.other_per_hour, 3600.0),
            },
            sleep=sleep,
        )
        self.usage = ApiUsage()

    def has_room(self, group: str) -> bool:
        """Whether a call in ``group`` could go now without waiting (used to defer hourly-limited work)."""
        return all(self.budget.next_free_in(name) == 0 for name in _windows(group))

    def _pace(self, group: str, endpoint: str) -> list[tuple[str, float]]:
        """Wait for room in each of the group's windows, but never longer than ``max_retry_seconds``: a budget
        another integration spent (Brevo's headers then say to wait until the hourly reset) pauses the cycle, and
        a later cycle resumes where this one stopped. Returns (window, moment counted) for ``answered``."""
        counted = []
        for name in _windows(group):
            wait = self.budget.next_free_in(name)
            if wait > self.limits.max_retry_seconds:
                raise self._spent(name, wait, endpoint)
            counted.append((name, self.budget.acquire(name)))
        return counted

    def _spent(self, window: str, wait: float, endpoint: str) -> BudgetExhaustedError:
        return BudgetExhaustedError(
            f"Brevo {endpoint}: the {window.replace('_', ' per ')} budget has no calls left for {wait:.0f} s "
            f"(more than max_retry_seconds, {self.limits.max_retry_seconds:g} s; another integration may be "
            "using it); what needs it waits, and a later cycle carries on",
            source=self.source,
            endpoint=endpoint,
        )

    def call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One logical request; returns the response of status < 400 or 404/400/207 for the caller to read."""
        return call_with_retries(
            lambda: self._once(method, path, endpoint, params, body),
            self._retry_limits(retry),
            sleep=self.sleep,
            on_retry=self._count_retry,
        )

    def _retry_limits(self, retry: bool = True) -> RetryLimits:
        limits = self.limits
        return RetryLimits(limits.max_attempts if retry else 1, limits.max_wait_seconds, limits.max_retry_seconds)

    def _count_retry(self) -> None:
        self.usage.count_retry()

    def _once(
        self, method: str, path: str, endpoint: str, params: Mapping[str, Any] | None, body: Any
    ) -> httpx.Response:
        group = group_of(path)
        counted = self._pace(group, endpoint)
        self.usage.count_call(endpoint)
        try:
            if isinstance(body, EncodedJson):
                headers = {"Content-Type": "application/json"}
                response = self.http.request(method, path, params=params, content=body.data, headers=headers)
            else:
                response = self.http.request(method, path, params=params, json=body)
        except httpx.TransportError as exc:
            raise RetryableError(
                f"Brevo {endpoint}: {type(exc).__name__}: {exc}", source=self.source, endpoint=endpoint
            ) from None
        finally:
            for name, sent_at in counted:
                self.budget.answered(name, sent_at)
        reset = self._observe(group, response.headers)
        status = response.status_code
        if status < 400:
            return _json_checked(response, endpoint, self.source)
        code, message = error_fields(response)
        action = resolve(TABLE, status, code, endpoint).action
        if action is Action.WAIT:
            self.usage.count_rate_limited()
            if reset is not None and reset > self.limits.max_retry_seconds:
                raise self._spent(_windows(group)[-1], reset, endpoint)
            raise RateLimitedError(
                f"Brevo {endpoint}: 429 rate limited",
                retry_after=reset or 1.0,
                source=self.source,
                endpoint=endpoint,
                status=status,
            )
        if action is Action.RETRY:
            raise RetryableError(f"Brevo {endpoint}: {status}", source=self.source, endpoint=endpoint, status=status)
        if action is Action.CREDENTIALS:
            raise AuthError(
                f"Brevo refused the API key for source '{self.source}' ({status} {code}: {message}); create a v3 "
                "API key under SMTP & API > API keys and set it as the source's token",
                source=self.source,
                endpoint=endpoint,
                status=status,
            )
        return response

    def _observe(self, group: str, headers: httpx.Headers) -> float | None:
        """Read Brevo's rate-limit headers; when none are left, hold the group until the window resets.

        The reset counts in seconds (whole ones, rounded up, in the sandbox), so a per-second window Brevo calls
        spent resets "in 1 s" however soon it has room. There the client's own record of what it sent is the
        better clock: calls Brevo counted and this client did not send are added as sent now, and the group waits
        until the window has room.
        """
        reset_text = headers.get("x-sib-ratelimit-reset")
        remaining_text = headers.get("x-sib-ratelimit-remaining")
        limit_text = headers.get("x-sib-ratelimit-limit")
        try:
            reset = float(reset_text) if reset_text is not None else None
            remaining = int(remaining_text) if remaining_text is not None else None
            limit = int(limit_text) if limit_text is not None else None
        except ValueError:
            return None
        if remaining is None or remaining > 0 or reset is None:
            return reset
        window = _windows(group)[0]
        if group == CONTACTS and limit is not None and reset <= 1:
            self.budget.learn(window, limit, PER_SECOND_WINDOW, remaining)
        else:
            self.budget.hold(window, reset)
        return reset

    def raise_for(self, response: httpx.Response, endpoint: str) -> None:
        """Turn a 4xx Brevo answer the caller did not expect into an error naming the code and message."""
        if response.status_code < 400:
            return
        code, message = error_fields(response)
        raise BrevoApiError(
            f"Brevo {endpoint}: {response.status_code} {code}: {message}",
            code=code,
            source=self.source,
            endpoint=endpoint,
            status=response.status_code,
        )

    def download(self, url: str) -> IO[str]:
        """An export file: a link outside the API and its rate limits, fetched without the API key. It streams to a
        temporary file, so a campaign sent to a million people is never held in memory; the caller closes it."""

        def fetch() -> IO[str]:
            with contextlib.ExitStack() as on_failure:
                spooled = on_failure.enter_context(tempfile.TemporaryFile())
                try:
                    with self.downloads.stream("GET", url) as response:
                        if response.status_code == 429 or response.status_code >= 500:
                            raise RetryableError(f"Brevo export download: {response.status_code}", source=self.source)
                        if response.status_code >= 400:
                            response.read()
                            self.raise_for(response, "export download")
                        for chunk in response.iter_bytes():
                            spooled.write(chunk)
                        encoding = response.encoding or "utf-8"
                except httpx.TransportError as exc:
                    raise RetryableError(f"Brevo export download: {exc}", source=self.source) from None
                spooled.seek(0)
                on_failure.pop_all()
            return io.TextIOWrapper(spooled, encoding=encoding, newline="")

        return call_with_retries(fetch, self._retry_limits(), sleep=self.sleep)

    def close(self) -> None:
        self.http.close()
        self.downloads.close()


def _windows(group: str) -> tuple[str, ...]:
    """The call budget's windows a group's calls count against."""
    return ("contacts_second", "contacts_hour") if group == CONTACTS else (group,)


def error_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, dict):
        return str(body.get("code", "")), str(body.get("message", ""))
    return "", str(body)[:200]


def _json_checked(response: httpx.Response, endpoint: str, source: str) -> httpx.Response:
    """A success answer whose body is not the JSON it should be (a proxy's or an outage page's HTML) is retryable."""
    if not response.content:
        return response
    try:
        response.json()
    except ValueError:
        raise RetryableError(
            f"Brevo {endpoint}: answered {response.status_code} with a body that is not JSON "
            f"({response.text[:40]!r}...), as a proxy or an outage page sends; retried, and the cycle fails if it "
            "goes on",
            source=source,
            endpoint=endpoint,
        ) from None
    return response
