"""Progress of a long cycle: a live line on a terminal (rich), a printed line every half minute elsewhere.

The cycle's report and its rescore are updated as pages commit; a watcher thread reads them, so the pipeline
knows nothing of how progress is shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live

from leadscore.sync.pipeline import Pipeline

LOG_EVERY_SECONDS = 30.0
REFRESH_SECONDS = 0.5


def progress_line(pipeline: Pipeline, started: float) -> str:
    report = pipeline.last_report
    if report is None:
        return f"source {pipeline.source}: starting"
    seconds = max(0.001, time.monotonic() - started)
    scored = max(report.contacts_scored, pipeline.scoring.contacts)
    return (
        f"source {pipeline.source}: {report.contacts_read:,} contacts read, {report.events_new:,} new events, "
        f"{scored:,} scored ({scored / seconds:,.0f}/s), {report.applied:,} changes applied "
        f"({report.applied / seconds:,.0f}/s), {seconds:,.0f}s"
    )


@contextmanager
def shown(pipeline: Pipeline, console: Console) -> Iterator[None]:
    """While the block runs: the live line on a terminal, else a line every LOG_EVERY_SECONDS, printed on the
    console itself (a command run from cron or piped to a file configures no logging, so a log line would be lost)."""
    done = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        if console.is_terminal:
            with Live(progress_line(pipeline, started), console=console, transient=True) as live:
                while not done.wait(REFRESH_SECONDS):
                    live.update(progress_line(pipeline, started))
            return
        while not done.wait(LOG_EVERY_SECONDS):
            console.print(progress_line(pipeline, started), highlight=False, soft_wrap=True)

    watcher = threading.Thread(target=watch, name="progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(2)
