"""Prometheus metrics of the daemon, one registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from leadscore.sync.pipeline import CycleReport


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["source"]
        self.cycles = Counter("leadscore_cycles", "Sync cycles by outcome", [*labels, "status"], registry=self.registry)
        self.duration = Histogram(
            "leadscore_cycle_duration_seconds",
            "Wall time of a sync cycle",
            labels,
            registry=self.registry,
            buckets=(1, 5, 15, 60, 300, 900, 3600, 14400),
        )
        self.contacts_read = Counter("leadscore_contacts_read", "Contacts pulled", labels, registry=self.registry)
        self.contacts_scored = Counter("leadscore_contacts_scored", "Contacts scored", labels, registry=self.registry)
        self.changes = Counter(
            "leadscore_changes_applied", "Changes the platform acknowledged", [*labels, "kind"], registry=self.registry
        )
        self.list_moves = Counter(
            "leadscore_list_moves", "List adds and removes planned", [*labels, "kind"], registry=self.registry
        )
        self.api_calls = Counter("leadscore_api_calls", "API calls sent", [*labels, "endpoint"], registry=self.registry)
        self.rate_limited = Counter("leadscore_rate_limited", "429 answers", labels, registry=self.registry)
        self.phase_seconds = Counter(
            "leadscore_cycle_phase_seconds",
            "Seconds cycles spent in each phase (targets, outbox, contacts, inbox, events, scoring, writes)",
            [*labels, "phase"],
            registry=self.registry,
        )
        self.stream_seconds = Counter(
            "leadscore_stream_seconds",
            "Seconds cycles spent on each stream's pages: waiting for the platform, or saving them",
            [*labels, "stream", "part"],
            registry=self.registry,
        )
        self.budget_left = Gauge(
            "leadscore_daily_budget_remaining",
            "Daily API calls left, as the platform said",
            labels,
            registry=self.registry,
        )
        self.outbox = Gauge("leadscore_outbox_depth", "Changes waiting to be sent", labels, registry=self.registry)
        self.set_aside = Gauge("leadscore_set_aside", "Changes set aside with a reason", labels, registry=self.registry)
        self.webhooks = Counter(
            "leadscore_webhooks", "Webhook bodies received, by outcome", [*labels, "outcome"], registry=self.registry
        )
        self.webhook_events = Counter(
            "leadscore_webhook_events_unresolved",
            "Webhook events whose recipient was not a known contact: kept for a later cycle, or given up when too old",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "leadscore_last_success_timestamp_seconds",
            "End of the last successful cycle",
            labels,
            registry=self.registry,
        )

    def record(self, report: CycleReport, seconds: float, finished: float) -> None:
        source = report.source
        self.cycles.labels(source, report.status).inc()
        self.duration.labels(source).observe(seconds)
        self.contacts_read.labels(source).inc(report.contacts_read)
        self.contacts_scored.labels(source).inc(report.contacts_scored)
        self.changes.labels(source, "all").inc(report.applied)
        for kind in ("list_add", "list_remove"):
            self.list_moves.labels(source, kind).inc(report.changes.get(kind, 0))
        for endpoint, count in report.api_calls.items():
            self.api_calls.labels(source, endpoint).inc(count)
        self.rate_limited.labels(source).inc(report.rate_limited)
        for phase, spent in report.phase_seconds.items():
            self.phase_seconds.labels(source, phase).inc(spent)
        for stream, times in report.stream_seconds.items():
            self.stream_seconds.labels(source, stream, "waiting").inc(times.waiting)
            self.stream_seconds.labels(source, stream, "saving").inc(times.saving)
        self.webhook_events.labels(source, "waiting").inc(report.events_waiting)
        self.webhook_events.labels(source, "expired").inc(report.events_expired)
        if report.status == "ok":
            self.last_success.labels(source).set(finished)
