"""issue 18: the daemon serves the console on its HTTP port when LEADSCORE_CONSOLE=true, beside health, metrics
and webhooks, and will not start it without a login token; a port in use fails the start with its name."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from leadscore_sandbox.hubspot import HubSpotSandbox
from tests.daemon.conftest import DaemonProcess, daemon_env, write_sources

TOKEN = "console-daemon-token-42"


def test_the_daemon_serves_the_console_behind_its_login(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    env = daemon_env(
        tmp_path, write_sources(tmp_path / "s.yaml", sandbox.url, interval=3600), f"sqlite:///{tmp_path / 's.db'}"
    )
    env |= {"LEADSCORE_CONSOLE": "true", "LEADSCORE_CONSOLE_TOKEN": TOKEN}
    daemon = DaemonProcess(env, tmp_path / "daemon.log")
    try:
        daemon.wait_for_cycles(1)
        assert daemon.get("/healthz") == (200, "ok\n")
        status, _ = daemon.get("/")
        assert status == 401, "no data without a login"
        request = urllib.request.Request(
            f"http://127.0.0.1:{daemon.port}/", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            page = answer.read().decode()
        assert answer.status == 200
        assert "hubspot" in page
        assert '<tr class="run">' in page, "the cycle just run is on the sources page"
        assert TOKEN not in page
        assert TOKEN not in daemon.output(), "the token is not logged"
    finally:
        assert daemon.terminate() == 0


def test_the_console_without_a_token_stops_the_start_saying_where_to_put_one(tmp_path: Path) -> None:
    env = daemon_env(
        tmp_path, write_sources(tmp_path / "s.yaml", "http://127.0.0.1:9"), f"sqlite:///{tmp_path / 'x.db'}"
    )
    env |= {"LEADSCORE_CONSOLE": "true", "LEADSCORE_SECRETS_DIR": str(tmp_path / "none")}
    env.pop("LEADSCORE_CONSOLE_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "leadscore", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LEADSCORE_CONSOLE_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_stops_the_start_with_its_name(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = daemon_env(
            tmp_path, write_sources(tmp_path / "s.yaml", "http://127.0.0.1:9"), f"sqlite:///{tmp_path / 'x.db'}"
        )
        env["LEADSCORE_HTTP_PORT"] = str(port)
        done = subprocess.run(
            [sys.executable, "-m", "leadscore", "run"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "LEADSCORE_HTTP_PORT" in done.stderr
    assert "Traceback" not in done.stderr
