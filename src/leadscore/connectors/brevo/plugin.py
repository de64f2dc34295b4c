"""Brevo as a leadscore platform: its source settings, connector, sandbox and demo mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from leadscore.platforms import Platform, Sandbox, Sleep
from leadscore.protocol import Connector, WriteCost, WriteTargets, WriteWork
from leadscore.sources import SourceSettings

PUBLIC_API = "https://api.brevo.com/v3"


class BrevoSource(SourceSettings):
    """An account, reached with a v3 API key; its webhooks present ``webhook_token``."""


def connect(source: BrevoSource, targets: WriteTargets, sleep: Sleep) -> Connector:
    from leadscore.connectors.brevo.connector import BrevoConnector

    return BrevoConnector(
        source.name, source.base_url or PUBLIC_API, source.resolved_token(), targets, source.mapping, sleep
    )


def sandbox(port: int, contacts: int, seed: int) -> Sandbox:
    from leadscore_sandbox.brevo import BrevoSandbox, Limits
    from leadscore_sandbox.brevo_seed import seed_brevo
    from leadscore_sandbox.people import Overlap

    server = BrevoSandbox(port=port, limits=Limits(process_polls_until_done=0))
    seed_brevo(server, contacts, seed=seed, people=Overlap(contacts // 2))
    return Sandbox(server, server.api_url, "sandbox-key")


def profile_fields(overrides: Mapping[str, Any]) -> Mapping[str, frozenset[str]]:
    from leadscore.connectors.brevo.mapping import BrevoMapping
    from leadscore.connectors.mapping import load_mapping

    mapped = load_mapping("brevo", BrevoMapping, dict(overrides)).profile
    return {"": frozenset(mapped) | {"email", "created_at"}}


def write_cost(overrides: Mapping[str, Any], work: WriteWork) -> WriteCost:
    """Batch updates of 100; list moves of 150 per call and list; at the contacts group's per-second limit."""
    from leadscore.connectors.brevo.mapping import BrevoMapping
    from leadscore.connectors.mapping import load_mapping

    limits = load_mapping("brevo", BrevoMapping, dict(overrides)).limits
    moves = [*work.list_adds.values(), *work.list_removes.values()]
    calls = math.ceil(work.properties / limits.batch_update) + sum(math.ceil(n / limits.list_members) for n in moves)
    seconds = max(calls / limits.contacts_per_second, 3600.0 * (calls // limits.contacts_per_hour))
    note = f"at {limits.contacts_per_second} contact calls per second; large list moves go by import, in fewer calls"
    return WriteCost(calls, seconds, note)


PLATFORM = Platform(
    name="brevo",
    title="Brevo",
    settings=BrevoSource,
    connect=connect,
    sandbox=sandbox,
    profile_fields=profile_fields,
    write_cost=write_cost,
    mapping_file="brevo.yaml",
    demo_mapping={"limits": {"process_poll_seconds": 0.05}},
)
