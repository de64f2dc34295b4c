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


def test_a_cron_out_of_range_or_a_base_url_that_is_not_one_is_refused_at_load(tmp_path: Path) -> None:
    """issue 13, low: cron '99 * * * *' was accepted, and 'not a url' was retried as a connection failure for
    68 s instead of failing at once."""
    bad = {
        "name": "hs",
        "platform": "hubspot",
        "token": "x",
        "base_url": "not a url",
        "schedule": {"cron": "99 * * * *"},
    }
    with pytest.raises(ConfigError) as raised:
        load_sources(written(tmp_path, bad))
    message = str(raised.value)
    assert "sources[0]: base_url" in message
    assert "'not a url' is not an http(s) URL" in message
    assert "cron '99 * * * *' is not a schedule" in message
    assert "59" in message


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("garbage", "'garbage' is not a store URL"),
        ("mysql://u@h/db", "not mysql"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot open the state store"),
    ],
)
def test_a_store_url_that_cannot_serve_is_one_line_and_exit_2(tmp_path: Path, url: str, said: str) -> None:
    sources = written(tmp_path, {"name": "hs", "platform": "hubspot", "token": "x"})
    done = subprocess.run(
        [sys.executable, "-m", "leadscore", "sync", "--once", "--sources", str(sources), "--state", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert said in done.stderr
    assert "LEADSCORE_STATE_URL" in done.stderr
    assert "Traceback" not in done.stderr
