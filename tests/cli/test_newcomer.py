"""issue 14, the newcomer's path: leadscore runs from any folder, not only the checkout; the default model is the
packaged one unless the folder has config/scoring.yaml, and --model / LEADSCORE_MODEL override both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEFAULT_MODEL


def leadscore(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_runs_from_a_folder_outside_the_checkout(tmp_path: Path) -> None:
    done = leadscore(tmp_path, "demo", "--contacts", "12")
    assert done.returncode == 0, done.stderr
    assert "one person, one score" in done.stdout
    assert list(tmp_path.iterdir()) == [], "the demo writes nothing into the folder it runs from"


def test_validate_without_a_model_checks_the_packaged_default(tmp_path: Path) -> None:
    done = leadscore(tmp_path, "validate")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "scoring.yaml" in done.stdout


def test_a_folder_model_wins_over_the_packaged_one_and_the_environment_over_both(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "scoring.yaml").write_text("version: 1\nmodels: {}\n")
    folder = leadscore(tmp_path, "validate")
    assert folder.returncode == 2, "the folder's (broken) model was the one checked"
    assert "config/scoring.yaml" in folder.stdout + folder.stderr
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text('{"id": "c1", "email": "ann@acme.example", "job_title": "CEO"}\n')
    scored = leadscore(tmp_path, "score", "--contacts", str(contacts), env={"LEADSCORE_MODEL": str(DEFAULT_MODEL)})
    assert scored.returncode == 0, scored.stderr
    assert '"contact_id": "c1"' in scored.stdout or '"id": "c1"' in scored.stdout, scored.stdout


def test_version() -> None:
    done = leadscore(Path.cwd(), "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("leadscore ")


def test_the_command_list_gives_each_command_one_unbroken_summary(tmp_path: Path) -> None:
    """Summaries are docstrings wrapped at 120 columns; shown as written, a wide terminal broke them mid-sentence
    ("... in the store," then "scored as ..." on a line of its own)."""
    done = leadscore(tmp_path, "--help", env={"COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    explain = next(line for line in done.stdout.splitlines() if "│ explain" in line)
    assert "a live source's record in the store, scored as its cycle scores it." in explain
