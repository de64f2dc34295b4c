"""Scoring a range of the store's contacts, page by page: what one process does, alone or as a worker.

Each page is read, scored with every model and handed to the page hook (which
plans its writes); then the planned changes, the page's scores and the end of
its contacts' rescore marks are committed in one transaction, so a crash leaves
the page either wholly done or wholly to do.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from leadscore.engine import Engine, Reasons, render_reasons, top_contributions
from leadscore.errors import CycleInterruptedError
from leadscore.people import LinkedRecord, PeopleScope, PersonView, assemble, score_person
from leadscore.records import Change, Contact, EventRow, FieldProblem, ScoreResult
from leadscore.store import Store, StoredScore, VisibleScore

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ScoredContact(NamedTuple):
    """A contact's result per model, with each result's reasons text rendered once for the store and the planner."""

    contact: Contact
    results: list[ScoreResult]
    reasons: list[Reasons]


ScoredPage = list[ScoredContact]
IdRange = tuple[str, str | None]
"""Contact ids above the first, up to the second (None: no upper end)."""
FEWER_GC_PASSES = 200_000
PROBLEMS_KEPT = 1_000
DUPLICATES_KEPT = 100


class PageHook(Protocol[T_co]):
    """Runs on each scored page before anything of it is saved, in whichever process scored it.

    The changes it appends to ``outbox`` are enqueued in the transaction that saves
    the page's scores. A hook given to a parallel rescore is pickled into every
    worker, so it holds data, not open connections; it gets that process's store
    (to read written state) with each page.
    """

    def __call__(self, store: Store, page: ScoredPage, outbox: list[Change]) -> T_co: ...


@dataclass(slots=True)
class RescoreReport(Generic[T]):
    contacts: int = 0
    events: int = 0
    unmatched_actions: Counter[str] = field(default_factory=Counter)
    workers: int = 1
    """Processes that scored (1: the caller's own)."""
    pages: list[T] = field(default_factory=list)
    """What the page hook returned for each page, in id order."""
    unreadable: list[tuple[str, FieldProblem]] = field(default_factory=list)
    """(contact id, problem) for profile values not of their field's type, the first PROBLEMS_KEPT of them."""
    linked: int = 0
    """Records of other sources given the score of a person scored here."""
    folded: int = 0
    """Events counted once because two platforms reported the same action."""
    duplicates: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """(contact id, the other ids of the same source that share its person), the first DUPLICATES_KEPT."""

    def merge(self, other: RescoreReport[T]) -> None:
        self.contacts += other.contacts
        self.linked += other.linked
        self.folded += other.folded
        self.duplicates.extend(other.duplicates[: max(0, DUPLICATES_KEPT - len(self.duplicates))])
        self.events += other.events
        self.unmatched_actions.update(other.unmatched_actions)
        self.pages.extend(other.pages)
        self.unreadable.extend(other.unreadable[: max(0, PROBLEMS_KEPT - len(self.unreadable))])


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """What scoring any range of one rescore needs; pickled once per rescore for the workers."""

    source: str
    engines: Sequence[Engine]
    now: datetime
    only_queued: bool
    page_size: int
    on_page: PageHook[T] | None
    persist: bool
    people: PeopleScope | None = None
    """The people group the source belongs to; None scores each record on its own."""


HISTORY_CONTRIBUTIONS = 5
"""Contributions kept with each score-history row: what moved the score, not the whole explain table."""


def to_stored(
    result: ScoreResult,
    reasons: Reasons,
    now: datetime,
    engine: Engine,
    source: str = "",
    first_event_ms: int | None = None,
) -> StoredScore:
    return StoredScore(
        contact_id=result.contact_id,
        model=result.model,
        score=result.score,
        fit=result.fit,
        behaviour=result.behaviour,
        grade=result.grade,
        band=result.band,
        label=result.label,
        reasons=reasons.text,
        scored_at=now,
        source=source,
        model_version=engine.version,
        contributions=tuple(
            (c.reason, round(c.points, 1)) for c in top_contributions(result, HISTORY_CONTRIBUTIONS) if c.points
        ),
        first_event_ms=first_event_ms,
    )


def first_event_ms(rows: Sequence[EventRow]) -> int | None:
    return min((row[2] for row in rows), default=None)


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Scoring allocates millions of short-lived, acyclic objects; Python's default
    young-generation threshold (700) makes the cyclic collector rescan them over and
    over, which measured as a third of rescore time. Reference counting frees them
    anyway, so collect less often for the duration."""
    previous = gc.get_threshold()
    gc.set_threshold(FEWER_GC_PASSES, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _visible(score: StoredScore) -> VisibleScore:
    """What a person sees on the record; a stored score is rewritten only when this changes."""
    return VisibleScore(score.score, score.grade, score.band, score.label, score.reasons)


def score_range(
    store: Store, job: Job[T], ids: IdRange, report: RescoreReport[T], should_stop: Callable[[], bool]
) -> None:
    """Score, plan and save every page of contacts in ``ids``; ``should_stop`` is asked before each page.

    In a people group, a contact is scored as its person (every linked record's profile and events), and the
    person's score is also saved and planned for its records in the group's other sources, in the same
    transaction as the page."""
    after, upto = ids
    pages = store.contacts_with_events(
        job.source, only_queued=job.only_queued, page_size=job.page_size, after=after, upto=upto
    )
    people = job.people if job.people is not None and job.source in job.people.sources else None
    for page in pages:
        if should_stop():
            raise CycleInterruptedError(f"source {job.source}: scoring stopped between pages")
        page_ids = [contact.id for contact, _ in page]
        previous = store.visible_scores(job.source, page_ids)
        views, others, marks = (
            _person_views(store, job.source, page, people, report) if people is not None else ({}, {}, {})
        )
        stored: list[StoredScore] = []
        scored_page: ScoredPage = []
        elsewhere: dict[tuple[str, str], tuple[LinkedRecord, ScoredContact, int | None]] = {}
        for contact, events in page:
            report.contacts += 1
            report.events += len(events)
            view = views.get(contact.id)
            first = first_event_ms(view.rows if view is not None else events)
            results = []
            texts = []
            for engine in job.engines:
                last = previous.get((contact.id, engine.name))
                band = last.band if last else None
                if view is None or people is None:
                    result = engine.score_rows(contact, events, job.now, previous_band=band)
                else:
                    result = score_person(engine, view, people, job.now, band)
                if result.unmatched_actions:
                    report.unmatched_actions.update(result.unmatched_actions)
                if result.problems and len(report.unreadable) < PROBLEMS_KEPT and engine is job.engines[0]:
                    report.unreadable.extend((contact.id, problem) for problem in result.problems)
                rendered = render_reasons(result, job.now, engine.model.top_reasons)
                results.append(result)
                texts.append(rendered)
                fresh = to_stored(result, rendered, job.now, engine, first_event_ms=first)
                if last is None or last != _visible(fresh):
                    stored.append(fresh)
            scored = ScoredContact(contact, results, texts)
            scored_page.append(scored)
            for record in others.get(contact.id, ()):
                elsewhere.setdefault((record.source, record.contact_id), (record, scored, first))
        stored.extend(_fan_out(store, job, elsewhere, scored_page, report))
        outbox: list[Change] = []
        if job.on_page is not None:
            report.pages.append(job.on_page(store, scored_page, outbox))
        if job.persist:
            settled = [
                (source, contact_id, marks[source, contact_id])
                for source, contact_id in elsewhere
                if (source, contact_id) in marks
            ]
            store.save_scored_page(job.source, stored, page_ids, outbox, settled)


def _person_views(
    store: Store, source: str, page: list[tuple[Contact, list[EventRow]]], people: PeopleScope, report: RescoreReport[T]
) -> tuple[dict[str, PersonView], dict[str, list[LinkedRecord]], dict[tuple[str, str], int]]:
    """Each page contact that shares a person with other records: the person to score, those of the person's
    records that are not on this page (they get the person's score from here), and those records' rescore marks."""
    on_page = {contact.id: events for contact, events in page}
    linked = store.linked_records(source, list(on_page), people.sources)
    contacts = {contact.id: contact for contact, _ in page}
    views: dict[str, PersonView] = {}
    others: dict[str, list[LinkedRecord]] = {}
    persons_seen: set[int] = set()
    for contact_id, person in linked.person_of.items():
        records = [
            replace(r, events=on_page[r.contact_id]) if r.source == source and r.contact_id in on_page else r
            for r in linked.records[person]
        ]
        views[contact_id] = view = assemble(contacts[contact_id], records, people)
        report.folded += view.folded
        others[contact_id] = [r for r in records if r.source != source or r.contact_id not in on_page]
        twins = tuple(r.contact_id for r in records if r.source == source and r.contact_id != contact_id)
        if twins and len(report.duplicates) < DUPLICATES_KEPT:
            report.duplicates.append((contact_id, twins))
        if person not in persons_seen:
            persons_seen.add(person)
            report.duplicates.extend(_duplicates_elsewhere(source, records)[: DUPLICATES_KEPT - len(report.duplicates)])
    return views, others, linked.marks


def _duplicates_elsewhere(source: str, records: list[LinkedRecord]) -> list[tuple[str, tuple[str, ...]]]:
    """A person's duplicates in the group's other sources, named with their source: their own cycles may not
    score them (this one did), so this cycle's report lists them."""
    by_source: dict[str, list[str]] = {}
    for record in records:
        if record.source != source:
            by_source.setdefault(record.source, []).append(f"{record.source} {record.contact_id}")
    return [(ids[0], tuple(ids[1:])) for ids in by_source.values() if len(ids) > 1]


def _fan_out(
    store: Store,
    job: Job[T],
    elsewhere: dict[tuple[str, str], tuple[LinkedRecord, ScoredContact, int | None]],
    scored_page: ScoredPage,
    report: RescoreReport[T],
) -> list[StoredScore]:
    """A person's results given to their records outside the page: added to the page for planning, and their
    changed scores returned for saving."""
    by_source: dict[str, list[str]] = {}
    for source, contact_id in elsewhere:
        by_source.setdefault(source, []).append(contact_id)
    previous = {
        (source, contact_id, model): visible
        for source, ids in by_source.items()
        for (contact_id, model), visible in store.visible_scores(source, ids).items()
    }
    stored: list[StoredScore] = []
    for (source, contact_id), (record, scored, first) in elsewhere.items():
        given = [replace(result, contact_id=contact_id) for result in scored.results]
        for engine, result, rendered in zip(job.engines, given, scored.reasons, strict=True):
            fresh = to_stored(result, rendered, job.now, engine, source, first)
            last = previous.get((source, contact_id, engine.name))
            if last is None or last != _visible(fresh):
                stored.append(fresh)
        scored_page.append(
            ScoredContact(Contact(source, contact_id, record.email, record.profile), given, scored.reasons)
        )
        report.linked += 1
    return stored
