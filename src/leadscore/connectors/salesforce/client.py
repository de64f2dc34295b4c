"""The only module that talks to Salesforce: simple-salesforce over one requests session.

Auth is a session id, or an OAuth refresh token exchanged at the token endpoint.
simple-salesforce re-logs-in by itself only for logins it made; with a session
id it raises ``SalesforceExpiredSession``, so an expired session is refreshed
here once and the call replayed, and a second refusal fails clearly (no retry
storm on bad credentials).

Every answer carries ``Sforce-Limit-Info: api-usage=used/max``. Calls stop with
``BudgetExhaustedError`` when only the configured reserve of the org's daily
budget is left, and ``REQUEST_LIMIT_EXCEEDED`` means the same.

simple-salesforce builds https URLs from the instance host. For a sandbox on
loopback the session gets a transport adapter that sends those requests over
plain HTTP to the same host and port; nothing else changes, and only
``http://127.0.0.1`` or ``http://localhost`` instance URLs get one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)

from leadscore.connectors.http import RetryLimits, Sleep, call_with_retries
from leadscore.connectors.resolution import Action, resolve
from leadscore.connectors.salesforce.mapping import Limits
from leadscore.connectors.salesforce.resolution import TABLE
from leadscore.errors import AuthError, BudgetExhaustedError, ConfigError, PlatformError, RetryableError
from leadscore.protocol import ApiUsage

T = TypeVar("T")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


@dataclass(frozen=True)
class RefreshCredentials:
    """A connected app's refresh-token flow; the session id is fetched and renewed with these."""

    login_url: str
    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True)
class LoginCredentials:
    """A login simple-salesforce makes by itself: the JWT bearer flow (``private_key_file``) or the OAuth
    username-password flow (``password``; Salesforce wants the security token appended to it, and given apart,
    simple-salesforce would switch to the SOAP login)."""

    login_url: str
    username: str
    consumer_key: str
    private_key_file: str | None = None
    consumer_secret: str | None = None
    password: str | None = None
    security_token: str = ""

    @property
    def domain(self) -> str:
        """``https://login.salesforce.com`` -> ``login``; a My Domain keeps its ``name.my``."""
        host = urlsplit(self.login_url).hostname or "login"
        return host.removesuffix(".salesforce.com") if host.endswith(".salesforce.com") else "login"


class TimeoutAdapter(HTTPAdapter):
    """requests has no default timeout and simple-salesforce sets none: one hung call would
    freeze the daemon. Every request gets ``timeout`` unless it brings its own."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


class LoopbackAdapter(TimeoutAdapter):
    """Sends the https requests simple-salesforce builds for a loopback sandbox over plain HTTP."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url is not None and request.url.startswith("https://"):
            request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, *args, **kwargs)


class LoginRedirectAdapter(TimeoutAdapter):
    """simple-salesforce posts logins to ``https://<domain>.salesforce.com``; for a loopback sandbox's
    ``login_url`` this sends them there instead."""

    def __init__(self, timeout: float, target: str) -> None:
        super().__init__(timeout)
        self.target = target.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url is not None:
            parts = urlsplit(request.url)
            request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


class SalesforceApiError(PlatformError):
    """Salesforce refused a call: ``code`` is its errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, message: str, *, code: str, source: str, endpoint: str, status: int | None) -> None:
        self.code = code
        super().__init__(message, source=source, endpoint=endpoint, status=status)


def error_code(exc: SalesforceError) -> tuple[str, str]:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("error", "")), str(content.get("error_description", ""))
    return "", str(content)[:200]


class SalesforceClient:
    def __init__(
        self,
        source: str,
        instance_url: str,
        limits: Limits,
        api_version: str,
        session_id: str | None = None,
        refresh: RefreshCredentials | None = None,
        sleep: Sleep = time.sleep,
        login: LoginCredentials | None = None,
    ) -> None:
        if session_id is None and refresh is None and login is None:
            raise ConfigError(
                f"source '{source}': Salesforce needs a session id (token), a connected app's refresh token "
                "(oauth_client_id, oauth_client_secret, oauth_refresh_token), or a login: username with "
                "oauth_client_id and private_key_file (JWT bearer), or with password and security_token"
            )
        self.source = source
        self.limits = limits
        self.api_version = api_version
        self.refresh = refresh
        self.sleep = sleep
        self.usage = ApiUsage()
        self.instance_url = instance_url.rstrip("/")
        self.session = requests.Session()
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, TimeoutAdapter(limits.request_timeout_seconds))
        self._mount_loopback(self.instance_url)
        if refresh is not None:
            self._mount_loopback(refresh.login_url)
        self.reserve = 0
        self.login = login
        if login is not None:
            self.sf = self._log_in(login)
        elif session_id is not None:
            self.sf = self._connect(session_id)
        else:
            self.sf = self._connect(self._new_session())

    def _log_in(self, login: LoginCredentials) -> Salesforce:
        parts = urlsplit(login.login_url)
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            redirect = LoginRedirectAdapter(self.limits.request_timeout_seconds, login.login_url)
            self.session.mount(f"https://{login.domain}.salesforce.com/", redirect)
            self._mount_loopback(login.login_url)
        self.usage.count_call("POST /services/oauth2/token")
        try:
            if login.private_key_file is not None:
                return Salesforce(
                    username=login.username,
                    consumer_key=login.consumer_key,
                    privatekey_file=login.private_key_file,
                    domain=login.domain,
                    version=self.api_version,
                    session=self.session,
                )
            return Salesforce(
                username=login.username,
                password=(login.password or "") + login.security_token,
                consumer_key=login.consumer_key,
                consumer_secret=login.consumer_secret,
                domain=login.domain,
                version=self.api_version,
                session=self.session,
            )
        except SalesforceAuthenticationFailed as exc:
            raise AuthError(
                f"Salesforce refused the login of source '{self.source}' as {login.username} ({exc.code}: "
                f"{exc.message}); check the username, the connected app's consumer key"
                + (" and the certificate it holds" if login.private_key_file else ", secret, password and token"),
                source=self.source,
            ) from None

    def _mount_loopback(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            self.session.mount(f"https://{parts.netloc}/", LoopbackAdapter(self.limits.request_timeout_seconds))

    def _new_session(self) -> str:
        assert self.refresh is not None
        refresh = self.refresh
        self.usage.count_call("POST /services/oauth2/token")
        try:
            response = self.session.post(
                refresh.login_url.rstrip("/") + "/services/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": refresh.client_id,
                    "client_secret": refresh.client_secret,
                    "refresh_token": refresh.refresh_token,
                },
                timeout=self.limits.request_timeout_seconds,
            )
        except requests.RequestException as exc:
            raise RetryableError(f"Salesforce token endpoint: {exc}", source=self.source) from None
        if response.status_code >= 500:
            raise RetryableError(f"Salesforce token endpoint: {response.status_code}", source=self.source)
        body = response.json() if response.content else {}
        if response.status_code != 200 or "access_token" not in body:
            raise AuthError(
                f"Salesforce refused the refresh token for source '{self.source}' ({body.get('error')}: "
                f"{body.get('error_description')}); re-authorize the connected app and update oauth_refresh_token",
                source=self.source,
                status=response.status_code,
            )
        self.instance_url = str(body.get("instance_url") or self.instance_url).rstrip("/")
        self._mount_loopback(self.instance_url)
        return str(body["access_token"])

    def _connect(self, session_id: str) -> Salesforce:
        return Salesforce(
            instance_url=self.instance_url, session_id=session_id, version=self.api_version, session=self.session
        )

    def call(self, endpoint: str, action: Callable[[Salesforce], T]) -> T:
        """One logical request through simple-salesforce, retried when safe, renewed once when expired."""
        limits = self.limits

        def refused(_: Exception, renewed: bool) -> Exception:
            return AuthError(
                f"Salesforce session of source '{self.source}' expired or is invalid, and "
                + ("a renewed one was refused too" if renewed else "no refresh token is configured")
                + "; configure a refresh token or a login (see README, Salesforce)",
                source=self.source,
                endpoint=endpoint,
                status=401,
            )

        return call_with_retries(
            lambda: self._once(endpoint, action),
            RetryLimits(limits.max_attempts, limits.max_wait_seconds, limits.max_retry_seconds),
            sleep=self.sleep,
            on_retry=self._count_retry,
            expired=SalesforceExpiredSession,
            renew=self._renew_session if (self.refresh is not None or self.login is not None) else None,
            refused=refused,
        )

    def _renew_session(self) -> None:
        self.sf = self._log_in(self.login) if self.login else self._connect(self._new_session())

    def _count_retry(self) -> None:
        self.usage.count_retry()

    def _once(self, endpoint: str, action: Callable[[Salesforce], T]) -> T:
        remaining = self.usage.daily_remaining
        if remaining is not None and remaining <= self.reserve:
            raise BudgetExhaustedError(
                f"Salesforce daily API budget down to {remaining} calls, the {self.reserve} kept free for other "
                "integrations (limits.daily_reserve_share); the source waits until the 24-hour window frees calls",
                source=self.source,
                endpoint=endpoint,
            )
        self.usage.count_call(endpoint)
        try:
            result = action(self.sf)
        except SalesforceExpiredSession:
            raise
        except SalesforceError as exc:
            code, message = error_code(exc)
            if exc.status == 403:
                self._observe()
            resolution = resolve(TABLE, exc.status, code, endpoint).action
            if resolution is Action.PAUSE:
                raise BudgetExhaustedError(
                    f"Salesforce: {message} ({code}); the source waits until the 24-hour window frees calls",
                    source=self.source,
                    endpoint=endpoint,
                    status=exc.status,
                ) from None
            if resolution is Action.RETRY:
                raise RetryableError(
                    f"Salesforce {endpoint}: {exc.status} {code}", source=self.source, endpoint=endpoint
                ) from None
            shown = f"{code}: {message}" if exc.status in (400, 403) else f"{exc.status} {code}: {message}"
            raise SalesforceApiError(
                f"Salesforce {endpoint}: {shown}",
                code=code,
                source=self.source,
                endpoint=endpoint,
                status=exc.status,
            ) from None
        except requests.RequestException as exc:
            raise RetryableError(f"Salesforce {endpoint}: {type(exc).__name__}", source=self.source) from None
        self._observe()
        return result

    def _observe(self) -> None:
        """simple-salesforce parses Sforce-Limit-Info into ``api_usage``; keep what is left and the reserve."""
        usage = getattr(self.sf, "api_usage", {}).get("api-usage")
        if usage is None:
            return
        self.usage.daily_remaining = max(0, usage.total - usage.used)
        self.reserve = int(usage.total * self.limits.daily_reserve_share)

    def raw(self, method: str, path: str, endpoint: str, body: str | None = None) -> requests.Response:
        """A call simple-salesforce has no helper for (CSV upload and results of Bulk API 2.0 jobs)."""

        def send(sf: Salesforce) -> requests.Response:
            headers = dict(sf.headers)
            if body is not None:
                headers["Content-Type"] = "text/csv"
            response = sf.session.request(
                method, sf.base_url + path, headers=headers, data=body, timeout=self.limits.request_timeout_seconds
            )
            if response.status_code == 401:
                raise SalesforceExpiredSession(sf.base_url + path, 401, path, response.content)
            if response.status_code >= 500:
                raise SalesforceError(sf.base_url + path, response.status_code, path, response.content)
            return response

        return self.call(endpoint, send)

    def close(self) -> None:
        self.session.close()
