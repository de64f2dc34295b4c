"""Log lines as JSON in a container and as text on a terminal, with secrets and (by default) emails removed.

The redaction runs on the final text of every record, so a token inside an
exception message or a URL is caught as well as one passed as an argument.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
MASK = "***"


class Redactor:
    def __init__(self, secrets: Iterable[str], hide_emails: bool) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.hide_emails = hide_emails

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        if self.hide_emails:
            text = EMAIL.sub("<email>", text)
        return text


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def configure(log_format: str, level: str, secrets: Iterable[str], log_emails: bool) -> Redactor:
    """Route every logger through one redacting handler on stderr."""
    redact = Redactor(secrets, hide_emails=not log_emails)
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if use_json else TextFormatter(redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for noisy in ("apscheduler", "urllib3", "alembic", "httpx", "httpcore", "uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING if noisy in ("apscheduler", "alembic") else quiet)
    return redact


def start_failure(message: str, log_format: str | None) -> str:
    """The line that reports a daemon that could not start, in the format its log would have had: a log collector
    that parses JSON lines sees the reason too. A format setting that is itself wrong gets plain text."""
    use_json = log_format == "json" or (log_format in (None, "", "auto") and not sys.stderr.isatty())
    if not use_json:
        return f"error: {message}"
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "error",
        "logger": "leadscore",
        "message": message,
        "event": "start_failed",
    }
    return json.dumps(entry)
