"""Import rules from DESIGN.md, checked on the source: the engine stays pure, the sandbox stays ignorant."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
IO_MODULES = (
    "sqlalchemy",
    "alembic",
    "httpx",
    "requests",
    "urllib3",
    "socket",
    "hubspot",
    "simple_salesforce",
    "leadscore.store",
    "leadscore.clock",
    "leadscore.cli",
    "os",
    "subprocess",
    "time",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def clock_reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("now", "utcnow", "today", "time")
        and isinstance(node.value, ast.Name)
        and node.value.id in ("datetime", "date", "time")
    ]


ENGINE_FILES = sorted((SRC / "leadscore" / "engine").glob("*.py"))


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[p.name for p in ENGINE_FILES])
def test_engine_does_no_io_and_reads_no_clock(path: Path) -> None:
    bad = {m for m in imports_of(path) if any(m == io or m.startswith(io + ".") for io in IO_MODULES)}
    assert bad == set(), f"{path.name} imports {bad}"
    assert clock_reads(path) == [], f"{path.name} reads the clock"


def test_sandbox_imports_nothing_of_leadscore() -> None:
    for path in (SRC / "leadscore_sandbox").rglob("*.py"):
        leaked = {m for m in imports_of(path) if m == "leadscore" or m.startswith("leadscore.")}
        assert leaked == set(), f"{path} imports {leaked}"


PLATFORMS = ("hubspot", "salesforce", "brevo", "sendinblue")
NEUTRAL = sorted(p for part in ("sync", "store", "daemon", "engine") for p in (SRC / "leadscore" / part).rglob("*.py"))


def code_words(path: Path) -> set[str]:
    """Names, attributes, imported modules and string literals, leaving documentation strings out (they may give
    examples)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    words: set[str] = set(imports_of(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.add(node.value)
    return words


@pytest.mark.parametrize("path", NEUTRAL, ids=[str(p.relative_to(SRC)) for p in NEUTRAL])
def test_pipeline_store_daemon_and_engine_name_no_platform(path: Path) -> None:
    """DESIGN.md: the sync pipeline knows no platform by name; platform knowledge lives in connectors/."""
    named = {w for w in code_words(path) for p in PLATFORMS if p in w.lower()}
    assert named == set(), f"{path.relative_to(SRC)} names a platform: {sorted(named)}"
