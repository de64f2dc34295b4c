"""issue 13, low items, on the daemon's HTTP face (Starlette on uvicorn): a webhook's token is checked before its
body is read; a Content-Length that is not a number gets 400; a body over the limit gets 413 whatever its
Content-Length said; nothing a client sent is echoed in a 404."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadscore.web import HttpServer, create_app
from leadscore.web.app import MAX_WEBHOOK_BYTES

TOKEN = "hook-token"


class FakeDaemon:
    def __init__(self) -> None:
        self.stored: list[bytes] = []

    def alive(self) -> bool:
        return True

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return True, {"store": "ok"}

    def metrics_text(self) -> bytes:
        return b"# metrics\n"

    def webhook_refusal(self, name: str, authorization: str) -> tuple[int, dict[str, Any]] | None:
        if name != "brevo":
            return 404, {"error": "no source by that name receives webhooks"}
        return None if authorization == f"Bearer {TOKEN}" else (401, {"error": "missing or wrong bearer token"})

    def store_webhook(self, name: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.stored.append(raw)
        return 200, {"stored": True}


@pytest.fixture
def served() -> Iterator[tuple[FakeDaemon, int]]:
    daemon = FakeDaemon()
    server = HttpServer(create_app(daemon), "127.0.0.1", 0)
    port = server.start()
    try:
        yield daemon, port
    finally:
        server.stop()


def raw_request(port: int, head: str, body: bytes = b"") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        return sock.recv(65536).decode(errors="replace")


def test_a_wrong_token_is_refused_before_the_body_is_sent(served: tuple[FakeDaemon, int]) -> None:
    daemon, port = served
    answer = raw_request(
        port,
        "POST /webhooks/brevo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 9000000",
    )
    assert answer.startswith("HTTP/1.1 401"), answer[:80]
    assert daemon.stored == []


def test_a_content_length_that_is_not_a_number_gets_400(served: tuple[FakeDaemon, int]) -> None:
    _, port = served
    answer = raw_request(
        port, f"POST /webhooks/brevo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: abc"
    )
    assert answer.startswith("HTTP/1.1 400"), answer[:80]


def test_a_body_over_the_limit_gets_413_even_when_chunked(served: tuple[FakeDaemon, int]) -> None:
    daemon, port = served

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_WEBHOOK_BYTES // 65536 + 2):
            yield b"x" * 65536

    answer = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/brevo",
        content=chunks(),
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert daemon.stored == []
    declared = raw_request(
        port,
        f"POST /webhooks/brevo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {MAX_WEBHOOK_BYTES + 1}",
    )
    assert declared.startswith("HTTP/1.1 413"), "refused from its Content-Length, before the body is read"


def test_a_404_echoes_nothing_the_client_sent(served: tuple[FakeDaemon, int]) -> None:
    _, port = served
    secret = "tok-3f9a1c"
    for path in (f"/nothing?token={secret}", f"/webhooks/{secret}"):
        answer = httpx.post(f"http://127.0.0.1:{port}{path}", content=b"{}", headers={"authorization": "Bearer x"})
        assert answer.status_code == 404
        assert secret not in answer.text


def test_a_stored_webhook_answers_200_and_keeps_the_body(served: tuple[FakeDaemon, int]) -> None:
    daemon, port = served
    answer = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/brevo",
        content=b'{"event": "click"}',
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"stored": True}
    assert daemon.stored == [b'{"event": "click"}']


def test_a_body_that_trickles_in_gets_408_and_the_daemon_keeps_answering() -> None:
    """A client that sends its headers and then its body a byte at a time (or never) holds no connection for
    long: it gets 408 once the body's time is up, and other requests are answered meanwhile."""
    daemon = FakeDaemon()
    server = HttpServer(create_app(daemon, body_seconds=0.5), "127.0.0.1", 0)
    port = server.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(
                f"POST /webhooks/brevo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Length: 100\r\n\r\n{".encode()
            )
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            received = b""
            while chunk := slow.recv(65536):
                received += chunk
            answer = received.decode(errors="replace")
        assert answer.startswith("HTTP/1.1 408"), answer[:80]
        assert "did not arrive within 0.5 s" in answer
        assert daemon.stored == []
    finally:
        server.stop()
