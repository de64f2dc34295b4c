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

    server = BrevoSandbox(port=port, limits=Limits(process_polls_until_done=0, imports_after_answer=True))
    seed_brevo(server, contacts, seed=seed, people=Overlap(contacts // 2))
    return Sandbox(server, server.api_url, "sandbox-key")


def profile_fields(overrides: Mapping[str, Any]) -> Mapping[str, frozenset[str]]:
    from leadscore.connectors.brevo.mapping import BrevoMapping
    from leadscore.connectors.mapping import load_mapping

    mapped = load_mapping("brevo", BrevoMapping, dict(overrides)).profile
    return {"": frozenset(mapped) | {"email", "created_at"}}


def write_cost(overrides: Mapping[str, Any], work: WriteWork) -> WriteCost:
    """What the connector sends, at the contacts group's per-second limit: batch updates of 100 records, each
    carrying its record's list moves; list calls of 150 for the moves of records whose properties stay; and, once
    ``import_threshold`` records move into a list along with their update, an import per list of up to
    ``import_rows`` of them instead, their removals from other lists following as list calls."""
    from leadscore.connectors.brevo.mapping import BrevoMapping
    from leadscore.connectors.mapping import load_mapping

    limits = load_mapping("brevo", BrevoMapping, dict(overrides)).limits

    def list_calls(moves: Mapping[str, int], size: int) -> int:
        return sum(math.ceil(n / size) for n in moves.values() if n > 0)

    riding = {key: n - work.lone_adds.get(key, 0) for key, n in work.list_adds.items()}
    imported = sum(riding.values()) if work.entering_with_update is None else work.entering_with_update
    if imported >= limits.import_threshold:
        updates = math.ceil(max(0, work.properties - imported) / limits.batch_update)
        calls = updates + list_calls(riding, limits.import_rows) + list_calls(work.list_removes, limits.list_members)
        calls += list_calls(work.lone_adds, limits.list_members)
    else:
        calls = math.ceil(work.properties / limits.batch_update)
        calls += list_calls(work.lone_adds, limits.list_members) + list_calls(work.lone_removes, limits.list_members)
    seconds = max(calls / limits.contacts_per_second, 3600.0 * (calls // limits.contacts_per_hour))
    note = (
        f"at {limits.contacts_per_second} contact calls per second; a record's list moves ride in its update, and "
        f"{limits.import_threshold:,} or more records moving into lists go by import"
    )
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
