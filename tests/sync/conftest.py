"""A HubSpot sandbox on loopback, a store, and a pipeline pointed at them, with a fixed clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.engine import engines, load_model_file
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from leadscore_sandbox.hubspot import HubSpotSandbox, Limits
from leadscore_sandbox.hubspot_seed import NEWSLETTER_CAMPAIGN, seed_hubspot
from tests.conftest import DEFAULT_MODEL, TARGETS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000
FAST = Limits(per_ten_seconds=100_000, search_per_second=100_000)
MAPPING = {"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]}


@dataclass
class Rig:
    sandbox: HubSpotSandbox
    store: SQLStore
    pipeline: Pipeline
    connector: HubSpotConnector

    def writes(self) -> int:
        calls = self.sandbox.log.calls
        return (
            calls["POST /crm/v3/objects/contacts/batch/update"] + calls["PUT /crm/v3/lists/memberships/add-and-remove"]
        )


def portal_state(sandbox: HubSpotSandbox) -> dict[str, Any]:
    """What a salesperson would see: leadscore's properties on each live contact, and each list's members."""
    names = ("leadscore_score", "leadscore_grade", "leadscore_band", "leadscore_label", "leadscore_reasons")
    return {
        "contacts": {c.id: {n: c.properties.get(n) for n in names} for c in sandbox.live_contacts()},
        "lists": {lst.name: sorted(lst.members) for lst in sandbox.lists.values()},
    }


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def build(
        contacts: int = 200, seed: int = 5, limits: Limits = FAST, store_url: str | None = None, **connector: Any
    ) -> Rig:
        sandbox = HubSpotSandbox(limits=limits).start()
        ticks = itertools.count(NOW_MS)
        sandbox.clock_ms = lambda: next(ticks)
        seed_hubspot(sandbox, contacts, seed=seed, now_ms=NOW_MS - DAY_MS)
        store = SQLStore.open(store_url or f"sqlite:///{tmp_path / f'state{len(made)}.db'}")
        hub = HubSpotConnector(
            "hubspot", sandbox.url, "sandbox-token", TARGETS, MAPPING, clock_ms=lambda: NOW_MS, **connector
        )
        pipeline = Pipeline(store, hub, engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW)
        rig = Rig(sandbox, store, pipeline, hub)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        rig.store.close()
        rig.sandbox.stop()
