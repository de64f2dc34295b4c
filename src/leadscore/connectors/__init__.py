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
        return _salesforce(source, sleep)
    raise AssertionError(f"unknown platform {source.platform}")


def _salesforce(source: SourceSettings, sleep: Sleep) -> Connector:
    """A login flow when a username is set, else a refresh token when one is set, else a session id (token)."""
    from leadscore.connectors.salesforce import SalesforceConnector
    from leadscore.connectors.salesforce.client import LoginCredentials, RefreshCredentials

    secret = source.oauth_client_secret.get_secret_value() if source.oauth_client_secret else None
    login = refresh = None
    session_id = None
    if source.username and source.oauth_client_id:
        login = LoginCredentials(
            source.login_url,
            source.username,
            source.oauth_client_id,
            private_key_file=str(source.private_key_file) if source.private_key_file else None,
            consumer_secret=secret,
            password=source.password.get_secret_value() if source.password else None,
            security_token=source.security_token.get_secret_value() if source.security_token else "",
        )
    elif source.oauth_client_id and secret and source.oauth_refresh_token:
        refresh = RefreshCredentials(
            source.login_url, source.oauth_client_id, secret, source.oauth_refresh_token.get_secret_value()
        )
    else:
        session_id = source.resolved_token()
    instance_url = source.base_url or source.login_url
    return SalesforceConnector(source.name, instance_url, session_id, refresh, source.mapping, sleep, login=login)
