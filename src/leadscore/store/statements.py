"""The store's per-page statements, built once per dialect with bound parameters.

A SQLAlchemy statement built afresh holds its values (an IN list of a page's
contact ids, say) inside reference cycles of column proxies, which only the
cyclic collector frees. Scoring raises the collector's threshold, so a statement
per page kept dozens of pages' ids alive and the process grew with the account
(bench/RESULTS.md, "Where the sync's memory grows"). Statements built here once
hold no values: each call passes them as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Text, and_, bindparam, case, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from leadscore.store import schema

SCORE_COLUMNS = ("score", "fit", "behaviour", "grade", "band", "label", "reasons", "scored_at")
CONTACT_COLUMNS = ("person_id", "email", "profile", "deleted", "merged_into", "updated_at")


def _ids(name: str = "p_ids") -> Any:
    return bindparam(name, expanding=True)


def insert_for(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, the one that knows ON CONFLICT."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _upsert(dialect: str, table: Any, keys: list[str], columns: tuple[str, ...]) -> Any:
    statement = insert_for(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


def _upsert_contacts(dialect: str) -> Any:
    """Upsert contacts, keeping ``updated_at`` when neither the profile nor the email changed: a record re-read
    only because leadscore wrote its score is not newer, and "the most recently updated record" decides a person's
    profile fields."""
    c = schema.contacts
    statement = insert_for(dialect, c)
    new = statement.excluded
    same = and_(cast(c.c.profile, Text) == cast(new.profile, Text), c.c.email.is_not_distinct_from(new.email))
    columns = {name: new[name] for name in CONTACT_COLUMNS if name != "updated_at"}
    return statement.on_conflict_do_update(
        index_elements=["source", "contact_id"],
        set_={**columns, "updated_at": case((same, c.c.updated_at), else_=new.updated_at)},
    )


def _insert_ignore(dialect: str, table: Any, keys: list[str]) -> Any:
    return insert_for(dialect, table).on_conflict_do_nothing(index_elements=keys)


def _alive() -> list[Any]:
    """A contact neither deleted nor merged away: the only kind that is scored, written or matched by email."""
    c = schema.contacts
    return [c.c.deleted.is_(False), c.c.merged_into.is_(None)]


def score_columns() -> tuple[Any, ...]:
    """What a stored score is read as (StoredScore's fields, in order)."""
    s = schema.scores
    return (s.c.contact_id, s.c.model, *(s.c[name] for name in SCORE_COLUMNS))


@dataclass(frozen=True)
class Statements:
    """Every statement takes ``p_source`` (where it has a source) and ``p_ids`` (a list, where it filters by ids)."""

    events_in_range: Any
    events_of_ids: Any
    visible_scores_of_ids: Any
    upsert_scores: Any
    unqueue: Any
    settle_mark: Any
    unqueue_gone: Any
    enqueue_rescore: Any
    upsert_contacts: Any
    stored_contacts_of_ids: Any
    upsert_observed: Any
    insert_persons: Any
    persons_of_emails: Any
    live_contacts_of_emails: Any
    insert_events: Any
    written_of_ids: Any
    upsert_written: Any
    delete_outbox_ids: Any
    insert_outbox: Any
    upsert_cursor: Any


@cache
def statements_for(dialect: str) -> Statements:
    c, e, s, w, o = schema.contacts, schema.events, schema.scores, schema.written, schema.outbox
    q = schema.rescore_queue
    source: Any = bindparam("p_source")
    event_rows = select(e.c.contact_id, e.c.event_id, e.c.action, e.c.occurred_at_ms, cast(e.c.attributes, Text))
    return Statements(
        events_in_range=event_rows.where(
            e.c.source == source, e.c.contact_id >= bindparam("p_first"), e.c.contact_id <= bindparam("p_last")
        ),
        events_of_ids=event_rows.where(e.c.source == source, e.c.contact_id.in_(_ids())),
        visible_scores_of_ids=select(
            s.c.contact_id, s.c.model, s.c.score, s.c.grade, s.c.band, s.c.label, s.c.reasons
        ).where(s.c.source == source, s.c.contact_id.in_(_ids())),
        upsert_scores=_upsert(dialect, s, ["source", "contact_id", "model"], SCORE_COLUMNS),
        unqueue=delete(q).where(q.c.source == source, q.c.contact_id.in_(_ids())),
        settle_mark=delete(q).where(
            q.c.source == source, q.c.contact_id == bindparam("p_id"), q.c.version == bindparam("p_version")
        ),
        enqueue_rescore=_upsert(dialect, q, ["source", "contact_id"], ("version",)),
        unqueue_gone=delete(q).where(
            q.c.source == source,
            ~select(c.c.contact_id)
            .where(c.c.source == q.c.source, c.c.contact_id == q.c.contact_id, *_alive())
            .exists(),
        ),
        upsert_contacts=_upsert_contacts(dialect),
        stored_contacts_of_ids=select(
            c.c.contact_id, c.c.email, c.c.profile, c.c.deleted, c.c.merged_into, c.c.person_id
        ).where(c.c.source == source, c.c.contact_id.in_(_ids())),
        upsert_observed=_upsert(dialect, w, ["source", "contact_id"], ("properties", "written_at")),
        insert_persons=_insert_ignore(dialect, schema.persons, ["email"]),
        persons_of_emails=select(schema.persons.c.email, schema.persons.c.id).where(
            schema.persons.c.email.in_(_ids("p_emails"))
        ),
        live_contacts_of_emails=select(c.c.email, c.c.contact_id).where(
            c.c.source == source, c.c.email.in_(_ids("p_emails")), *_alive()
        ),
        insert_events=_insert_ignore(dialect, e, ["source", "event_id"]).returning(e.c.contact_id),
        written_of_ids=select(w.c.contact_id, w.c.properties, w.c.lists).where(
            w.c.source == source, w.c.contact_id.in_(_ids())
        ),
        upsert_written=_upsert(dialect, w, ["source", "contact_id"], ("properties", "lists", "written_at")),
        delete_outbox_ids=delete(o).where(o.c.id.in_(_ids())),
        insert_outbox=o.insert().returning(o.c.id),
        upsert_cursor=_upsert(dialect, schema.cursors, ["source", "stream"], ("value", "updated_at")),
    )


@cache
def pending_query(order: str, one_kind: bool) -> Any:
    """Due outbox entries with each contact's email; takes ``p_source``, ``p_now``, ``p_limit`` (and ``p_kind``;
    ``by_key`` also ``p_after``, the last key of the page before)."""
    o = schema.outbox
    groupings = {
        "by_list": (o.c.kind, o.c.target, o.c.id),
        "by_key": (o.c.id,),
    }
    query = (
        _outbox_entries()
        .where(o.c.source == bindparam("p_source"), (o.c.not_before.is_(None)) | (o.c.not_before <= bindparam("p_now")))
        .order_by(*groupings[order])
        .limit(bindparam("p_limit"))
    )
    if order == "by_key":
        query = query.where(o.c.id > bindparam("p_after"))
    return query.where(o.c.kind == bindparam("p_kind")) if one_kind else query


@cache
def outbox_entries_query() -> Any:
    """The outbox entries of ``p_source`` with the keys ``p_keys``, each with its contact's email, in planned
    order (a record's acknowledged changes fold into its written state in that order)."""
    o = schema.outbox
    return (
        _outbox_entries()
        .where(o.c.source == bindparam("p_source"), o.c.id.in_(bindparam("p_keys", expanding=True)))
        .order_by(o.c.id)
    )


def _outbox_entries() -> Any:
    o, c = schema.outbox, schema.contacts
    return select(o.c.id, o.c.contact_id, o.c.kind, o.c.payload, o.c.attempts, c.c.email).outerjoin(
        c, (c.c.source == o.c.source) & (c.c.contact_id == o.c.contact_id)
    )


def _live(only_queued: bool) -> tuple[Any, list[Any]]:
    """Live contacts of ``p_source`` (only those in the rescore queue, when asked), and the id column to order by.

    Queued contacts are ordered by the queue's own key, so the database walks the
    small queue and looks each contact up, rather than walking every contact."""
    c, q = schema.contacts, schema.rescore_queue
    conditions = _alive()
    if not only_queued:
        return c.c.contact_id, [c.c.source == bindparam("p_source"), *conditions]
    joined = [q.c.source == bindparam("p_source"), c.c.source == q.c.source, c.c.contact_id == q.c.contact_id]
    return q.c.contact_id, [*joined, *conditions]


@cache
def contacts_page(only_queued: bool, bounded: bool) -> Any:
    """Live contacts after ``p_after`` (up to ``p_upto`` when bounded), ``p_limit`` of them, in id order."""
    c = schema.contacts
    key, conditions = _live(only_queued)
    query = (
        select(key, c.c.email, c.c.profile)
        .where(*conditions, key > bindparam("p_after"))
        .order_by(key)
        .limit(bindparam("p_limit"))
    )
    return query.where(key <= bindparam("p_upto")) if bounded else query


@cache
def page_ends(only_queued: bool) -> Any:
    """The id that ends each full page of ``p_size`` live contacts, counted in the database (no ids travel).

    Queued contacts are counted in the queue alone: looking each one up to see that it is live would read every
    queued contact twice. Gone contacts leave the queue, so a page is seldom short of live ones."""
    if only_queued:
        q = schema.rescore_queue
        key, conditions = q.c.contact_id, [q.c.source == bindparam("p_source")]
    else:
        key, conditions = _live(False)
    numbered = (
        select(key.label("contact_id"), func.row_number().over(order_by=key).label("position"))
        .where(*conditions)
        .subquery()
    )
    return (
        select(numbered.c.contact_id)
        .where(numbered.c.position % bindparam("p_size") == 0)
        .order_by(numbered.c.contact_id)
    )
