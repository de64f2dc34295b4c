"""Set-ups README documents, each run as written against a sandbox: a HubSpot portal reached through an OAuth app
alone, and the compose recipe's token (``token_env`` naming a variable left empty, the token in a secret file)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadscore.errors import ConfigError
from leadscore.settings import load_sources
from tests.conftest import sync_once
from tests.sync.platforms import NOW, HubSpotPlatform


def sources_file(tmp_path: Path, source: dict[str, Any]) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [source]}), encoding="utf-8")
    return path


def hubspot_source(platform: HubSpotPlatform, **credentials: Any) -> dict[str, Any]:
    return {"name": "hubspot", "platform": "hubspot", "base_url": platform.sandbox.url} | credentials


def synced(tmp_path: Path, source: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
    command = sync_once(sources_file(tmp_path, source), f"sqlite:///{tmp_path / 'state.db'}", "--now", NOW.isoformat())
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ | env)


def test_a_hubspot_portal_reached_through_an_oauth_app_alone_syncs(tmp_path: Path) -> None:
    """README offers a public app's client id, secret and refresh token instead of a private app token; `sync`
    refused such a source ("no API token")."""
    platform = HubSpotPlatform()
    platform.seed(20, 3)
    try:
        oauth = {"oauth_client_id": "client", "oauth_client_secret": "secret", "oauth_refresh_token": "sandbox-refresh"}
        result = synced(tmp_path, hubspot_source(platform, **oauth), LEADSCORE_SECRETS_DIR=str(tmp_path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "hubspot: ok" in result.stdout
        assert platform.sandbox.log.calls["POST /oauth/v1/token"] == 1, (
            "one access token, fetched before the first call"
        )
        assert platform.sandbox.log.calls["POST /crm/v3/objects/contacts/batch/update"] >= 1
    finally:
        platform.sandbox.stop()


def test_the_compose_recipe_runs_with_token_env_empty_and_the_token_in_a_secret_file(tmp_path: Path) -> None:
    platform = HubSpotPlatform()
    platform.seed(20, 3)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "hubspot_token").write_text("sandbox-token\n", encoding="utf-8")
    try:
        result = synced(
            tmp_path, hubspot_source(platform, token_env="HUBSPOT_TOKEN"), HUBSPOT_TOKEN="",
            LEADSCORE_SECRETS_DIR=str(secrets),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "hubspot: ok" in result.stdout
    finally:
        platform.sandbox.stop()


def test_a_part_of_an_oauth_app_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    source = {"name": "hubspot", "platform": "hubspot", "oauth_client_id": "client", "oauth_refresh_token": "r"}
    [loaded] = load_sources(sources_file(tmp_path, source))
    with pytest.raises(ConfigError, match="an OAuth app needs oauth_client_secret too"):
        loaded.check_credentials()
