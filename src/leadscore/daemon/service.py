"""The daemon: one scheduled job per source, health and metrics over HTTP, leases, graceful shutdown.

Signal handlers only set the stop event (uvicorn's and arq's lesson): the
scheduler stops starting jobs, the cycle in flight stops at its next committed
step (a page, a batch), retry sleeps end early, and the process exits 0 within
the grace period. A second signal exits at once; nothing is lost either way,
because pages commit with their cursors and changes wait in the outbox.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import generate_latest
from starlette.applications import Starlette

from leadscore.daemon.leases import SingleDaemonLock
from leadscore.daemon.metrics import Metrics
from leadscore.engine import Engine
from leadscore.errors import ConfigError, CycleInterruptedError, LeadscoreError
from leadscore.people import PeopleScope
from leadscore.platforms import build_connector
from leadscore.protocol import WebhookReceiver
from leadscore.settings import Settings
from leadscore.signals import early_signals
from leadscore.sources import SourceSettings
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline
from leadscore.sync.plan import write_targets
from leadscore.web import HttpServer, create_app

log = logging.getLogger("leadscore.daemon")


@dataclass
class SourceState:
    """What the daemon remembers of one source between cycles (for /readyz and the decay pass)."""

    settings: SourceSettings
    pipeline: Pipeline
    failed_in_a_row: int = 0
    last_full: float = 0.0
    last_status: str = "never run"
    cycles: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        sources: list[SourceSettings],
        engines: list[Engine],
        people: PeopleScope | None = None,
    ) -> None:
        self.settings = settings
        self.replica = f"{socket.gethostname()}-{os.getpid()}"
        self.stop = threading.Event()
        self.store = SQLStore.open(settings.state_url)
        self.single = SingleDaemonLock(self.store)
        self.metrics = Metrics()

        def sleep(seconds: float) -> None:
            """Waits for pacing and retries end at once on shutdown, and end the cycle rather than retry."""
            if self.stop.wait(seconds):
                raise CycleInterruptedError("shutting down during a wait")

        parallelism = settings.parallelism()
        self.sources = {
            s.name: SourceState(
                s,
                Pipeline(
                    self.store,
                    build_connector(s, write_targets(engines), sleep=sleep),
                    engines,
                    stop=self.stop,
                    parallelism=parallelism,
                    people=people,
                    history_days=settings.history_days,
                ),
            )
            for s in sources
        }
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(1, len(sources)))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": settings.misfire_grace_seconds,
            },
            timezone=UTC,
        )
        self.http: HttpServer | None = None
        self.console: Starlette | None = None
        if settings.console:
            from leadscore.console import console_for

            self.console = console_for(settings, self.store, engines, sources, people)
        self._signalled_at = 0.0
        self._signal_name = ""

    # --- cycles -----------------------------------------------------------------------------

    def run_source(self, name: str) -> CycleReport | None:
        """One scheduled cycle, if this replica holds the source's lease; never two at once per source."""
        state = self.sources[name]
        if self.stop.is_set() or not state.lock.acquire(blocking=False):
            return None
        try:
            with self.store.source_lease(name) as held:
                if not held:
                    log.info("source %s: another replica holds it; skipping this run", name)
                    return None
                full = time.time() - state.last_full >= self.settings.full_rescore_seconds
                started = time.monotonic()
                try:
                    report = state.pipeline.run_cycle(full_rescore=full, lease=held)
                except Exception as exc:
                    report = _failed(state, name, exc)
                seconds = time.monotonic() - started
                if full and report.status == "ok":
                    state.last_full = time.time()
                self._after_cycle(state, report, seconds)
                return report
        finally:
            state.lock.release()

    def _after_cycle(self, state: SourceState, report: CycleReport, seconds: float) -> None:
        state.cycles += 1
        state.last_status = report.status
        state.failed_in_a_row = state.failed_in_a_row + 1 if report.status == "failed" else 0
        self.metrics.record(report, seconds, time.time())
        name = report.source
        usage = state.pipeline.connector.usage()
        if usage.daily_remaining is not None:
            self.metrics.budget_left.labels(name).set(usage.daily_remaining)
        try:
            self.metrics.outbox.labels(name).set(self.store.outbox_depth(name))
            self.metrics.set_aside.labels(name).set(self.store.outbox_depth(name, status="set_aside"))
        except Exception as exc:
            log.warning("source %s: outbox depth unknown, the store did not answer: %s", name, type(exc).__name__)
        log.info(
            "cycle %s %s in %.1fs: read %d contacts, %d new events, scored %d, applied %d, set aside %d, "
            "%d API calls, %d rate-limited",
            name,
            report.status,
            seconds,
            report.contacts_read,
            report.events_new,
            report.contacts_scored,
            report.applied,
            report.set_aside,
            sum(report.api_calls.values()),
            report.rate_limited,
            extra={
                "fields": {
                    "event": "cycle",
                    "source": name,
                    "replica": self.replica,
                    "seconds": round(seconds, 3),
                    **report.as_dict(),
                }
            },
        )

    # --- health -------------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {"store": "ok", "sources": {}}
        ready = True
        try:
            self.store.ping()
        except Exception as exc:
            detail["store"] = f"unreachable: {type(exc).__name__}"
            ready = False
        for name, state in self.sources.items():
            failing = state.failed_in_a_row >= self.settings.ready_failed_cycles
            detail["sources"][name] = {"last": state.last_status, "failed_in_a_row": state.failed_in_a_row}
            ready = ready and not failing
        return ready, detail

    def alive(self) -> bool:
        return self.scheduler.running and not self.stop.is_set()

    def metrics_text(self) -> bytes:
        return generate_latest(self.metrics.registry)

    def webhook_refusal(self, name: str, authorization: str) -> tuple[int, dict[str, Any]] | None:
        """Why a webhook request is refused before its body is read (None: it may be read)."""
        state = self.sources.get(name)
        if state is None or not isinstance(state.pipeline.connector, WebhookReceiver):
            return 404, {"error": "no source by that name receives webhooks"}
        expected = state.settings.resolved_webhook_token()
        if expected is None:
            return 404, {"error": f"source '{name}' has no webhook_token set; webhooks are refused"}
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip(), expected):
            self.metrics.webhooks.labels(name, "refused").inc()
            return 401, {"error": "missing or wrong bearer token"}
        return None

    def store_webhook(self, name: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Keep an authenticated webhook body for the source's next cycle; answer only once it is stored."""
        try:
            body = json.loads(raw)
        except ValueError:
            self.metrics.webhooks.labels(name, "invalid").inc()
            return 400, {"error": "body is not JSON"}
        try:
            self.store.receive(name, body)
        except Exception as exc:
            log.error("source %s: webhook not stored: %s", name, type(exc).__name__)
            return 503, {"error": "not stored; send again"}
        self.metrics.webhooks.labels(name, "stored").inc()
        return 200, {"stored": True}

    # --- lifecycle --------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Only record the signal: setting a threading.Event inside a handler can deadlock on its lock."""
        now = time.monotonic()
        if self._signalled_at and now - self._signalled_at > 1.0:
            log.warning("second signal: exiting now; the outbox and cursors carry over")
            os._exit(0)
        if not self._signalled_at:
            self._signalled_at = now
            self._signal_name = signal.Signals(signum).name

    def _wait_for_stop(self) -> None:
        """Poll rather than block: a signal delivered to another thread never wakes a blocked lock wait."""
        while not self._signalled_at and not self.stop.is_set():
            time.sleep(0.2)
        if self._signalled_at:
            log.info("signal %s: finishing the step in flight, then exiting", self._signal_name)
        self.stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if early_signals:
            self._on_signal(early_signals[0], None)
        self.http = HttpServer(create_app(self, self.console), self.settings.http_host, self.settings.http_port)
        try:
            port = self.http.start()
        except ConfigError:
            self.single.release()
            self.store.close()
            raise
        for name, state in self.sources.items():
            schedule = state.settings.schedule
            trigger = (
                CronTrigger.from_crontab(schedule.cron, timezone=UTC)
                if schedule.cron
                else IntervalTrigger(seconds=schedule.interval_seconds or 300, timezone=UTC)
            )
            self.scheduler.add_job(self.run_source, trigger, args=[name], id=name, next_run_time=datetime.now(UTC))
        self.scheduler.start()
        log.info(
            "leadscore running: %d sources, store %s, http %s:%s, replica %s",
            len(self.sources),
            self.store.display_url(),
            self.settings.http_host,
            port,
            self.replica,
            extra={"fields": {"event": "start", "port": port, "replica": self.replica}},
        )
        self._wait_for_stop()
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        for state in self.sources.values():
            remaining = max(0.0, deadline - time.monotonic())
            if state.lock.acquire(timeout=remaining):
                state.lock.release()
            else:
                log.warning("source %s: cycle still running at the grace deadline; exiting anyway", state.settings.name)
        if self.http is not None:
            self.http.stop()
        self.single.release()
        self.store.close()
        log.info("leadscore stopped", extra={"fields": {"event": "stop", "replica": self.replica}})
        return 0


def _failed(state: SourceState, name: str, exc: Exception) -> CycleReport:
    """The report of a cycle that raised: what it did before (API calls included), marked failed.

    Any exception counts, not only leadscore's own: a garbage answer, a full disk or
    a store restart must show in the log, the metrics and readiness like any failure.
    """
    report = state.pipeline.last_report or CycleReport(name)
    report.status = "failed"
    report.error = report.error or f"{type(exc).__name__}: {exc}"
    if isinstance(exc, LeadscoreError):
        log.error("source %s: cycle failed: %s", name, exc)
    else:
        log.exception("source %s: cycle failed with an unexpected %s", name, type(exc).__name__)
    return report
