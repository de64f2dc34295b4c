"""The migrations and the query-side schema describe the same tables; a too-new store is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from leadscore.errors import StoreError
from leadscore.store import SQLStore
from leadscore.store.schema import metadata


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


def test_a_store_from_a_newer_leadscore_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = SQLStore.open(url)
    with store.db.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match="schema revision 9999") as caught:
        SQLStore.open(url)
    assert "upgrade leadscore" in caught.value.fix


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
    assert upgraded.schema_revision() == "0005"
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
