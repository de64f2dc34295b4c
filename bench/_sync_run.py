"""What every sync benchmark does: serve a seeded sandbox in one process, run `leadscore sync --once` in another,
sample the sync's peak RSS (alone, and with the scoring workers it starts for a large rescore), and read its report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(platform: str, port: int, contacts: int, seed: int, latency_ms: int = 0) -> subprocess.Popen[str]:
    """`leadscore sandbox` in the foreground of a child process; returns once it has seeded and listens."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "leadscore", "sandbox", "--platform", platform, "--port", str(port),
         "--contacts", str(contacts), "--seed", str(seed), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    sandbox.stdout.readline()
    return sandbox


SANDBOX_SOURCES = {
    "hubspot": {"token": "sandbox-token", "path": "", "mapping": {"newsletter_campaign_ids": [1001]}},
    "brevo": {"token": "sandbox-key", "path": "/v3", "mapping": {"limits": {"process_poll_seconds": 0.2}}},
    "salesforce": {"token": "sandbox-session", "path": "", "mapping": {"limits": {"bulk_poll_seconds": 0.2}}},
}
"""How a source reaches each platform's sandbox, for benchmarks that run connectors in their own process."""


def sandbox_source(name: str, port: int) -> dict[str, Any]:
    """Source settings (as a sources file holds them) for the sandbox of platform ``name`` on ``port``."""
    settings = SANDBOX_SOURCES[name]
    return {
        "name": name,
        "platform": name,
        "base_url": f"http://127.0.0.1:{port}{settings['path']}",
        "token": settings["token"],
        "mapping": settings["mapping"],
    }


class PeakRss(NamedTuple):
    """Bytes: the sync process alone, and the most the sync and its child processes held at one moment."""

    sync: int
    tree: int

    def describe(self) -> str:
        return f"sync peak RSS MB {self.sync / 2**20:.0f} (with its scoring workers {self.tree / 2**20:.0f})"


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def run_sync(
    source: dict[str, Any], workdir: Path, workers: int | None = None
) -> tuple[dict[str, Any], float, PeakRss]:
    """One cycle of ``source`` into the SQLite store in ``workdir``: (its report, wall seconds, peak RSS). A second
    call with the same ``workdir`` runs the source's next cycle.

    ``workers`` sets LEADSCORE_SCORING_WORKERS for the sync (None: the daemon's default).
    """
    sources = workdir / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [source]}))
    report_file = workdir / "report.json"
    started = time.monotonic()
    sync = subprocess.Popen(
        [sys.executable, "-m", "leadscore", "sync", "--once", "--sources", str(sources),
         "--state", f"sqlite:///{workdir / 'state.db'}", "--model", str(ROOT / "config" / "scoring.yaml"),
         "--report-json", str(report_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=os.environ | ({"LEADSCORE_SCORING_WORKERS": str(workers)} if workers is not None else {}),
    )  # fmt: skip
    watched = psutil.Process(sync.pid)
    alone = tree = 0
    while sync.poll() is None:
        try:
            children = watched.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        own = _rss(watched)
        alone = max(alone, own)
        tree = max(tree, own + sum(_rss(child) for child in children))
        time.sleep(0.05)
    wall = time.monotonic() - started
    [report] = json.loads(report_file.read_text())
    return report, wall, PeakRss(alone, tree)


def sync_against_sandbox(
    platform: str,
    size: int,
    seed: int,
    *,
    token: str,
    mapping: dict[str, Any],
    base_path: str = "",
    workers: int | None = None,
    latency_ms: int = 0,
    cycles: int = 1,
    inspect: Callable[[str], None] | None = None,
) -> list[tuple[dict[str, Any], float, PeakRss]]:
    """Serve a seeded ``platform`` sandbox, run ``cycles`` cycles of a source pointed at it (one store), hand the
    sandbox's base URL to ``inspect`` (to read what the cycles left on it), stop the sandbox.

    Returns what ``run_sync`` returns for each cycle: (the cycle's report, wall seconds, peak RSS).
    """
    port = free_port()
    sandbox = start_sandbox(platform, port, size, seed, latency_ms)
    source = {
        "name": platform,
        "platform": platform,
        "base_url": f"http://127.0.0.1:{port}{base_path}",
        "token": token,
        "mapping": mapping,
    }
    workdir = Path(tempfile.mkdtemp(prefix=f"leadscore-{platform}-bench-"))
    try:
        runs = [run_sync(source, workdir, workers) for _ in range(cycles)]
        if inspect is not None:
            inspect(source["base_url"])
        return runs
    finally:
        sandbox.terminate()
        sandbox.wait()
