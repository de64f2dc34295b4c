"""Shared fixtures: the default model, a fixed clock, and a store on every backend."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from leadscore.engine import Engine, engines, load_model_file
from leadscore.records import Contact, Event
from leadscore.store import SQLStore
from leadscore.sync.plan import write_targets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "config" / "scoring.yaml"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TARGETS = write_targets(engines(load_model_file(DEFAULT_MODEL)))
"""What the default model writes: the targets every connector under test is built with."""
POSTGRES_URL = os.environ.get("LEADSCORE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine("lead", load_model_file(DEFAULT_MODEL).models["lead"])


def contact(cid: str = "c1", email: str | None = "pat@acme.example", **profile: Any) -> Contact:
    return Contact(source="test", id=cid, email=email, profile=profile)


def event(eid: str, action: str, days_ago: float, cid: str = "c1", now: datetime = NOW, **attributes: Any) -> Event:
    return Event("test", eid, cid, action, now - timedelta(days=days_ago), attributes)


@functools.cache
def postgres_available() -> bool:
    probe = create_engine(POSTGRES_URL)
    try:
        with probe.connect() as connection:
            connection.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        probe.dispose()


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A store URL on a PostgreSQL schema of its own, dropped afterwards; skips, saying why, if there is no server."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}; start it (see ../shared/research/env-services.md)")
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"create schema {schema_name}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema_name}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"drop schema {schema_name} cascade"))
        admin.dispose()


def sync_once(sources: Path, state: str, *extra: str) -> list[str]:
    """The command line of one ``leadscore sync --once`` in a fresh process, as an operator would type it."""
    return [
        sys.executable,
        "-m",
        "leadscore",
        "sync",
        "--once",
        "--sources",
        str(sources),
        "--state",
        state,
        "--model",
        str(DEFAULT_MODEL),
        *extra,
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """A fresh store on SQLite (a temp file) and on PostgreSQL (a schema of its own, dropped after)."""
    if request.param == "sqlite":
        opened = SQLStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        yield opened
        opened.close()
        return
    with postgres_schema() as url:
        opened = SQLStore.open(url)
        try:
            yield opened
        finally:
            opened.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL tests run one at a time on one worker: each opens pools and scoring workers of its own, and
    several at once can pass the server's connection limit. The rest spread over the other workers."""
    for item in items:
        if item.get_closest_marker("postgres") is not None or "postgres" in item.nodeid.lower():
            item.add_marker(pytest.mark.xdist_group("postgres"))
