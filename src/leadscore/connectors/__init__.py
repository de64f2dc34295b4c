"""The registry of platforms: the one place that turns a source's settings into a connector."""

from __future__ import annotations

import time

from leadscore.connectors.http import Sleep
from leadscore.settings import SourceSettings
from leadscore.sync.protocol import Connector


def build_connector(source: SourceSettings, sleep: Sleep = time.sleep) -> Connector:
    if source.platform == "hubspot":
        from leadscore.connectors.hubspot import HubSpotConnector
        from leadscore.connectors.hubspot.client import OAuthApp

        oauth = None
        if source.oauth_client_id and source.oauth_client_secret and source.oauth_refresh_token:
            oauth = OAuthApp(
                source.oauth_client_id,
                source.oauth_client_secret.get_secret_value(),
                source.oauth_refresh_token.get_secret_value(),
            )
        return HubSpotConnector(
            source.name,
            source.base_url or "https://api.hubapi.com",
            source.resolved_token(),
            source.mapping,
            oauth=oauth,
            sleep=sleep,
        )
    if source.platform == "brevo":
        from leadscore.connectors.brevo import BrevoConnector

        return BrevoConnector(
            source.name, source.base_url or "https://api.brevo.com/v3", source.resolved_token(), source.mapping, sleep
        )
    if source.platform == "salesforce":
        from leadscore.connectors.salesforce import SalesforceConnector
        from leadscore.connectors.salesforce.client import RefreshCredentials

        refresh = None
        if source.oauth_client_id and source.oauth_client_secret and source.oauth_refresh_token:
            refresh = RefreshCredentials(
                source.login_url,
                source.oauth_client_id,
                source.oauth_client_secret.get_secret_value(),
                source.oauth_refresh_token.get_secret_value(),
            )
        session_id = None if refresh is not None else source.resolved_token()
        instance_url = source.base_url or source.login_url
        return SalesforceConnector(source.name, instance_url, session_id, refresh, source.mapping, sleep)
    raise AssertionError(f"unknown platform {source.platform}")
