"""The store failing under a running ``sync --once``: a full disk (strace makes every write from a chosen one on fail
with ENOSPC, as a full volume does) and a PostgreSQL restart (every session of the sync terminated mid-cycle).
Each ends in one clear line, no traceback and no SQL, and a later normal cycle ends as a clean run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from leadscore.store import SQLStore
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.sync.platforms import Platform, shown_everywhere
from tests.sync.test_crash_safety import command, engage, started

ROUNDS = 3


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """A failed cycle's report, whose error is one of ``expected``; no traceback, no SQL."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "INSERT" not in output.upper().replace("INSERTED", ""), "no SQL in what the operator reads"
    assert any(line in output for line in expected), output


def assert_same_as_clean(platform: Platform, state: str, clean: Platform, clean_state: str) -> None:
    assert shown_everywhere(platform) == shown_everywhere(clean)
    store, reference = SQLStore.open(state), SQLStore.open(clean_state)
    try:
        assert store.count("events", "hubspot") == reference.count("events", "hubspot")
        ids = clean.contact_ids()
        assert store.visible_scores("hubspot", ids) == reference.visible_scores("hubspot", ids)
        assert store.outbox_depth("hubspot") == 0
    finally:
        store.close()
        reference.close()


def clean_run(tmp_path: Path) -> tuple[Platform, str]:
    clean = started("hubspot")
    clean_state = f"sqlite:///{tmp_path / 'clean.db'}"
    for round_number in range(ROUNDS):
        engage(clean, clean_state, round_number)
        subprocess.run(command(clean, tmp_path, clean_state), check=True, capture_output=True, timeout=120)
    return clean, clean_state


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (Debian package strace)")
def test_a_full_disk_mid_cycle_is_one_clear_line_and_the_next_cycle_loses_nothing(tmp_path: Path) -> None:
    clean, clean_state = clean_run(tmp_path)
    counted = started("hubspot")
    trace = tmp_path / "writes"
    counted_state = f"sqlite:///{tmp_path / 'counted.db'}"
    counting = ["strace", "-f", "-qq", "-e", "trace=pwrite64", "-o", str(trace)]
    subprocess.run(
        [*counting, *command(counted, tmp_path, counted_state)], check=True, capture_output=True, timeout=120
    )
    writes = sum("pwrite64" in line for line in trace.read_text().splitlines())
    counted.sandbox.stop()
    assert writes > 100

    full = started("hubspot")
    state = f"sqlite:///{tmp_path / 'full.db'}"
    failed = 0
    try:
        for round_number, share in enumerate((0.3, 0.6, 0.9)[:ROUNDS]):
            engage(full, state, round_number)
            inject = f"inject=pwrite64:error=ENOSPC:when={int(writes * share)}+"
            faulted = ["strace", "-f", "-qq", "-o", os.devnull, "-e", inject, *command(full, tmp_path, state)]
            result = subprocess.run(faulted, capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                failed += 1
                assert_one_clear_line(result, "the state store could not be written: database or disk is full")
                assert "free space where it lives" in result.stdout
        assert failed >= 1, "the disk must fill inside a cycle for this test to mean anything"
        for _ in range(2):
            subprocess.run(command(full, tmp_path, state), check=True, capture_output=True, timeout=120)
        assert_same_as_clean(full, state, clean, clean_state)
    finally:
        clean.sandbox.stop()
        full.sandbox.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_postgresql_restart_mid_cycle_is_one_clear_line_and_the_next_cycle_loses_nothing(tmp_path: Path) -> None:
    clean, clean_state = clean_run(tmp_path)
    restarted = started("hubspot")
    restarted.sandbox.faults.latency_seconds = 0.02
    name = f"ls_restart_{os.getpid()}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with postgres_schema() as url:
        state = f"{url}&application_name={name}"
        hit = 0
        try:
            for round_number in range(ROUNDS):
                engage(restarted, state, round_number)
                sync = command(restarted, tmp_path, state)
                process = subprocess.Popen(sync, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                stop_at = restarted.sandbox.log.total() + 3 + 6 * round_number
                while process.poll() is None and restarted.sandbox.log.total() < stop_at:
                    time.sleep(0.002)
                with admin.connect() as connection:
                    ended = connection.execute(
                        text(
                            "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = :n"
                        ),
                        {"n": name},
                    ).scalar_one()
                stdout, stderr = process.communicate(timeout=120)
                if ended and process.returncode != 0:
                    hit += 1
                    assert_one_clear_line(
                        subprocess.CompletedProcess(sync, process.returncode, stdout, stderr),
                        "the state store's connection was lost",
                        "its lease on the store was lost (its database session ended",
                    )
                else:
                    assert process.returncode == 0, stdout + stderr
            assert hit >= 1, "the restart must land inside a cycle for this test to mean anything"
            for _ in range(2):
                subprocess.run(command(restarted, tmp_path, state), check=True, capture_output=True, timeout=120)
            assert_same_as_clean(restarted, state, clean, clean_state)
        finally:
            admin.dispose()
            clean.sandbox.stop()
            restarted.sandbox.stop()
