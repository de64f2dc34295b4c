"""The migrations and the query-side schema describe the same tables; a too-new store is refused."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from leadscore.errors import StoreError
from leadscore.records import Contact
from leadscore.store import SQLStore
from leadscore.store.schema import metadata
from leadscore.store.sql import WAL_KEPT_BYTES
from tests.conftest import postgres_schema


def test_migrated_schema_matches_the_table_definitions(store: SQLStore) -> None:
    with store.db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata) if not _is_alembic_table(d)]
    assert differences == []


def _is_alembic_table(difference: object) -> bool:
    return "alembic_version" in repr(difference)


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    with store.db.connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar_one() == "wal"
    store.close()


def test_the_write_ahead_log_shrinks_back_once_copied_into_the_store(tmp_path: Path) -> None:
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    wal = tmp_path / "state.db-wal"
    try:
        with store.db.begin() as connection:
            connection.execute(text("create table scratch (b blob)"))
            connection.execute(
                text(
                    "with recursive n(i) as (select 1 union all select i + 1 from n where i < 96) "
                    "insert into scratch select zeroblob(1048576) from n"
                )
            )
        grown = wal.stat().st_size
        with store.db.connect() as connection:
            connection.execute(text("pragma wal_checkpoint(passive)"))
        with store.db.begin() as connection:
            connection.execute(text("insert into scratch values (zeroblob(1))"))
        assert grown > 90 * 2**20
        assert wal.stat().st_size <= WAL_KEPT_BYTES
    finally:
        store.close()


def test_a_store_from_a_newer_leadscore_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = SQLStore.open(url)
    with store.db.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match="schema revision 9999") as caught:
        SQLStore.open(url)
    assert "upgrade leadscore" in caught.value.fix
    assert open_connections_to(tmp_path / "state.db") == 0, "a refused store leaves no connection open"


def open_connections_to(path: Path) -> int:
    """SQLite connections to ``path`` still open in this process (Python 3.13 warns about each one left to the
    garbage collector, and the suite counts that as a failure)."""
    gc.collect()
    found = 0
    for candidate in gc.get_objects():
        if not isinstance(candidate, sqlite3.Connection):
            continue
        try:
            files = [row[2] for row in candidate.execute("pragma database_list")]
        except sqlite3.ProgrammingError:
            continue
        found += str(path) in files
    return found


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the state store") as caught:
        SQLStore.open("postgresql://nobody@127.0.0.1:1/none")
    assert "LEADSCORE_STATE_URL" in caught.value.fix


def test_an_older_store_is_upgraded_in_place_keeping_its_data(tmp_path: Path) -> None:
    from alembic import command

    from leadscore.records import SET_PROPERTIES, Change

    url = f"sqlite:///{tmp_path / 'state.db'}"
    old = SQLStore.open(url, migrate=False)
    with old.db.begin() as connection:
        command.upgrade(old._alembic_config(connection), "0001")
        connection.execute(
            text(
                "insert into outbox (source, contact_id, kind, payload, status, attempts, created_at) "
                "values ('hs', '1', 'set_properties', '{\"a\": \"1\"}', 'pending', 0, '2026-11-01 00:00:00')"
            )
        )
    old.close()
    upgraded = SQLStore.open(url)
    assert upgraded.schema_revision() == "0010"
    [entry] = upgraded.pending("hs", 10)
    assert entry.change == Change("hs", "1", SET_PROPERTIES, {"a": "1"})
    upgraded.close()


def test_contacts_marked_for_rescoring_before_the_queue_stay_marked(tmp_path: Path) -> None:
    """0004 moved the rescore mark from a flag on each contact to a queue table: no mark is lost on upgrade."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'state.db'}"
    old = SQLStore.open(url, migrate=False)
    with old.db.begin() as connection:
        command.upgrade(old._alembic_config(connection), "0003")
        for contact_id, dirty in (("1", True), ("2", False), ("3", True)):
            connection.execute(
                text(
                    "insert into contacts (source, contact_id, profile, written, deleted, dirty, updated_at) "
                    "values ('hs', :id, '{}', '{}', 0, :dirty, '2026-11-01 00:00:00')"
                ),
                {"id": contact_id, "dirty": dirty},
            )
    old.close()
    upgraded = SQLStore.open(url)
    queued = [c.id for page in upgraded.contacts_with_events("hs", only_queued=True) for c, _ in page]
    assert queued == ["1", "3"]
    assert upgraded.count("rescore_queue", "hs") == 2
    upgraded.close()


def test_the_rescore_queue_migration_downgrades_keeping_its_marks(tmp_path: Path) -> None:
    """Back to 0003 (an older leadscore after a rollback) turns queued contacts into flagged ones, and up again."""
    from alembic import command

    from leadscore.records import Contact

    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = SQLStore.open(url)
    store.save_contacts("hs", [Contact("hs", cid, f"{cid}@acme.example", {}, {}) for cid in ("1", "2", "3")])
    store.save_scores("hs", [], ["2"])
    with store.db.begin() as connection:
        command.downgrade(store._alembic_config(connection), "0003")
    with store.db.connect() as connection:
        flagged = connection.execute(text("select contact_id from contacts where dirty order by contact_id")).all()
    assert [row[0] for row in flagged] == ["1", "3"]
    store.close()
    upgraded = SQLStore.open(url)
    assert [c.id for page in upgraded.contacts_with_events("hs", only_queued=True) for c, _ in page] == ["1", "3"]
    upgraded.close()


class DiedMidMigration(BaseException):
    """The process died: no handler may swallow it."""


def _first_start_dying_at(url: str, statement: int | None) -> int:
    """Open a new store and migrate it, dying just before SQL statement number ``statement``; returns how many
    statements ran."""
    store = SQLStore.open(url, migrate=False)
    ran = 0

    def count(*_args: object) -> None:
        nonlocal ran
        ran += 1
        if statement is not None and ran >= statement:
            raise DiedMidMigration(f"killed before statement {ran}")

    event.listen(store.db, "before_cursor_execute", count)
    try:
        store.migrate()
    except BaseException:
        if statement is None or ran < statement:
            raise
    finally:
        event.remove(store.db, "before_cursor_execute", count)
        store.close()
    return ran


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_first_start_killed_at_any_statement_of_its_migrations_starts_on_the_next_try(
    tmp_path: Path, backend: str
) -> None:
    """issue 13, item 5: tables created without the version stamp made every later start fail with "table persons
    already exists". The migrations are one transaction: a death anywhere leaves the store as it was."""
    with contextlib.ExitStack() as stack:

        def new_url(name: str) -> str:
            if backend == "sqlite":
                return f"sqlite:///{tmp_path / name}.db"
            return stack.enter_context(postgres_schema())

        statements = _first_start_dying_at(new_url("counted"), None)
        assert statements > 20, "the migrations must run statement by statement for this test to mean anything"
        failures = []
        for at in range(1, statements + 1):
            url = new_url(f"died{at}")
            _first_start_dying_at(url, at)
            try:
                store = SQLStore.open(url)
            except Exception as exc:
                failures.append(f"killed before statement {at}: {type(exc).__name__}: {exc}"[:200])
                continue
            assert store.schema_revision() == store_head(store)
            store.save_contacts("hs", [Contact("hs", "1", "a@b.example")])
            store.close()
        assert failures == []


def store_head(store: SQLStore) -> str:
    with store.db.connect() as connection:
        script = ScriptDirectory.from_config(store._alembic_config(connection))
    head = script.get_current_head()
    assert head is not None
    return head


FIRST_START = "import sys; from leadscore.store import SQLStore; SQLStore.open(sys.argv[1]).close()"
WRITE_STEP = 12
"""A first start makes about a hundred page writes; every twelfth is killed (each kill costs a traced interpreter
start, about two seconds). The statement-level test above covers every step of the migrations."""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (Debian package strace)")
def test_a_first_start_killed_by_sigkill_at_its_writes_starts_on_the_next_try(tmp_path: Path) -> None:
    """The same as a real kill -9: strace's fault injection kills the process at an exact pwrite64 of SQLite."""
    trace = tmp_path / "writes.trace"
    counted = f"sqlite:///{tmp_path / 'counted.db'}"
    strace = ["strace", "-f", "-qq", "-e", "trace=pwrite64"]
    subprocess.run([*strace, "-o", str(trace), sys.executable, "-c", FIRST_START, counted], check=True, timeout=120)
    writes = trace.read_text(encoding="utf-8").count("pwrite64(")
    assert writes > 20, "a first start must write page by page for this test to mean anything"
    failures, killed = [], 0
    for at in range(1, writes + 1, WRITE_STEP):
        url = f"sqlite:///{tmp_path / f'died{at}.db'}"
        inject = f"inject=pwrite64:signal=SIGKILL:when={at}"
        died = subprocess.run(
            [*strace, "-o", os.devnull, "-e", inject, sys.executable, "-c", FIRST_START, url],
            timeout=120, capture_output=True,
        )  # fmt: skip
        killed += died.returncode != 0
        try:
            store = SQLStore.open(url)
        except Exception as exc:
            failures.append(f"killed at write {at}: {type(exc).__name__}: {exc}"[:200])
            continue
        assert store.schema_revision() == store_head(store)
        store.close()
    assert killed >= len(range(1, writes + 1, WRITE_STEP)) - 1, "the kills must land before the start ends"
    assert failures == []
