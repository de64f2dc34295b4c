"""The same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, select

from leadscore.protocol import EventPage
from leadscore.records import LIST_ADD, LIST_REMOVE, SET_PROPERTIES, Change, Contact, Event, WrittenState
from leadscore.store import SQLStore, StoredScore, VisibleScore, schema
from leadscore.store.contacts import as_json
from leadscore.store.sql import DAEMON_MEMORY, SCORING_MEMORY, SQLiteMemory
from tests.conftest import NOW


def contacts(*ids: str, email_domain: str = "acme.example") -> list[Contact]:
    return [Contact("hs", cid, f"{cid}@{email_domain}", {"job_title": "VP"}, {}) for cid in ids]


def events(contact_id: str, *ids: str) -> list[Event]:
    return [
        Event("hs", eid, contact_id, "page_view", NOW - timedelta(hours=i), {"url": "/p"}) for i, eid in enumerate(ids)
    ]


def test_migrations_create_every_table(store: SQLStore) -> None:
    tables = set(inspect(store.db).get_table_names())
    assert {"contacts", "events", "cursors", "written", "outbox", "runs", "scores", "persons"} <= tables
    assert store.schema_revision() == "0010"


def test_reopening_a_migrated_store_is_a_no_op(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store at head opens without alembic running its scripts (every CLI run and scoring worker opens one)."""

    def no_upgrade(*args: object) -> None:
        raise AssertionError("a store at head was migrated again")

    monkeypatch.setattr("leadscore.store.sql.command.upgrade", no_upgrade)
    store.migrate()
    assert store.schema_revision() == "0010"


def test_contacts_upsert_and_cursor_commit_together(store: SQLStore) -> None:
    assert store.save_contacts("hs", contacts("1", "2"), cursor=("contacts", {"after": "t1"})) == 2
    assert store.cursor("hs", "contacts") == {"after": "t1"}
    updated = [Contact("hs", "1", "1@acme.example", {"job_title": "CEO"}, {"leadscore_score": "40"})]
    store.save_contacts("hs", updated, cursor=("contacts", {"after": "t2"}))
    assert store.count("contacts", "hs") == 2
    [page] = list(store.contacts_with_events("hs"))
    first = next(c for c, _ in page if c.id == "1")
    assert first.profile == {"job_title": "CEO"}
    assert store.written_state("hs", ["1"])["1"].properties == {"leadscore_score": "40"}, "a hand edit is seen"
    assert store.cursor("hs", "contacts") == {"after": "t2"}


def test_a_page_that_repeats_a_contact_keeps_the_last_copy(store: SQLStore) -> None:
    page = [*contacts("1"), Contact("hs", "1", "1@acme.example", {"job_title": "CTO"}, {})]
    assert store.save_contacts("hs", page) == 1
    [[(contact, _)]] = list(store.contacts_with_events("hs"))
    assert contact.profile == {"job_title": "CTO"}


def test_events_are_inserted_once_per_source_and_id(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1"))
    assert store.save_events("hs", events("1", "a", "b"), cursor=("web", 10)) == 2
    assert store.save_events("hs", events("1", "a", "b", "c"), cursor=("web", 11)) == 1
    assert store.count("events", "hs") == 3
    assert store.cursor("hs", "web") == 11
    other_source = [Event("sf", "a", "1", "page_view", NOW, {})]
    assert store.save_events("sf", other_source) == 1


def test_replaying_a_page_changes_nothing(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1"))
    page = events("1", "a", "b")
    store.save_events("hs", page, cursor=("web", 5))
    store.save_scores("hs", [StoredScore("1", "lead", 10, 0, 10, "D", "New", "D-New", "", NOW)])
    assert store.save_events("hs", page, cursor=("web", 5)) == 0
    assert list(store.contacts_with_events("hs", only_queued=True)) == []


@contextlib.contextmanager
def sent_with_parameters(store: SQLStore) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of the SQL the store sends while the block runs."""
    sent: list[tuple[str, Any]] = []

    def record(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        sent.append((statement, parameters))

    event.listen(store.db, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.db, "before_cursor_execute", record)


@contextlib.contextmanager
def statements_run(store: SQLStore) -> Iterator[list[str]]:
    """The SQL the store sends while the block runs (on one line, lower case), filled in as it ends."""
    statements: list[str] = []
    with sent_with_parameters(store) as sent:
        yield statements
    statements.extend(" ".join(statement.split()).lower() for statement, _ in sent)


@contextlib.contextmanager
def sqlite_plans(store: SQLStore) -> Iterator[list[tuple[str, str]]]:
    """(statement, SQLite's plan for it) of each query the store sends while the block runs, filled in as it ends:
    which index a read goes through, and whether it sorts what it read (``USE TEMP B-TREE``)."""
    plans: list[tuple[str, str]] = []
    with sent_with_parameters(store) as sent:
        yield plans
    with store.db.connect() as connection:
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append((" ".join(statement.split()), " / ".join(str(row[-1]) for row in rows)))


def test_a_drain_pages_through_the_outbox_by_key_without_sorting_it(tmp_path: Path) -> None:
    """A gathering connector's drain reads the outbox a page at a time in planned order. Read through an index
    that does not hold that order, each page read and sorted every entry of the source after the last key: at
    200,000 entries, 3.1 s of reading where the keys' own order takes 1.4 s."""
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.enqueue([Change("br", str(n), SET_PROPERTIES, {"properties": {"score": n}}) for n in range(30)])
        with sqlite_plans(store) as plans:
            first = store.pending("br", 10, order="by_key")
            second = store.pending("br", 10, order="by_key", after=first[-1].key)
        assert [e.contact_id for e in first + second] == [str(n) for n in range(20)]
        reads = [plan for statement, plan in plans if "FROM outbox" in statement]
        assert len(reads) == 2
        assert all("USE TEMP B-TREE" not in plan and "id>?" in plan for plan in reads), reads
    finally:
        store.close()


def test_a_drain_of_webhook_bodies_resolves_and_stores_them_together(store: SQLStore) -> None:
    """Webhook bodies are drained 500 at a time, one event or two each. Resolved and inserted body by body, a
    drain took two statements a body (1,000 people engaged: 0.4 s of a cycle); a batch of bodies now takes one
    of each, and a body whose recipient is unknown still waits in the inbox on its own."""
    people = [Contact("br", str(n), f"p{n}@acme.example") for n in range(40)]
    store.save_contacts("br", people)
    bodies = [store.receive("br", {"n": n}) for n in range(41)]
    pages = [
        EventPage([], None, [(f"p{n}@acme.example", Event("br", f"e{n}", "", "email_click", NOW))]) for n in range(41)
    ]
    with statements_run(store) as sent:
        outcome = store.save_inbox_pages("br", pages, bodies)
    assert (outcome.added, outcome.unresolved, outcome.waiting) == (40, 1, 1)
    assert [body_id for body_id, _ in store.inbox("br", 100)] == [bodies[-1]], "the unknown recipient's body waits"
    assert len([s for s in sent if s.startswith("select contacts.email")]) == 1
    assert len([s for s in sent if s.startswith("insert into events")]) == 1
    assert store.count("events", "br") == 40
    with store.db.connect() as connection:
        owner = connection.execute(select(schema.events.c.contact_id).where(schema.events.c.event_id == "e7"))
        assert owner.scalar_one() == "7"


def test_a_re_read_of_unchanged_records_rewrites_no_row(store: SQLStore) -> None:
    """Platforms report every record leadscore wrote as modified, so a re-read is mostly records the store holds
    as they are: nothing of theirs is written again, while a changed one in the same page is saved as always."""
    shown = {"leadscore_score": "40"}
    mql = frozenset({"MQL"})
    page = [Contact("hs", cid, f"{cid}@acme.example", {"job_title": "VP"}, shown, mql) for cid in "123"]
    store.save_contacts("hs", page)
    store.save_scores("hs", [StoredScore(cid, "lead", 40, 0, 40, "D", "Warm", "D-Warm", "", NOW) for cid in "123"])
    with statements_run(store) as sent:
        store.save_contacts("hs", page)
    writes = [statement for statement in sent if statement.startswith(("insert into contacts", "insert into written"))]
    assert writes == []
    assert queued(store) == []

    edited = [
        page[0],
        Contact("hs", "2", "2@acme.example", {"job_title": "CEO"}, shown, mql),
        Contact("hs", "3", "3@acme.example", {"job_title": "VP"}, {"leadscore_score": "99"}, frozenset({"SQL"})),
    ]
    store.save_contacts("hs", edited)
    assert queued(store) == ["2", "3"], "a profile edit and a hand edit of leadscore's property are seen"
    [stored_page] = list(store.contacts_with_events("hs"))
    assert {c.id: c.profile["job_title"] for c, _ in stored_page} == {"1": "VP", "2": "CEO", "3": "VP"}
    assert store.written_state("hs", ["3"])["3"] == WrittenState({"leadscore_score": "99"}, frozenset({"SQL"}))


def test_a_re_read_looks_up_the_persons_of_new_and_changed_emails_only(store: SQLStore) -> None:
    """Every record of a re-read page used to have its person looked up by email (an insert of each email and a
    read back); a record showing the email the store holds keeps its person."""

    def persons() -> dict[str, int]:
        c = schema.contacts
        with store.db.connect() as connection:
            return dict(connection.execute(select(c.c.contact_id, c.c.person_id).where(c.c.source == "hs")).all())

    store.save_contacts("hs", [Contact("hs", cid, f"{cid}@acme.example") for cid in "123"])
    before = persons()
    with statements_run(store) as sent:
        store.save_contacts("hs", [Contact("hs", cid, f"{cid}@acme.example") for cid in "123"])
    assert [statement for statement in sent if "persons" in statement] == []
    store.save_contacts("hs", [Contact("hs", "1", "1@acme.example"), Contact("hs", "2", "two@acme.example")])
    after = persons()
    assert after["1"] == before["1"]
    assert after["2"] not in before.values()
    assert after["3"] == before["3"]


def test_new_events_mark_only_their_contacts_for_rescoring(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1", "2", "3"))
    store.save_scores(
        "hs", [StoredScore(cid, "lead", 0, 0, 0, "D", "New", "D-New", "", NOW) for cid in ("1", "2", "3")]
    )
    store.save_events("hs", events("2", "x"))
    dirty = [c.id for page in store.contacts_with_events("hs", only_queued=True) for c, _ in page]
    assert dirty == ["2"]


def test_contacts_stream_in_pages_with_their_own_events(store: SQLStore) -> None:
    ids = [f"{i:03d}" for i in range(25)]
    store.save_contacts("hs", contacts(*ids))
    for cid in ids:
        store.save_events("hs", events(cid, f"{cid}-1", f"{cid}-2"))
    pages = list(store.contacts_with_events("hs", page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    for page in pages:
        for contact, contact_events in page:
            assert sorted(row[0] for row in contact_events) == [f"{contact.id}-1", f"{contact.id}-2"]
            assert all(isinstance(row[2], int) for row in contact_events), "occurred_at as epoch ms"
            assert json.loads(contact_events[0][3]) == {"url": "/p"}, "attributes as the stored JSON text"


def test_deleted_and_merged_contacts_are_not_scored(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1", "2", "3"))
    store.mark_contacts("hs", ["1"], deleted=True)
    store.mark_contacts("hs", ["2"], merged_into="3")
    assert [c.id for page in store.contacts_with_events("hs") for c, _ in page] == ["3"]


def queued(store: SQLStore) -> list[str]:
    return [c.id for page in store.contacts_with_events("hs", only_queued=True) for c, _ in page]


def test_deleted_and_merged_contacts_leave_the_rescore_queue(store: SQLStore) -> None:
    """A contact that is gone is never scored again, so its mark must not linger in the queue."""
    store.save_contacts("hs", contacts("1", "2", "3"))
    store.mark_contacts("hs", ["1"], deleted=True)
    store.save_scores("hs", [], ["3"])
    store.merge_contact("hs", "2", "3")
    assert queued(store) == ["3"], "the survivor is queued: the loser's history is now its own"
    assert store.count("rescore_queue", "hs") == 1
    store.save_events("hs", events("1", "late"))
    assert store.count("rescore_queue", "hs") == 2, "an event for a deleted contact queues it"
    assert store.forget_gone_in_queue("hs") == 1
    assert queued(store) == ["3"]
    assert store.count("rescore_queue", "hs") == 1


def test_marking_twice_queues_a_contact_once_and_scoring_clears_it(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1", "2"))
    store.save_scores("hs", [], ["1", "2"])
    assert queued(store) == []
    store.mark_for_rescore("hs", ["2", "2"])
    store.save_events("hs", events("2", "a"))
    assert queued(store) == ["2"]
    store.save_scores("hs", [StoredScore("2", "lead", 5, 0, 5, "D", "New", "D-New", "", NOW)])
    assert queued(store) == []
    assert store.count("rescore_queue") == 0


def test_email_events_find_only_live_contacts_of_their_source(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1", "2"))
    store.save_contacts("sf", [Contact("sf", "003X", "1@acme.example", {}, {})])
    store.mark_contacts("hs", ["2"], deleted=True)
    found = store.contact_ids_by_email("hs", ["1@acme.example", "2@acme.example", "nobody@acme.example"])
    assert found == {"1@acme.example": "1"}


def test_contacts_sharing_an_email_across_sources_are_one_person(store: SQLStore) -> None:
    store.save_contacts("hs", [Contact("hs", "1", "pat@acme.example", {}, {})])
    store.save_contacts("sf", [Contact("sf", "003X", "pat@acme.example", {}, {})])
    store.save_contacts("brevo", [Contact("brevo", "9", "other@acme.example", {}, {})])
    assert store.count("persons") == 2


def test_scores_round_trip(store: SQLStore) -> None:
    store.save_contacts("hs", contacts("1"))
    score = StoredScore("1", "lead", 55, 20.0, 35.5, "B", "MQL", "B-MQL", "+30 pricing page (1d)", NOW)
    store.save_scores("hs", [score])
    assert store.top_scores("hs", "lead", 10) == [(score, "1@acme.example")]
    shown = VisibleScore(55, "B", "MQL", "B-MQL", score.reasons)
    assert store.visible_scores("hs", ["1", "2"]) == {("1", "lead"): shown}


def test_outbox_acknowledge_moves_changes_into_written_state(store: SQLStore) -> None:
    ids = store.enqueue(
        [
            Change("hs", "1", SET_PROPERTIES, {"leadscore_score": 55, "leadscore_band": "MQL"}),
            Change("hs", "1", LIST_ADD, {"list": "MQL"}),
            Change("hs", "2", LIST_ADD, {"list": "New"}),
        ]
    )
    assert len(ids) == 3
    assert store.outbox_depth("hs") == 3
    pending = store.pending("hs", limit=10)
    assert [(e.change.kind, e.change.contact_id) for e in pending] == [
        (LIST_ADD, "1"),
        (LIST_ADD, "2"),
        (SET_PROPERTIES, "1"),
    ], "grouped by kind and list, so one call carries one list's members"
    store.acknowledge([e for e in pending if e.change.contact_id == "1"])
    assert store.outbox_depth("hs") == 1
    state = store.written_state("hs", ["1", "2"])
    assert state["1"].properties == {"leadscore_score": 55, "leadscore_band": "MQL"}
    assert state["1"].lists == frozenset({"MQL"})
    assert "2" not in state
    store.enqueue([Change("hs", "1", LIST_REMOVE, {"list": "MQL"}), Change("hs", "1", LIST_ADD, {"list": "SQL"})])
    store.acknowledge([e for e in store.pending("hs", 10) if e.change.contact_id == "1"])
    assert store.written_state("hs", ["1"])["1"].lists == frozenset({"SQL"})


def test_set_aside_changes_wait_for_their_backoff(store: SQLStore) -> None:
    [entry_id] = store.enqueue([Change("hs", "404", SET_PROPERTIES, {"leadscore_score": 1})])
    store.set_aside(entry_id, "OBJECT_NOT_FOUND: contact deleted", NOW + timedelta(hours=1))
    assert store.pending("hs", 10, now=NOW) == []
    [due] = store.pending("hs", 10, now=NOW + timedelta(hours=2))
    assert due.attempts == 1
    [(entry, reason)] = store.set_aside_entries("hs")
    assert entry.key == entry_id
    assert reason == "OBJECT_NOT_FOUND: contact deleted"
    store.discard([entry_id])
    assert store.outbox_depth("hs") == 0


def test_runs_are_recorded(store: SQLStore) -> None:
    run_id = store.start_run("hs")
    assert store.last_run("hs") == ("running", {})
    store.finish_run(run_id, "ok", {"contacts_read": 3})
    assert store.last_run("hs") == ("ok", {"contacts_read": 3})
    assert store.last_run("other") is None


@pytest.mark.parametrize("value", [{"after": "2026-11-01T00:00:00Z", "ids": ["1", "2"]}, 12345, "opaque-token"])
def test_cursor_values_keep_their_shape(store: SQLStore, value: object) -> None:
    store.set_cursor("hs", "contacts", value)
    assert store.cursor("hs", "contacts") == value


@pytest.mark.parametrize("memory", [DAEMON_MEMORY, SCORING_MEMORY])
def test_sqlite_memory_is_bounded_for_the_whole_process(tmp_path: Path, memory: SQLiteMemory) -> None:
    """Each pooled connection keeps its own page cache; the soft heap limit caps them together, so the daemon's
    memory does not grow with the store file (bench/RESULTS.md, sync memory)."""
    store = SQLStore.open(f"sqlite:///{tmp_path / 'bounded.db'}", sqlite_memory=memory)
    try:
        with store.db.connect() as first, store.db.connect() as second:
            for connection in (first, second):
                assert connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == memory.heap_limit_bytes
                assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -memory.page_cache_kib
    finally:
        store.close()


def test_the_daemon_bounds_sqlite_lower_than_its_scoring_workers(tmp_path: Path) -> None:
    """The daemon's own memory must stay flat as the account grows; the workers, a fixed number, read at random."""
    assert DAEMON_MEMORY.heap_limit_bytes < SCORING_MEMORY.heap_limit_bytes
    store = SQLStore.open(f"sqlite:///{tmp_path / 'daemon.db'}")
    try:
        with store.db.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == DAEMON_MEMORY.heap_limit_bytes
    finally:
        store.close()


def test_a_pulled_profile_compares_as_the_store_gives_it_back(store: SQLStore) -> None:
    """Plain values are compared as they are; others as their JSON form (a tuple as a list), so a record re-read
    with such values is not taken for a changed one."""
    plain = {"job_title": "VP", "employees": 40, "revenue": 1.5, "opted_in": True, "region": None}
    odd = {"tags": ("a", "b")}
    assert as_json(plain) == plain
    assert as_json(odd) == {"tags": ["a", "b"]}
    page = [Contact("hs", "1", "1@acme.example", plain), Contact("hs", "2", "2@acme.example", odd)]
    store.save_contacts("hs", page)
    store.save_scores("hs", [StoredScore(cid, "lead", 0, 0, 0, "D", "New", "D-New", "", NOW) for cid in "12"])
    store.save_contacts("hs", page)
    assert queued(store) == []
