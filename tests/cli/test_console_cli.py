"""issue 18: ``leadscore console`` serves the console for any store without a daemon, behind its login, and will
not start without a token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from leadscore.store import SQLStore


def test_the_console_command_serves_a_store_behind_its_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    SQLStore.open(url).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env |= {"LEADSCORE_CONSOLE_TOKEN": "cli-console-token", "LEADSCORE_SECRETS_DIR": str(tmp_path / "none")}
    command = [sys.executable, "-m", "leadscore", "console", "--state", url, "--port", "0"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        base = f"http://127.0.0.1:{found.group(1)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"{base}/models", headers={"authorization": "Bearer cli-console-token"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the console did not answer"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "live records scored" in page.text
        assert httpx.get(f"{base}/models").status_code == 401
    finally:
        process.terminate()
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
    env.pop("LEADSCORE_CONSOLE_TOKEN")
    refused = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "LEADSCORE_CONSOLE_TOKEN" in refused.stderr
