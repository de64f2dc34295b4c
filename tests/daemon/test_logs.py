"""issue 14, logs: httpx's per-request INFO lines were 76 of a daemon's first 80; the HTTP libraries speak only
at DEBUG (and warnings always)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from leadscore.daemon import logs


@pytest.fixture
def restored() -> Iterator[None]:
    names = ("", "httpx", "httpcore", "uvicorn", "uvicorn.error", "urllib3")
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    yield
    for name, (level, handlers) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers


def test_http_libraries_are_quiet_below_debug(restored: None) -> None:
    logs.configure("json", "INFO", [], log_emails=False)
    for name in ("httpx", "httpcore", "uvicorn.error", "urllib3"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    logs.configure("json", "DEBUG", [], log_emails=False)
    assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG), "a debug log shows every request"
