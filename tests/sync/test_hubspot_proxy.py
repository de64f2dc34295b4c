"""issue 14: HubSpot honours HTTP(S)_PROXY and NO_PROXY, as the other platforms' clients (httpx, requests) do;
hubspot-api-client's urllib3 pool reads no environment, so every call went around the proxy."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from leadscore.connectors.hubspot.client import proxy_for
from leadscore.connectors.hubspot.connector import HubSpotConnector
from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot_seed import seed_hubspot
from tests.conftest import TARGETS


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """A plain HTTP forward proxy: requests arrive in absolute form and are sent on with httpx (which must not
    read the proxy variables itself, or it would send them back here)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.seen: Counter[str] = Counter()


class _Forward(http.server.BaseHTTPRequestHandler):
    server: ForwardingProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen[f"{self.command} {httpx.URL(self.path).path}"] += 1
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
        with httpx.Client(trust_env=False, timeout=30) as direct:
            answer = direct.request(self.command, self.path, headers=headers, content=body)
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("transfer-encoding", "connection", "content-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_cycle_goes_through_the_proxy_the_environment_names(
    proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = HubSpotSandbox().start()
    seed_hubspot(sandbox, 20, seed=2)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    connector = HubSpotConnector("hubspot", sandbox.url, "sandbox-token", TARGETS)
    try:
        connector.ensure_targets()
        pages = list(connector.read_contacts(None))
        assert sum(len(page.contacts) for page in pages) == 20
        assert proxy.seen["GET /crm/v3/properties/contacts"] == 1
        assert proxy.seen["GET /crm/v3/objects/contacts"] >= 1
        assert sum(proxy.seen.values()) == sandbox.log.total(), "every call went through the proxy"
    finally:
        connector.close()
        sandbox.stop()


def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.hubapi.com")
    assert proxy_for("https://api.hubapi.com") is None
    monkeypatch.setenv("NO_PROXY", "")
    assert proxy_for("https://api.hubapi.com") == "http://proxy.internal:3128"
