"""Run ``leadscore run`` the way the container image runs it: a process, environment variables, signals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot_seed import seed_hubspot
from tests.conftest import DEFAULT_MODEL
from tests.sync.conftest import DAY_MS, FAST, NOW_MS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_sources(path: Path, url: str, token: str = "sandbox-token", interval: int = 1) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "hubspot",
                        "platform": "hubspot",
                        "base_url": url,
                        "token_env": "HUBSPOT_TOKEN",
                        "schedule": {"interval_seconds": interval},
                    }
                ]
            }
        )
    )
    return path


class DaemonProcess:
    def __init__(self, env: dict[str, str], log_path: Path, command: list[str] | None = None) -> None:
        self.port = int(env["LEADSCORE_HTTP_PORT"])
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "leadscore", "run"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_for_cycles(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            if self.cycles() >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"fewer than {count} cycles in {timeout}s:\n{self.output()}")

    def cycles(self) -> int:
        return sum(1 for line in self.output().splitlines() if '"event": "cycle"' in line)

    def output(self) -> str:
        return self.log_path.read_text()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the exit; on timeout kill it so no process outlives the test."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise
        finally:
            self.log.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    server = HubSpotSandbox(limits=FAST).start()
    seed_hubspot(server, 150, seed=8, now_ms=NOW_MS - DAY_MS)
    yield server
    server.stop()


def daemon_env(
    tmp_path: Path, sources: Path, state_url: str, token: str = "sandbox-token", **extra: str
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADSCORE_")}
    env.update(
        LEADSCORE_STATE_URL=state_url,
        LEADSCORE_MODEL=str(DEFAULT_MODEL),
        LEADSCORE_SOURCES_FILE=str(sources),
        LEADSCORE_HTTP_PORT=str(free_port()),
        LEADSCORE_LOG_FORMAT="json",
        LEADSCORE_SECRETS_DIR=str(tmp_path / "no-secrets"),
        HUBSPOT_TOKEN=token,
    )
    env.update(extra)
    return env
