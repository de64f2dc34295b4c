"""Salesforce as a leadscore platform: its source settings (three login flows), connector, sandbox, demo mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from leadscore.platforms import Platform, Sandbox, Sleep
from leadscore.protocol import Connector, WriteCost, WriteTargets, WriteWork
from leadscore.sources import SourceSettings


class SalesforceSource(SourceSettings):
    """An org, reached by a login flow (JWT bearer or username-password, when ``username`` is set), a refresh
    token, or a session id given as the token."""

    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    login_url: str = "https://login.salesforce.com"
    """Where the OAuth token endpoint lives (https://test.salesforce.com for sandboxes, or My Domain)."""
    username: str | None = None
    """The integration user of the login flows, with ``private_key_file`` (JWT bearer) or ``password``."""
    private_key_file: Path | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None

    def logs_in(self) -> bool:
        return bool(self.username and self.oauth_client_id)

    def refreshes(self) -> bool:
        return bool(self.oauth_client_id and self.oauth_client_secret and self.oauth_refresh_token)

    def check_credentials(self) -> None:
        if not (self.logs_in() or self.refreshes()):
            self.resolved_token()

    def held_secrets(self) -> tuple[SecretStr | None, ...]:
        held = (self.oauth_client_secret, self.oauth_refresh_token, self.password, self.security_token)
        return (*super().held_secrets(), *held)


def connect(source: SalesforceSource, targets: WriteTargets, sleep: Sleep) -> Connector:
    """A login flow when a username is set, else a refresh token when one is set, else a session id (token)."""
    from leadscore.connectors.salesforce.client import LoginCredentials, RefreshCredentials
    from leadscore.connectors.salesforce.connector import SalesforceConnector

    secret = source.oauth_client_secret.get_secret_value() if source.oauth_client_secret else None
    login = refresh = None
    session_id = None
    if source.logs_in():
        login = LoginCredentials(
            source.login_url,
            str(source.username),
            str(source.oauth_client_id),
            private_key_file=str(source.private_key_file) if source.private_key_file else None,
            consumer_secret=secret,
            password=source.password.get_secret_value() if source.password else None,
            security_token=source.security_token.get_secret_value() if source.security_token else "",
        )
    elif source.refreshes() and secret and source.oauth_client_id and source.oauth_refresh_token:
        refresh = RefreshCredentials(
            source.login_url, source.oauth_client_id, secret, source.oauth_refresh_token.get_secret_value()
        )
    else:
        session_id = source.resolved_token()
    return SalesforceConnector(
        source.name,
        source.base_url or source.login_url,
        targets,
        session_id,
        refresh,
        source.mapping,
        sleep,
        login=login,
    )


def sandbox(port: int, contacts: int, seed: int) -> Sandbox:
    from leadscore_sandbox.people import Overlap
    from leadscore_sandbox.salesforce import SalesforceSandbox
    from leadscore_sandbox.salesforce_seed import seed_salesforce

    server = SalesforceSandbox(port=port)
    seed_salesforce(server, contacts, seed=seed, overlap=Overlap(contacts // 4))
    return Sandbox(server, server.url, "sandbox-session")


def profile_fields(overrides: Mapping[str, Any]) -> Mapping[str, frozenset[str]]:
    from leadscore.connectors.mapping import load_mapping
    from leadscore.connectors.salesforce.mapping import SalesforceMapping

    mapping = load_mapping("salesforce", SalesforceMapping, dict(overrides))
    return {sobject: frozenset(mapping.profile.get(sobject, {})) for sobject in mapping.objects}


def write_cost(overrides: Mapping[str, Any], work: WriteWork) -> WriteCost:
    """Composite calls of five 200-record collections for updates and campaign member inserts; removes first query
    the members' ids. Salesforce has no rate limit, only a daily allowance per org."""
    from leadscore.connectors.mapping import load_mapping
    from leadscore.connectors.salesforce.mapping import SalesforceMapping

    limits = load_mapping("salesforce", SalesforceMapping, dict(overrides)).limits
    per_call = limits.collection_size * limits.collections_per_call
    adds, removes = sum(work.list_adds.values()), sum(work.list_removes.values())
    calls = (
        math.ceil(work.properties / per_call)
        + math.ceil(adds / per_call)
        + math.ceil(removes / limits.collection_size)
        + math.ceil(removes / per_call)
    )
    return WriteCost(calls, None, "no rate limit: calls count against the org's daily API allowance")


PLATFORM = Platform(
    name="salesforce",
    title="Salesforce",
    settings=SalesforceSource,
    connect=connect,
    sandbox=sandbox,
    profile_fields=profile_fields,
    write_cost=write_cost,
    mapping_file="salesforce.yaml",
    demo_mapping={"limits": {"bulk_poll_seconds": 0.05}},
)
