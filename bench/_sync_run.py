"""What every sync benchmark does: serve a seeded sandbox in one process, run `leadscore sync --once` in another,
sample the sync's peak RSS, and read its report."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(platform: str, port: int, contacts: int, seed: int) -> subprocess.Popen[str]:
    """`leadscore sandbox` in the foreground of a child process; returns once it has seeded and listens."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "leadscore", "sandbox", "--platform", platform, "--port", str(port),
         "--contacts", str(contacts), "--seed", str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    sandbox.stdout.readline()
    return sandbox


def run_sync(source: dict[str, Any], prefix: str) -> tuple[dict[str, Any], float, int]:
    """One cycle of ``source`` into a fresh SQLite store: (its report, wall seconds, peak RSS in bytes)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    sources = workdir / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [source]}))
    report_file = workdir / "report.json"
    started = time.monotonic()
    sync = subprocess.Popen(
        [sys.executable, "-m", "leadscore", "sync", "--once", "--sources", str(sources),
         "--state", f"sqlite:///{workdir / 'state.db'}", "--model", str(ROOT / "config" / "scoring.yaml"),
         "--report-json", str(report_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    watched = psutil.Process(sync.pid)
    peak = 0
    while sync.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    wall = time.monotonic() - started
    [report] = json.loads(report_file.read_text())
    return report, wall, peak


def sync_against_sandbox(
    platform: str, size: int, seed: int, *, token: str, mapping: dict[str, Any], base_path: str = ""
) -> tuple[dict[str, Any], float, int]:
    """Serve a seeded ``platform`` sandbox, run one cycle of a source pointed at it, stop the sandbox.

    Returns what ``run_sync`` returns: (the cycle's report, wall seconds, the sync's peak RSS in bytes).
    """
    port = free_port()
    sandbox = start_sandbox(platform, port, size, seed)
    source = {
        "name": platform,
        "platform": platform,
        "base_url": f"http://127.0.0.1:{port}{base_path}",
        "token": token,
        "mapping": mapping,
    }
    try:
        return run_sync(source, f"leadscore-{platform}-bench-")
    finally:
        sandbox.terminate()
        sandbox.wait()
