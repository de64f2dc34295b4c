"""user-pain S5/R8, "the ten to test first" #9: kill -9 anywhere in a cycle, twenty times, lose nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from leadscore.store import SQLStore
from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot_seed import NEWSLETTER_CAMPAIGN, seed_hubspot
from tests.conftest import sync_once
from tests.sync.conftest import DAY_MS, FAST, NOW, NOW_MS, portal_state

CONTACTS = 400
KILLS = 20


def sandbox() -> HubSpotSandbox:
    server = HubSpotSandbox(limits=FAST).start()
    seed_hubspot(server, CONTACTS, seed=21, now_ms=NOW_MS - DAY_MS)
    server.faults.latency_seconds = 0.005
    return server


def writes_seen(server: HubSpotSandbox) -> int:
    calls = server.log.calls
    return calls["POST /crm/v3/objects/contacts/batch/update"] + calls["PUT /crm/v3/lists/memberships/add-and-remove"]


def add_engagement(server: HubSpotSandbox, round_number: int) -> None:
    """New activity for a few contacts, so that every cycle has writes in flight when it is killed.

    Even rounds are killed after a random number of requests (mostly while reading), odd
    rounds as soon as the first write of the cycle reaches the platform (before its ack).
    """
    for contact_id in range(round_number * 15 + 1, round_number * 15 + 16):
        server.add_web_event(contact_id, "e_submitted_form", NOW_MS - 3_600_000, hs_form_id=f"demo-{round_number}")


def sync_command(server: HubSpotSandbox, workdir: Path, state: str) -> list[str]:
    sources = workdir / f"sources-{server.port}.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "hubspot",
                        "platform": "hubspot",
                        "base_url": server.url,
                        "token": "sandbox-token",
                        "mapping": {"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return sync_once(sources, state, "--now", NOW.isoformat())


@pytest.mark.slow
def test_sigkill_at_random_points_twenty_times_loses_nothing(tmp_path: Path) -> None:
    clean = sandbox()
    for round_number in range(KILLS):
        add_engagement(clean, round_number)
    clean_state = f"sqlite:///{tmp_path / 'clean.db'}"
    subprocess.run(sync_command(clean, tmp_path, clean_state), check=True, capture_output=True, timeout=120)

    crashed = sandbox()
    state = f"sqlite:///{tmp_path / 'crashed.db'}"
    command = sync_command(crashed, tmp_path, state)
    rng = random.Random(3)
    killed_mid_cycle = killed_mid_apply = 0
    for round_number in range(KILLS):
        add_engagement(crashed, round_number)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_number % 2:
            writes = writes_seen(crashed)
            while process.poll() is None and writes_seen(crashed) == writes:
                time.sleep(0.001)
        else:
            kill_after = crashed.log.total() + rng.randint(1, 10)
            while process.poll() is None and crashed.log.total() < kill_after:
                time.sleep(0.002)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_mid_cycle += 1
        process.wait(timeout=30)
        probe = SQLStore.open(state)
        killed_mid_apply += probe.outbox_depth("hubspot") > 0
        probe.close()
    for _ in range(2):
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    assert killed_mid_cycle >= KILLS * 3 // 4, "kills must land inside a cycle for this test to mean anything"
    assert killed_mid_apply >= KILLS // 4, "kills must land between enqueue and acknowledgement"
    assert portal_state(crashed) == portal_state(clean)
    store, reference = SQLStore.open(state), SQLStore.open(clean_state)
    try:
        assert store.count("events", "hubspot") == reference.count("events", "hubspot")
        ids = [str(c.id) for c in clean.live_contacts()]
        mine = {k: (v.score, v.band, v.reasons) for k, v in store.stored_scores("hubspot", ids).items()}
        theirs = {k: (v.score, v.band, v.reasons) for k, v in reference.stored_scores("hubspot", ids).items()}
        assert mine == theirs
        assert store.outbox_depth("hubspot") == 0
    finally:
        store.close()
        reference.close()
        clean.stop()
        crashed.stop()
