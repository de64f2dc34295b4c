"""A small threaded HTTP server with routing, request recording and fault knobs.

Every platform sandbox builds on this: it owns the socket and the chaos, the
platform module owns the API's behaviour. Standard library only, so that the
sandbox needs nothing beyond Python and never imports leadscore.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (the crash tests do this on purpose) is not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class Faults:
    """Chaos to inject, per request, from a seeded random source so that runs repeat."""

    rate_429: float = 0.0
    retry_after_seconds: float | None = 1.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_html: float = 0.0
    """Share of answers that are a 200 with an HTML page, as a proxy or an outage page sends them."""
    latency_seconds: float = 0.0
    seed: int = 0
    exempt: tuple[str, ...] = ()
    lose_next: set[str] = field(default_factory=set)
    """Routes whose next answer is lost after the work is done (the client sees a 502): an ambiguous write."""
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def roll(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    params: dict[str, str]

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: Any = None
    """JSON-able data, or bytes sent as they are (a CSV export file)."""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]
Tap = Callable[[Request, Response, bool], None]
"""Sees each exchange after it is answered: the request, the answer, and whether the answer was injected chaos."""


@dataclass
class RequestLog:
    """What the sandbox saw: counts per endpoint and status, for tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    entries: list[tuple[float, str, int]] = field(default_factory=list)
    early_retries: int = 0
    html_pages: int = 0
    """Answers replaced by an injected HTML page (``Faults.rate_html``)."""
    in_flight: Counter[str] = field(default_factory=Counter)
    most_in_flight: Counter[str] = field(default_factory=Counter)
    """Per endpoint, the most requests it was answering at one moment (latency included)."""

    def count(self, endpoint: str) -> int:
        return self.calls[endpoint]

    def total(self, prefix: str = "") -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(prefix))


class SandboxServer:
    """Routes requests to handlers and wraps them in faults, rate limits and a log."""

    sends_retry_after = True
    """Whether the platform puts Retry-After on a 429 (HubSpot does; Brevo and Salesforce do not)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.taps: list[Tap] = []
        """Observers of every exchange, a test's spec validator for one; they run outside the sandbox's lock."""
        self.faults = Faults()
        self.log = RequestLog()
        self.lock = threading.RLock()
        self.blocked_until = 0.0
        self.blocked_request: tuple[str, str, str] | None = None
        """The request a Retry-After was answered to: sending it again before ``blocked_until`` is an early retry
        (another request a concurrent client had in flight is not)."""
        self._httpd = _QuietServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def route(self, method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
        """Register a handler; ``{param}`` in the pattern captures one path segment."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method, regex, name, handler))
            return handler

        return register

    def endpoints(self) -> list[str]:
        """``METHOD name`` of every route served, each once (aliases of one endpoint share its name)."""
        return sorted({f"{method} {name}" for method, _, name, _ in self._routes})

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving (if started) and free the port; shutdown() would wait forever on a server never started."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()

    def before(self, request: Request, endpoint: str) -> Response | None:
        """Hook for platform rate limits; return a response to short-circuit the handler."""
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> None:
        """Hook for platform headers added to every response."""

    def injected_429(self) -> Response:
        return Response(429, {"message": "rate limited"})

    def injected_5xx(self) -> Response:
        return Response(502, {"message": "bad gateway"})

    def not_found(self) -> Response:
        return Response(404, {"message": "not found"})

    def settle(self, method: str, path: str) -> None:
        """Hook, called before a request takes the sandbox's lock: wait for work the platform finishes after
        answering that this request must see."""

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> Response | None:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        self.settle(method, path)
        for route_method, regex, name, handler in self._routes:
            match = regex.match(path)
            if route_method != method or match is None:
                continue
            request = Request(method, path, parse_qs(parts.query), headers, body, match.groupdict())
            endpoint = f"{method} {name}"
            with self.lock:
                self.log.in_flight[endpoint] += 1
                self.log.most_in_flight[endpoint] = max(self.log.most_in_flight[endpoint], self.log.in_flight[endpoint])
            try:
                return self._answer(request, raw_path, endpoint, name, handler)
            finally:
                with self.lock:
                    self.log.in_flight[endpoint] -= 1
        with self.lock:
            self.log.calls[f"{method} (unrouted) {path}"] += 1
        response = self.not_found()
        for tap in self.taps:
            tap(Request(method, path, parse_qs(parts.query), headers, body, {}), response, False)
        return response

    def _answer(self, request: Request, raw_path: str, endpoint: str, name: str, handler: Handler) -> Response | None:
        """One routed request through faults, rate limits, the handler, the log, the taps and the latency."""
        injected = True
        with self.lock:
            now = time.monotonic()
            sent = (request.method, raw_path, repr(request.body))
            if now < self.blocked_until and sent == self.blocked_request:
                self.log.early_retries += 1
            self.log.calls[endpoint] += 1
            exempt = name in self.faults.exempt
            if not exempt and self.faults.roll(self.faults.rate_drop):
                self.log.entries.append((now, endpoint, 0))
                return None
            if not exempt and self.faults.roll(self.faults.rate_429):
                response = self.injected_429()
                if self.faults.retry_after_seconds is not None and self.sends_retry_after:
                    response.headers["Retry-After"] = f"{self.faults.retry_after_seconds:g}"
                    self.blocked_until = now + self.faults.retry_after_seconds
                    self.blocked_request = sent
            elif not exempt and self.faults.roll(self.faults.rate_5xx):
                response = self.injected_5xx()
            elif not exempt and self.faults.roll(self.faults.rate_html):
                page = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
                response = Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
                self.log.html_pages += 1
            else:
                limited = self.before(request, name)
                response = limited if limited is not None else handler(request)
                injected = False
                if name in self.faults.lose_next and limited is None:
                    self.faults.lose_next.discard(name)
                    response = self.injected_5xx()
                    injected = True
            self.after(request, name, response)
            self.log.statuses[response.status] += 1
            self.log.entries.append((now, endpoint, response.status))
        for tap in self.taps:
            tap(request, response, injected)
        if self.faults.latency_seconds:
            time.sleep(self.faults.latency_seconds)
        return response

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for the client's
            # delayed ACK of the headers, about 40 ms per request on Linux loopback.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                body: Any = None
                if raw:
                    if "json" in content_type or raw[:1] in (b"{", b"["):
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            body = raw.decode("utf-8", "replace")
                    elif "x-www-form-urlencoded" in content_type:
                        body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    else:
                        body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                response = server.dispatch(self.command, self.path, headers, body)
                if response is None:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(response.body, bytes):
                    payload, content_type = response.body, "text/csv;charset=utf-8"
                else:
                    payload = b"" if response.body is None else json.dumps(response.body).encode()
                    content_type = "application/json;charset=utf-8"
                self.send_response(response.status)
                self.send_header("Content-Type", response.headers.pop("Content-Type", content_type))
                self.send_header("Content-Length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return _Handler
