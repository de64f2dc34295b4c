"""The sources file: each source validated with its platform's own settings model, found through the plug-ins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leadscore.errors import ConfigError
from leadscore.settings import load_sources

SALESFORCE_LOGIN = {
    "name": "salesforce-main",
    "platform": "salesforce",
    "base_url": "https://example.my.salesforce.com",
    "username": "integration@example.com",
    "oauth_client_id": "3MVG9-consumer-key",
    "private_key_file": "/run/secrets/salesforce.key",
}


def written(tmp_path: Path, *sources: dict[str, object]) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": list(sources)}), encoding="utf-8")
    return path


def test_each_source_gets_its_platforms_settings_model(tmp_path: Path) -> None:
    hubspot = {"name": "hubspot-main", "platform": "hubspot", "token": "pat-x", "oauth_client_id": "id"}
    brevo = {"name": "brevo-main", "platform": "brevo", "token": "xkeysib-x"}
    loaded = load_sources(written(tmp_path, hubspot, SALESFORCE_LOGIN, brevo))
    assert [type(s).__name__ for s in loaded] == ["HubSpotSource", "SalesforceSource", "BrevoSource"]


def test_a_setting_of_another_platform_is_refused_with_its_place(tmp_path: Path) -> None:
    brevo = {"name": "brevo-main", "platform": "brevo", "token": "x", "username": "someone"}
    with pytest.raises(ConfigError, match=r"sources\[0\]: username: Extra inputs are not permitted"):
        load_sources(written(tmp_path, brevo))


def test_an_unknown_platform_names_the_installed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.platform: platform 'pardot' is not installed.*brevo"):
        load_sources(written(tmp_path, {"name": "p", "platform": "pardot"}))


def test_a_salesforce_login_flow_needs_no_token(tmp_path: Path) -> None:
    """A JWT-bearer source (username, consumer key, certificate key) authenticates without any token; the daemon's
    start-up check and `config show` used to call it missing (issue 13, item 4)."""
    [source] = load_sources(written(tmp_path, SALESFORCE_LOGIN))
    source.check_credentials()
    brevo = {"name": "brevo-main", "platform": "brevo", "token_env": "LEADSCORE_TEST_UNSET_TOKEN"}
    [without_token] = load_sources(written(tmp_path, brevo))
    with pytest.raises(ConfigError, match="LEADSCORE_TEST_UNSET_TOKEN"):
        without_token.check_credentials()


def test_config_show_reports_a_salesforce_login_source_as_ready(tmp_path: Path) -> None:
    env = {"LEADSCORE_SOURCES_FILE": str(written(tmp_path, SALESFORCE_LOGIN)), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, "-m", "leadscore", "config", "show"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "source salesforce-main" in completed.stdout
    assert "missing" not in completed.stdout
