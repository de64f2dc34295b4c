"""One sync cycle for one source (README, "The sync cycle"): pull, store, score, plan, outbox, apply.

The pipeline talks to a Connector and a store; it knows no platform by name.
Order matters for crash safety:
- the outbox is drained first, so changes planned before a crash go out before anything new (a gathering
  connector's is drained once, after scoring, its older changes first: it sends a drain's arrivals in few calls);
- each pulled page is one unit of work (its records, what they imply, its cursor), so a crash replays at most a page
  (the next page is read while one is saved; a page read and not saved is read again);
- each scored page is one unit of work (its planned changes, its scores, the end of its rescore marks);
- an entry leaves the outbox only when the platform acknowledged it, and what one apply answered is saved at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from leadscore.clock import utcnow
from leadscore.engine import Engine
from leadscore.errors import BudgetExhaustedError, CycleInterruptedError, LeadscoreError, StreamUnavailableError
from leadscore.people import PeopleScope
from leadscore.protocol import Connector, Gathering, Outcome, PendingChange, RecordProblem, WebhookReceiver
from leadscore.records import SET_PROPERTIES
from leadscore.rescore import IN_PROCESS, Parallelism, RescoreReport, rescore
from leadscore.store import Lease, Settlement, Store
from leadscore.sync.clean import clean_contacts, clean_events
from leadscore.sync.planner import PagePlanner, PlanTally
from leadscore.sync.readahead import ReadAhead

log = logging.getLogger("leadscore.sync")
T = TypeVar("T")
CONTACT_STREAM = "contacts"
APPLY_BATCH = 10_000
EARLY_BATCH = 1_000
"""Outbox entries the writer takes at a time while scoring goes on: enough for ten full calls, little memory."""
INBOX_BATCH = 500
OFF_PREFIX = "_off:"
"""Where the store remembers that a source's optional stream was refused (cursor ``_off:<stream>``)."""
FIRST_SCORING_WAIT = "_first_scoring_waits"
"""Where the store remembers since when a source's first scoring has waited for its people group's first pulls."""
STREAM_RETRY_AFTER = timedelta(days=1)
"""A refused stream is tried again a day later: a plan upgrade or a granted scope turns it back on by itself."""
PEOPLE_SCORING = threading.Lock()
"""Sources that share people score one at a time in a process (and, through the store's people lease, across
replicas): a person scored by two sources' cycles at once could have the older of two results saved last."""


def _stopped_or_lost(stop: threading.Event, group: Lease) -> bool:
    """Asked between scored pages: a lost people lease raises LeaseLostError before another page is saved."""
    group.check()
    return stop.is_set()


@dataclass
class StreamTime:
    """A stream's pages are read ahead while the last one is saved: ``waiting`` is the time the cycle waited for
    a page (the platform's answer, its rate limit), ``saving`` the time it spent storing pages. A stream whose
    waiting dominates runs at the platform's pace; one whose saving dominates is held up by leadscore's store."""

    waiting: float = 0.0
    saving: float = 0.0
    pages: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"waiting": round(self.waiting, 3), "saving": round(self.saving, 3), "pages": self.pages}


@dataclass
class CycleReport:
    """What one cycle did, for the CLI, the run table and metrics."""

    source: str
    dry_run: bool = False
    status: str = "running"
    contacts_read: int = 0
    events_new: int = 0
    events_unresolved: int = 0
    events_waiting: int = 0
    """Webhook events kept for a recipient who is not a contact yet (parsed again next cycle)."""
    events_expired: int = 0
    """Webhook events given up after waiting their age limit for their recipient."""
    contacts_scored: int = 0
    scoring_workers: int = 1
    history_pruned: int = 0
    """Score-history rows older than the retention (``history_days``) forgotten at the end of the cycle."""
    streams_off: dict[str, str] = field(default_factory=dict)
    """Optional streams the platform refused for this account (stream -> why), left out of the cycle."""
    streams_waiting: dict[str, str] = field(default_factory=dict)
    """Streams stopped for this cycle because their call budget is spent (stream -> which, until when); the rest
    of the cycle runs, and a later cycle reads them on from their cursor."""
    changes: Counter[str] = field(default_factory=Counter)
    score_changes: int = 0
    grade_changes: int = 0
    band_changes: int = 0
    applied: int = 0
    set_aside: int = 0
    gone: int = 0
    merged: int = 0
    problems: list[RecordProblem] = field(default_factory=list)
    unmatched_actions: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    error: str | None = None
    linked: int = 0
    linked_changes: Counter[str] = field(default_factory=Counter)
    folded: int = 0
    duplicates: list[str] = field(default_factory=list)
    waiting_for: list[str] = field(default_factory=list)
    """Sources of the people group whose first pull this source's first scoring waits for (records stay queued)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Where the cycle's time went: setting up write targets, the outbox left from before, reading contacts, the
    webhook inbox, reading events, scoring (with the writes sent while it runs), and the writes after it."""
    stream_seconds: dict[str, StreamTime] = field(default_factory=dict)
    """Per stream read (contacts and each event stream): whether the platform or the store held it up."""

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phase_seconds[phase] = round(self.phase_seconds.get(phase, 0.0) + time.monotonic() - started, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dry_run": self.dry_run,
            "contacts_read": self.contacts_read,
            "events_new": self.events_new,
            "events_unresolved": self.events_unresolved,
            "events_waiting": self.events_waiting,
            "events_expired": self.events_expired,
            "contacts_scored": self.contacts_scored,
            "scoring_workers": self.scoring_workers,
            "history_pruned": self.history_pruned,
            "streams_off": dict(self.streams_off),
            "streams_waiting": dict(self.streams_waiting),
            "changes": dict(self.changes),
            "applied": self.applied,
            "set_aside": self.set_aside,
            "gone": self.gone,
            "merged": self.merged,
            "problems": [f"{p.record_id}: {p.field}: {p.problem}" for p in self.problems[:100]],
            "problem_count": len(self.problems),
            "unmatched_actions": dict(self.unmatched_actions),
            "api_calls": self.api_calls,
            "rate_limited": self.rate_limited,
            "error": self.error,
            "linked": self.linked,
            "linked_changes": dict(self.linked_changes),
            "folded": self.folded,
            "duplicates": self.duplicates,
            "waiting_for": self.waiting_for,
            "phase_seconds": dict(self.phase_seconds),
            "stream_seconds": {name: spent.as_dict() for name, spent in self.stream_seconds.items()},
        }


class Pipeline:
    """Runs cycles of one source against one store with one set of models."""

    def __init__(
        self,
        store: Store,
        connector: Connector,
        engines: Sequence[Engine],
        clock: Callable[[], datetime] = utcnow,
        retry_rejected_after: timedelta = timedelta(minutes=30),
        stop: threading.Event | None = None,
        parallelism: Parallelism = IN_PROCESS,
        page_size: int = 2000,
        people: PeopleScope | None = None,
        history_days: int = 400,
    ) -> None:
        self.store = store
        self.history_days = history_days
        self.people = people if people is not None and connector.source in people.sources else None
        self.connector = connector
        self.engines = list(engines)
        self.last_report: CycleReport | None = None
        self.source = connector.source
        self.clock = clock
        self.retry_rejected_after = retry_rejected_after
        self.stop = stop or threading.Event()
        self.parallelism = parallelism
        self.page_size = page_size
        self._scored_at = [e.model.writes.scored_at for e in self.engines if e.model.writes.scored_at]
        self._lease: Lease | None = None
        self._tally = threading.Lock()
        """Guards the cycle report where streams read at once add to it."""
        self.scoring: RescoreReport[PlanTally] = RescoreReport()
        """The rescore in flight (or last), read while it runs to show progress."""

    def run_cycle(
        self, *, dry_run: bool = False, full_rescore: bool = False, lease: Lease | None = None
    ) -> CycleReport:
        """One cycle. An error ends it as failed (in the runs table too) and is raised again; ``last_report``
        then holds what the cycle did before it, API calls included, for the caller's log and metrics.

        With the source's ``lease``, every write to the platform is preceded by a check that the lease is still
        held: once it is lost, another replica may be syncing the source, and this cycle stops (LeaseLostError).
        """
        self._lease = lease
        report = CycleReport(self.source, dry_run=dry_run)
        self.last_report = report
        before = self.connector.usage()
        calls_before, limited_before = dict(before.calls), before.rate_limited
        run_id = self.store.start_run(self.source)
        try:
            full_rescore = self._people_changed(dry_run) or full_rescore
            if not dry_run:
                with report.timed("targets"):
                    for key in self.connector.ensure_targets():
                        self.store.forget_list(self.source, key)
                if not isinstance(self.connector, Gathering):
                    with report.timed("outbox"):
                        self.apply_outbox(report)
            with report.timed("contacts"):
                self._pull_contacts(report)
            with report.timed("inbox"):
                self._drain_inbox(report)
            with report.timed("events"):
                self._pull_events(report)
            if not dry_run:
                self.store.mark_pulled(self.source)
            if not self._waits_for_first_pulls(report, dry_run=dry_run):
                with report.timed("scoring"):
                    self._score_and_plan(report, dry_run=dry_run, full=full_rescore)
            if not dry_run:
                with report.timed("writes"):
                    self.apply_outbox(report)
                report.history_pruned = self.store.prune_history(
                    self.source, self.clock() - timedelta(days=self.history_days)
                )
            report.status = "dry-run" if dry_run else "ok"
        except CycleInterruptedError:
            report.status = "interrupted"
            log.info("source %s: cycle stopped for shutdown; committed pages and the outbox carry over", self.source)
        except BudgetExhaustedError as exc:
            report.status = "paused"
            report.error = str(exc)
            log.warning("source %s paused: %s", self.source, exc)
        except LeadscoreError as exc:
            report.status = "failed"
            report.error = str(exc)
            raise
        except Exception as exc:
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            usage = self.connector.usage()
            report.api_calls = {
                name: count - calls_before.get(name, 0)
                for name, count in usage.calls.items()
                if count > calls_before.get(name, 0)
            }
            report.rate_limited = usage.rate_limited - limited_before
            if report.status == "running":
                report.status = "failed"
            try:
                self.store.finish_run(run_id, report.status, report.as_dict())
            except LeadscoreError as exc:
                log.error(
                    "source %s: the run's outcome could not be saved (the next run closes it): %s", self.source, exc
                )
            except Exception:
                log.exception("source %s: the run's outcome could not be saved; the next run closes it", self.source)
        return report

    def _people_changed(self, dry_run: bool) -> bool:
        """Link records by the group's identity rule, and notice a change of group (joined, left, edited). A real
        cycle queues every record of the source then; a dry run, which changes nothing, rescores them all."""
        fingerprint = self.people.fingerprint() if self.people is not None else ""
        if dry_run:
            return self.store.scope_changed(self.source, fingerprint, remember=False)
        if self.people is not None:
            self.store.use_identity(self.people.fold_plus_addressing)
        if self.store.scope_changed(self.source, fingerprint):
            log.info("source %s: its people group changed; every record is rescored this cycle", self.source)
        return False

    def _waits_for_first_pulls(self, report: CycleReport, *, dry_run: bool) -> bool:
        """Whether this source's first scoring in its people group waits for another source's first pull (see
        ``PeopleScope.first_pull_wait``); its records stay queued for a later cycle, and the outbox is drained."""
        if self.people is None or dry_run or not self.people.first_pull_wait or self.store.has_scores(self.source):
            return False
        others = self.store.never_pulled([name for name in self.people.sources if name != self.source])
        if not others:
            return False
        now = self.clock()
        waiting = self.store.cursor(self.source, FIRST_SCORING_WAIT)
        if not isinstance(waiting, dict):
            waiting = {"since": now.isoformat()}
            self.store.set_cursor(self.source, FIRST_SCORING_WAIT, waiting)
        if now - datetime.fromisoformat(str(waiting["since"])) >= self.people.first_pull_wait:
            log.warning(
                "source %s: scoring without waiting longer for the first pull of %s (people.first_pull_wait_minutes); "
                "its people are scored again when it comes",
                self.source,
                ", ".join(others),
            )
            return False
        report.waiting_for = others
        log.info(
            "source %s: its first scoring waits for the first pull of %s, so that shared people are written once",
            self.source,
            ", ".join(others),
        )
        return True

    def _pull_contacts(self, report: CycleReport) -> None:
        pages = self.connector.read_contacts(self.store.cursor(self.source, CONTACT_STREAM))
        with self._read_ahead(pages, report, CONTACT_STREAM) as timed:
            for pulled in timed:
                self._check_stop()
                page = clean_contacts(pulled)
                report.events_new += self.store.save_contact_page(self.source, CONTACT_STREAM, page)
                report.contacts_read += len(page.contacts)
                report.problems.extend(page.problems)
                report.merged += len(page.merged)
                report.gone += len(page.deleted)

    @contextlib.contextmanager
    def _read_ahead(self, pages: Iterator[T], report: CycleReport, stream: str) -> Iterator[Iterator[T]]:
        """``pages`` read ahead in a thread of their own (``ReadAhead``), timed into the report."""
        with ReadAhead(pages, name=f"{self.source}-read-{stream}") as ahead:
            yield self._timed(ahead, report, stream)

    def _timed(self, pages: Iterator[T], report: CycleReport, stream: str) -> Iterator[T]:
        """``pages``, with the time spent waiting for each and the time the caller spent on it (saving it) added
        to the report's ``stream_seconds``."""
        with self._tally:
            spent = report.stream_seconds.setdefault(stream, StreamTime())
        asked = time.monotonic()
        for page in pages:
            got = time.monotonic()
            spent.waiting += got - asked
            spent.pages += 1
            yield page
            asked = time.monotonic()
            spent.saving += asked - got

    def _pull_events(self, report: CycleReport) -> None:
        """Each event stream from its cursor; at once, one thread each, where the connector's client allows it."""
        streams = list(self.connector.event_streams())
        if not self.connector.read_policy.concurrent_streams or len(streams) < 2:
            for stream in streams:
                self._pull_stream(stream, report, self.stop)
            return
        halted = threading.Event()  # set by the first stream that fails: the others stop at their next page

        def halt_on_failure(done: Future[None]) -> None:
            if done.exception() is not None:
                halted.set()

        with ThreadPoolExecutor(len(streams), thread_name_prefix=f"{self.source}-stream") as pool:
            futures = [pool.submit(self._pull_stream, stream, report, halted) for stream in streams]
            for future in futures:
                future.add_done_callback(halt_on_failure)
        failures = [exc for exc in (f.exception() for f in futures) if exc is not None]
        causes = [exc for exc in failures if not isinstance(exc, CycleInterruptedError)] or failures
        if causes:
            raise causes[0]

    def _pull_stream(self, stream: str, report: CycleReport, halted: threading.Event) -> None:
        """One stream's pages, each saved with its cursor; stops between pages once ``halted`` (or the cycle's stop)
        is set. A stream the platform refuses is left out for a day (``STREAM_RETRY_AFTER``); one whose budget is
        spent stops for this cycle only: scoring what was read and writing it need other budgets, or none."""
        off = self.store.cursor(self.source, OFF_PREFIX + stream)
        now = self.clock()
        if isinstance(off, dict) and datetime.fromisoformat(str(off.get("until"))) > now:
            with self._tally:
                report.streams_off[stream] = str(off.get("reason", ""))
            return
        try:
            pages = self.connector.read_events(stream, self.store.cursor(self.source, stream))
            with self._read_ahead(pages, report, stream) as timed:
                for pulled in timed:
                    self._check_stop(halted)
                    page = clean_events(pulled)
                    added, unresolved = self.store.save_event_page(self.source, stream, page)
                    with self._tally:
                        report.events_new += added
                        report.events_unresolved += unresolved
                        report.problems.extend(page.problems)
        except BudgetExhaustedError as exc:
            with self._tally:
                report.streams_waiting[stream] = str(exc)
            log.info(
                "source %s: stream %s waits for its budget; the rest of the cycle runs: %s", self.source, stream, exc
            )
            return
        except StreamUnavailableError as exc:
            with self._tally:
                report.streams_off[stream] = str(exc)
            if off is None:
                log.warning("source %s: %s; the rest of the cycle runs without it", self.source, exc)
            until = now + STREAM_RETRY_AFTER
            self.store.set_cursor(self.source, OFF_PREFIX + stream, {"reason": str(exc), "until": until.isoformat()})
            return
        if off is not None:
            log.info("source %s: stream %s is available again", self.source, stream)
            self.store.forget_cursor(self.source, OFF_PREFIX + stream)

    def _drain_inbox(self, report: CycleReport) -> None:
        """Webhook bodies received since the last cycle become events, after contacts are pulled so that
        a contact created moments before its first open is known; a body naming someone not known yet stays."""
        if not isinstance(self.connector, WebhookReceiver):
            return
        after = 0
        while True:
            self._check_stop()
            bodies = self.store.inbox(self.source, INBOX_BATCH, after)
            if not bodies:
                return
            after = bodies[-1][0]
            pages = [clean_events(self.connector.parse_webhook(body)) for _, body in bodies]
            outcome = self.store.save_inbox_pages(self.source, pages, [i for i, _ in bodies])
            report.events_new += outcome.added
            report.events_unresolved += outcome.unresolved
            report.events_waiting += outcome.waiting
            report.events_expired += outcome.expired
            for page in pages:
                report.problems.extend(page.problems)

    def _score_and_plan(self, report: CycleReport, *, dry_run: bool, full: bool) -> None:
        now = self.clock()
        planner = PagePlanner(self.source, tuple(self.engines), now, tuple(self._scored_at), dry_run)
        scoring_done = threading.Event()
        failures: list[BaseException] = []
        applier = threading.Thread(
            target=self._write_while_scoring, args=(report, scoring_done, failures), name="applier", daemon=True
        )
        early = self.connector.policy.sends_early and not dry_run
        if early:
            applier.start()
        outcome: RescoreReport[PlanTally] = RescoreReport()
        self.scoring = outcome
        try:
            with contextlib.ExitStack() as held:
                should_stop = self.stop.is_set
                if self.people is not None:
                    held.enter_context(PEOPLE_SCORING)
                if self.people is not None and not dry_run:
                    group = held.enter_context(self.store.people_lease(self.people.sources, self.stop.is_set))
                    should_stop = functools.partial(_stopped_or_lost, self.stop, group)
                self._rescore(planner, outcome, dry_run=dry_run, full=full, now=now, should_stop=should_stop)
        finally:
            scoring_done.set()
            if early:
                applier.join()
            _add_scoring(report, outcome)
        if failures:
            raise failures[0]

    def _rescore(
        self,
        planner: PagePlanner,
        outcome: RescoreReport[PlanTally],
        *,
        dry_run: bool,
        full: bool,
        now: datetime,
        should_stop: Callable[[], bool],
    ) -> None:
        rescore(
            self.store,
            self.source,
            self.engines,
            now,
            only_queued=not full,
            on_page=planner,
            persist=not dry_run,
            parallelism=self.parallelism,
            page_size=self.page_size,
            should_stop=should_stop,
            report=outcome,
            people=self.people,
        )

    def _check_stop(self, halted: threading.Event | None = None) -> None:
        """Between pages and batches only: what is committed stays committed, the rest waits in the outbox."""
        if self.stop.is_set() or (halted is not None and halted.is_set()):
            raise CycleInterruptedError(f"source {self.source}: shutting down")

    def _write_while_scoring(self, report: CycleReport, done: threading.Event, failures: list[BaseException]) -> None:
        """Send whole batches of property updates while later pages are still being scored.

        Scoring is CPU work and sending waits on the rate limit, so overlapping them
        keeps a long cycle near the rate-limit floor. Only full batches go early; list
        moves wait for the end, where one call can carry a whole list's members.
        """
        size = max(1, self.connector.policy.batch)
        try:
            while True:
                self._check_stop()
                entries = self.store.pending(self.source, EARLY_BATCH, now=self.clock(), kind=SET_PROPERTIES)
                whole = len(entries) - len(entries) % size
                if whole == 0:
                    if done.wait(0.05):
                        return
                    continue
                self._send(entries[:whole], report)
        except BaseException as exc:
            failures.append(exc)

    def apply_outbox(self, report: CycleReport) -> None:
        """Send what the outbox holds, in batches, until it is empty or only holds entries waiting out a backoff."""
        if isinstance(self.connector, Gathering):
            self._apply_gathered(self.connector, report)
            return
        while True:
            self._check_stop()
            entries = self.store.pending(self.source, APPLY_BATCH, now=self.clock(), order=self.connector.policy.order)
            if not entries:
                return
            self._send(entries, report)

    def _apply_gathered(self, connector: Gathering, report: CycleReport) -> None:
        """Hand every due entry over once, in planned order, then let the connector send what it held back; each
        answer is saved as it comes, re-reading the entries it names from the outbox (they are not kept here), an
        apply's worth at a time: one import can answer for tens of thousands."""
        connector.gather()
        after = 0
        while True:
            self._check_stop()
            entries = self.store.pending(self.source, APPLY_BATCH, now=self.clock(), order="by_key", after=after)
            if not entries:
                break
            after = entries[-1].key
            self._send(entries, report)
        if self._lease is not None:
            self._lease.check()

        def settle(outcomes: Sequence[Outcome]) -> None:
            for start in range(0, len(outcomes), APPLY_BATCH):
                chunk = outcomes[start : start + APPLY_BATCH]
                entries = self.store.outbox_entries(self.source, [o.key for o in chunk])
                known = {entry.key for entry in entries}
                self._settle(entries, [o for o in chunk if o.key in known], report)
            if self._lease is not None:
                self._lease.check()
            self._check_stop()

        connector.release(settle)

    def _send(self, entries: Sequence[PendingChange], report: CycleReport) -> None:
        """Apply ``entries``, saving each platform call's outcomes as it is answered (an interruption re-sends
        only what no call answered); with a lease, its loss stops the apply before the next call."""
        if self._lease is not None:
            self._lease.check()
        saved: set[int] = set()
        by_key = {entry.key: entry for entry in entries}

        def progress(outcomes: Sequence[Outcome]) -> None:
            fresh = [o for o in outcomes if o.key not in saved and o.key in by_key]
            if fresh:
                self._settle([by_key[o.key] for o in fresh], fresh, report)
                saved.update(o.key for o in fresh)
            if self._lease is not None:
                self._lease.check()

        outcomes = self.connector.apply(entries, progress)
        self._settle(
            [entry for entry in entries if entry.key not in saved], [o for o in outcomes if o.key not in saved], report
        )

    def _settle(self, entries: Sequence[PendingChange], outcomes: list[Outcome], report: CycleReport) -> None:
        """Save what one apply answered, in one transaction: a rejected change waits out a growing backoff."""
        by_key = {entry.key: entry for entry in entries}
        settlement = Settlement()
        answered = {o.key for o in outcomes}
        now = self.clock()
        for outcome in outcomes:
            entry = by_key[outcome.key]
            if outcome.status == "ok":
                settlement.acknowledged.append(entry)
            elif outcome.status == "rejected":
                backoff = self.retry_rejected_after * (2 ** min(entry.attempts, 6))
                settlement.set_aside.append((entry.key, outcome.reason, now + backoff))
                report.problems.append(RecordProblem(entry.contact_id, entry.change.kind, outcome.reason))
            elif outcome.status == "gone":
                settlement.gone.append(entry)
            elif outcome.status == "merged" and outcome.survivor_id is not None:
                settlement.merged.append((entry, outcome.survivor_id))
        for entry in entries:
            if entry.key not in answered:
                reason = "the platform returned no outcome for this change"
                settlement.set_aside.append((entry.key, reason, now + self.retry_rejected_after))
        self.store.settle(settlement)
        report.applied += len(settlement.acknowledged)
        report.set_aside += len(settlement.set_aside)
        report.gone += len(settlement.gone)
        report.merged += len(settlement.merged)


def _add_scoring(report: CycleReport, outcome: RescoreReport[PlanTally]) -> None:
    """Fold what scoring and planning did into the cycle's report (also for a cycle stopped midway)."""
    tally = PlanTally()
    for page in outcome.pages:
        tally.merge(page)
    report.contacts_scored = outcome.contacts
    report.unmatched_actions.update(outcome.unmatched_actions)
    report.changes.update(tally.changes)
    report.linked_changes.update(tally.linked_changes)
    report.linked += outcome.linked
    report.folded += outcome.folded
    report.duplicates.extend(
        f"{contact_id} shares its email with {', '.join(twins)}" for contact_id, twins in outcome.duplicates
    )
    report.score_changes += tally.score_changes
    report.grade_changes += tally.grade_changes
    report.band_changes += tally.band_changes
    report.sample.extend(tally.sample)
    report.scoring_workers = outcome.workers
    report.problems.extend(
        RecordProblem(contact_id, problem.field, f"{problem.problem}; rules reading it did not match")
        for contact_id, problem in outcome.unreadable
    )
