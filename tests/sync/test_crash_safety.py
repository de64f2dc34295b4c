"""user-pain S5/R8, "the ten to test first" #9: kill -9 anywhere in a cycle, many times, lose nothing; on every
platform."""

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
from tests.conftest import sync_once
from tests.sync.platforms import NOW, PLATFORMS, Platform, shown_everywhere

PEOPLE = 300
KILLS = {"hubspot": 20, "brevo": 12, "salesforce": 12}
PER_ROUND = 10


def started(name: str) -> Platform:
    platform = PLATFORMS[name]()
    platform.seed(PEOPLE, 21)
    platform.sandbox.faults.latency_seconds = 0.005
    return platform


def engage(platform: Platform, state: str, round_number: int) -> None:
    """New high-intent activity for a few people, so that every cycle has writes in flight when it is killed.

    Even rounds are killed after a random number of requests (mostly while reading), odd
    rounds as soon as the first write of the cycle reaches the platform (before its ack).
    """
    store = SQLStore.open(state)
    try:
        for contact_id in platform.contact_ids()[round_number * PER_ROUND : (round_number + 1) * PER_ROUND]:
            platform.high_intent(contact_id, store)
    finally:
        store.close()


def command(platform: Platform, workdir: Path, state: str) -> list[str]:
    sources = workdir / f"sources-{platform.name}-{platform.sandbox.port}.yaml"
    sources.write_text(yaml.safe_dump({"sources": [platform.source()]}), encoding="utf-8")
    return sync_once(sources, state, "--now", NOW.isoformat())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_sigkill_at_random_points_loses_nothing(tmp_path: Path, name: str) -> None:
    kills = KILLS[name]
    clean = started(name)
    clean_state = f"sqlite:///{tmp_path / 'clean.db'}"
    for round_number in range(kills):
        engage(clean, clean_state, round_number)
    subprocess.run(command(clean, tmp_path, clean_state), check=True, capture_output=True, timeout=120)

    crashed = started(name)
    state = f"sqlite:///{tmp_path / 'crashed.db'}"
    sync = command(crashed, tmp_path, state)
    rng = random.Random(3)
    killed_mid_cycle = killed_mid_apply = 0
    for round_number in range(kills):
        engage(crashed, state, round_number)
        process = subprocess.Popen(sync, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_number % 2:
            writes = crashed.write_calls()
            while process.poll() is None and crashed.write_calls() == writes:
                time.sleep(0.001)
        else:
            kill_after = crashed.sandbox.log.total() + rng.randint(1, 8)
            while process.poll() is None and crashed.sandbox.log.total() < kill_after:
                time.sleep(0.002)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_mid_cycle += 1
        process.wait(timeout=30)
        probe = SQLStore.open(state)
        killed_mid_apply += probe.outbox_depth(name) > 0
        probe.close()
    for _ in range(2):
        subprocess.run(sync, check=True, capture_output=True, timeout=120)

    assert killed_mid_cycle >= kills * 3 // 4, "kills must land inside a cycle for this test to mean anything"
    assert killed_mid_apply >= kills // 4, "kills must land between enqueue and acknowledgement"
    assert shown_everywhere(crashed) == shown_everywhere(clean)
    store, reference = SQLStore.open(state), SQLStore.open(clean_state)
    try:
        assert store.count("events", name) == reference.count("events", name)
        ids = clean.contact_ids()
        mine = {k: (v.score, v.band, v.reasons) for k, v in store.visible_scores(name, ids).items()}
        theirs = {k: (v.score, v.band, v.reasons) for k, v in reference.visible_scores(name, ids).items()}
        assert mine == theirs
        assert store.outbox_depth(name) == 0
    finally:
        store.close()
        reference.close()
        clean.sandbox.stop()
        crashed.sandbox.stop()
