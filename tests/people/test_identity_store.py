"""Who a person is changes (an email edit, a deletion, a merge, a new identity rule): every record of every
person it touches is queued for a rescore, on both backends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from leadscore.records import Contact
from leadscore.store import SQLStore, schema
from tests.store.test_store import sqlite_plans, statements_run

SOURCES = ("hubspot", "brevo", "salesforce")


def queued(store: SQLStore) -> set[tuple[str, str]]:
    q = schema.rescore_queue
    with store.db.connect() as connection:
        return {(s, i) for s, i in connection.execute(select(q.c.source, q.c.contact_id))}


def clear_queue(store: SQLStore) -> None:
    with store.db.begin() as connection:
        connection.execute(schema.rescore_queue.delete())


def person(store: SQLStore, source: str, contact_id: str) -> int | None:
    c = schema.contacts
    with store.db.connect() as connection:
        return connection.execute(
            select(c.c.person_id).where(c.c.source == source, c.c.contact_id == contact_id)
        ).scalar_one()


def seed(store: SQLStore) -> None:
    store.save_contacts("hubspot", [Contact("hubspot", "h1", "ann@acme.example"), Contact("hubspot", "h2", None)])
    store.save_contacts("brevo", [Contact("brevo", "b1", "ann@acme.example")])
    store.save_contacts("salesforce", [Contact("salesforce", "s1", "ANN@acme.example ".strip().lower())])
    clear_queue(store)


def test_an_email_change_queues_the_person_the_record_left(store: SQLStore) -> None:
    seed(store)
    store.save_contacts("brevo", [Contact("brevo", "b1", "ann.new@acme.example")])
    assert queued(store) == {("brevo", "b1"), ("hubspot", "h1"), ("salesforce", "s1")}
    assert person(store, "brevo", "b1") != person(store, "hubspot", "h1")


def test_an_unchanged_email_queues_only_the_record_itself(store: SQLStore) -> None:
    seed(store)
    store.save_contacts("brevo", [Contact("brevo", "b1", "ann@acme.example", {"job_title": "VP"})])
    assert queued(store) == {("brevo", "b1")}


def test_a_record_losing_its_email_leaves_its_person(store: SQLStore) -> None:
    seed(store)
    store.save_contacts("brevo", [Contact("brevo", "b1", None)])
    assert person(store, "brevo", "b1") is None
    assert queued(store) == {("brevo", "b1"), ("hubspot", "h1"), ("salesforce", "s1")}


def test_a_deletion_queues_the_person_s_other_records(store: SQLStore) -> None:
    seed(store)
    store.mark_contacts("hubspot", ["h1"], deleted=True)
    assert queued(store) == {("brevo", "b1"), ("salesforce", "s1")}


def test_a_merge_queues_the_survivor_and_the_loser_s_person(store: SQLStore) -> None:
    seed(store)
    store.save_contacts("hubspot", [Contact("hubspot", "h3", "bob@acme.example")])
    clear_queue(store)
    store.merge_contact("hubspot", "h1", "h3")
    assert queued(store) == {("hubspot", "h3"), ("brevo", "b1"), ("salesforce", "s1")}


def test_folding_plus_addressing_relinks_every_record_once(store: SQLStore) -> None:
    store.save_contacts("hubspot", [Contact("hubspot", "h1", "ann+news@acme.example")])
    store.save_contacts("brevo", [Contact("brevo", "b1", "ann@acme.example")])
    clear_queue(store)
    assert person(store, "hubspot", "h1") != person(store, "brevo", "b1")
    assert store.use_identity(True) == 1
    assert person(store, "hubspot", "h1") == person(store, "brevo", "b1")
    assert queued(store) == {("hubspot", "h1"), ("brevo", "b1")}
    clear_queue(store)
    assert store.use_identity(True) == 0, "the same rule again changes nothing"
    assert queued(store) == set()
    reopened = SQLStore.open(store.db.url.render_as_string(hide_password=False))
    try:
        reopened.save_contacts("salesforce", [Contact("salesforce", "s1", "ann+crm@acme.example")])
        assert person(reopened, "salesforce", "s1") == person(store, "brevo", "b1"), "another process folds too"
    finally:
        reopened.close()
    assert store.use_identity(False) == 2
    assert person(store, "hubspot", "h1") != person(store, "brevo", "b1")


def test_a_group_change_queues_every_live_record_of_the_source_once(store: SQLStore) -> None:
    seed(store)
    assert store.scope_changed("hubspot", "") is False, "a source never in a group has nothing to redo"
    assert store.scope_changed("hubspot", "abc", remember=False) is True
    assert queued(store) == set(), "only telling changes nothing"
    assert store.scope_changed("hubspot", "abc") is True
    assert queued(store) == {("hubspot", "h1"), ("hubspot", "h2")}
    assert store.scope_changed("hubspot", "abc") is False
    assert store.scope_changed("hubspot", "") is True, "leaving the group is a change too"


def test_a_mark_is_cleared_for_another_source_only_if_nothing_marked_it_since_it_was_read(store: SQLStore) -> None:
    seed(store)
    store.mark_for_rescore("brevo", ["b1"])
    store.mark_for_rescore("salesforce", ["s1"])
    read = store.linked_records("hubspot", ["h1"], SOURCES)
    assert set(read.marks) == {("brevo", "b1"), ("salesforce", "s1")}
    store.mark_for_rescore("salesforce", ["s1"])  # new data for s1 after the read
    settled = [(source, contact_id, version) for (source, contact_id), version in read.marks.items()]
    store.save_scored_page("hubspot", [], ["h1"], [], settled)
    assert queued(store) == {("salesforce", "s1")}, "b1 was scored from what was read; s1 changed since"


def test_the_marks_a_scored_page_settles_are_cleared_in_one_statement(store: SQLStore) -> None:
    """A person's page settles the marks of every linked record it read; a statement each made scoring 100,000
    people as slow as its per-record round trips. Only the marks still at the version read are cleared."""
    people = 60
    for source in SOURCES:
        store.save_contacts(
            source, [Contact(source, f"{source[0]}{n}", f"person{n}@acme.example") for n in range(people)]
        )
    read = store.linked_records("hubspot", [f"h{n}" for n in range(people)], SOURCES)
    assert len(read.marks) == 2 * people
    store.mark_for_rescore("brevo", ["b7"])  # new data after the read
    settled = [(source, contact_id, version) for (source, contact_id), version in read.marks.items()]
    with statements_run(store) as sent:
        store.save_scored_page("hubspot", [], [f"h{n}" for n in range(people)], [], settled)
    deletes = [statement for statement in sent if statement.startswith("delete from rescore_queue")]
    assert len(deletes) <= 2, f"{len(deletes)} deletes for {len(settled)} marks"
    assert queued(store) == {("brevo", "b7")}


def test_a_page_s_linked_records_are_found_through_the_person_index(tmp_path: Path) -> None:
    """Scoring a page of people reads their records and rescore marks in every source of the group. Filtered by
    person and by the group's sources, SQLite chose the sources' index and read every record of the group for
    each page (half a second at 20,000 records a source, growing with the account); found by person, a page
    reads only its people's rows."""
    store = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        people = 300
        for source in SOURCES:
            store.save_contacts(
                source, [Contact(source, f"{source[0]}{n}", f"person{n}@acme.example") for n in range(people)]
            )
        store.mark_for_rescore("brevo", ["b1"])
        with sqlite_plans(store) as plans:
            read = store.linked_records("hubspot", [f"h{n}" for n in range(200)], SOURCES)
        assert len(read.records) == 200
        assert ("brevo", "b1") in read.marks
        by_person = [plan for statement, plan in plans if "person_id IN (" in statement]
        assert len(by_person) == 2, "the records and their marks"
        assert all("INDEX ix_contacts_person" in plan and "ix_contacts_email" not in plan for plan in by_person), plans
    finally:
        store.close()
