"""Brevo's webhooks reach the daemon: authenticated, stored before the answer, counted on the next cycle."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from leadscore_sandbox.brevo import BrevoSandbox
from leadscore_sandbox.brevo_seed import seed_brevo
from tests.daemon.conftest import DaemonProcess, daemon_env
from tests.sync.platforms import BREVO_FAST, DAY_MS, NOW_MS

TOKEN = "whk-0123456789abcdef"


def post(port: int, path: str, body: object, token: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_webhooks_are_authenticated_stored_and_scored_on_the_next_cycle(tmp_path: Path) -> None:
    sandbox = BrevoSandbox(limits=BREVO_FAST).start()
    try:
        seed_brevo(sandbox, 20, seed=2, now_ms=NOW_MS - DAY_MS)
        sources = tmp_path / "sources.yaml"
        source = {
            "name": "brevo",
            "platform": "brevo",
            "base_url": sandbox.api_url,
            "token_env": "BREVO_KEY",
            "webhook_token_env": "BREVO_WEBHOOK_TOKEN",
            "schedule": {"interval_seconds": 2},
            "mapping": {"limits": {"process_poll_seconds": 0}},
        }
        sources.write_text(yaml.safe_dump({"sources": [source]}))
        env = daemon_env(
            tmp_path, sources, f"sqlite:///{tmp_path / 'state.db'}", BREVO_KEY="sandbox-key", BREVO_WEBHOOK_TOKEN=TOKEN
        )
        daemon = DaemonProcess(env, tmp_path / "daemon.log")
        try:
            daemon.wait_for_cycles(1)
            contact = sandbox.contacts[min(sandbox.contacts)]
            event = {"event": "quote_request", "email": contact.email, "ts_event": NOW_MS // 1000}
            assert post(daemon.port, "/webhooks/brevo", event, None)[0] == 401
            assert post(daemon.port, "/webhooks/brevo", event, "wrong")[0] == 401
            assert post(daemon.port, "/webhooks/nosuch", event, TOKEN)[0] == 404
            assert post(daemon.port, "/webhooks/brevo", event, TOKEN) == (200, {"stored": True})
            daemon.wait_for_cycles(3)
            assert "quote request" in str(contact.attributes.get("LEADSCORE_REASONS"))
            assert TOKEN not in daemon.output()
            metrics = daemon.get("/metrics")[1]
            assert 'leadscore_webhooks_total{outcome="stored",source="brevo"} 1.0' in metrics
            assert 'leadscore_webhooks_total{outcome="refused",source="brevo"} 2.0' in metrics
        finally:
            assert daemon.terminate() == 0
    finally:
        sandbox.stop()
