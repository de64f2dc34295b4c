"""HubSpot as a leadscore platform: its source settings, connector, sandbox and demo mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from leadscore.errors import ConfigError
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

    def oauth_app(self) -> tuple[str, str, str] | None:
        """(client id, client secret, refresh token) when the OAuth app is set in full; None when none of it is;
        a part of it is a setting to fix, named."""
        secret = self.oauth_client_secret.get_secret_value() if self.oauth_client_secret else ""
        refresh = self.oauth_refresh_token.get_secret_value() if self.oauth_refresh_token else ""
        given = {"oauth_client_id": self.oauth_client_id or "", "oauth_client_secret": secret,
                 "oauth_refresh_token": refresh}  # fmt: skip
        missing = [name for name, value in given.items() if not value]
        if len(missing) == len(given):
            return None
        if missing:
            raise ConfigError(f"source '{self.name}': an OAuth app needs {', '.join(missing)} too")
        return given["oauth_client_id"], secret, refresh

    def check_credentials(self) -> None:
        if self.oauth_app() is None:
            self.resolved_token()

    def access_token(self) -> str:
        """The private app token; with an OAuth app, any token given (refreshed when refused), else none yet."""
        if self.oauth_app() is None:
            return self.resolved_token()
        try:
            return self.resolved_token()
        except ConfigError:
            return ""


def connect(source: HubSpotSource, targets: WriteTargets, sleep: Sleep) -> Connector:
    from leadscore.connectors.hubspot.client import OAuthApp
    from leadscore.connectors.hubspot.connector import HubSpotConnector

    app = source.oauth_app()
    oauth = OAuthApp(*app) if app is not None else None
    return HubSpotConnector(
        source.name,
        source.base_url or PUBLIC_API,
        source.access_token(),
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
