"""HubSpot as a leadscore platform: its source settings, connector, sandbox and demo mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from leadscore.platforms import Platform, Sandbox, Sleep
from leadscore.protocol import Connector, WriteCost, WriteTargets, WriteWork
from leadscore.sources import SourceSettings

PUBLIC_API = "https://api.hubapi.com"
NEWSLETTER_CAMPAIGN = 1001
"""The sandbox seed's newsletter campaign, which the demo maps as such."""


class HubSpotSource(SourceSettings):
    """A portal, reached with a private app token or an OAuth public app's refresh token."""

    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None

    def held_secrets(self) -> tuple[SecretStr | None, ...]:
        return (*super().held_secrets(), self.oauth_client_secret, self.oauth_refresh_token)


def connect(source: HubSpotSource, targets: WriteTargets, sleep: Sleep) -> Connector:
    from leadscore.connectors.hubspot.client import OAuthApp
    from leadscore.connectors.hubspot.connector import HubSpotConnector

    oauth = None
    if source.oauth_client_id and source.oauth_client_secret and source.oauth_refresh_token:
        oauth = OAuthApp(
            source.oauth_client_id,
            source.oauth_client_secret.get_secret_value(),
            source.oauth_refresh_token.get_secret_value(),
        )
    return HubSpotConnector(
        source.name,
        source.base_url or PUBLIC_API,
        source.resolved_token(),
        targets,
        source.mapping,
        oauth=oauth,
        sleep=sleep,
    )


def sandbox(port: int, contacts: int, seed: int) -> Sandbox:
    from leadscore_sandbox.hubspot import HubSpotSandbox
    from leadscore_sandbox.hubspot_seed import seed_hubspot
    from leadscore_sandbox.people import Overlap

    server = HubSpotSandbox(port=port)
    seed_hubspot(server, contacts, seed=seed, people=Overlap(0))
    return Sandbox(server, server.url, "sandbox-token")


def profile_fields(overrides: Mapping[str, Any]) -> Mapping[str, frozenset[str]]:
    from leadscore.connectors.hubspot.mapping import HubSpotMapping
    from leadscore.connectors.mapping import load_mapping

    return {"": frozenset(load_mapping("hubspot", HubSpotMapping, dict(overrides)).profile)}


def write_cost(overrides: Mapping[str, Any], work: WriteWork) -> WriteCost:
    """Batch updates of 100; one add-and-remove call per list per membership cap; at the ten-second limit."""
    from leadscore.connectors.hubspot.mapping import HubSpotMapping
    from leadscore.connectors.mapping import load_mapping

    limits = load_mapping("hubspot", HubSpotMapping, dict(overrides)).limits
    lists = set(work.list_adds) | set(work.list_removes)
    calls = math.ceil(work.properties / limits.batch_update) + sum(
        math.ceil(max(work.list_adds.get(key, 0), work.list_removes.get(key, 0)) / limits.list_membership)
        for key in lists
    )
    rate = limits.per_ten_seconds / 10
    return WriteCost(calls, calls / rate, f"at {limits.per_ten_seconds} calls per 10 s")


PLATFORM = Platform(
    name="hubspot",
    title="HubSpot",
    settings=HubSpotSource,
    connect=connect,
    sandbox=sandbox,
    profile_fields=profile_fields,
    write_cost=write_cost,
    mapping_file="hubspot.yaml",
    demo_mapping={"newsletter_campaign_ids": [NEWSLETTER_CAMPAIGN]},
)
