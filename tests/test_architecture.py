"""Import rules from DESIGN.md, checked on the source: the engine stays pure, the sandbox stays ignorant."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
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
PLATFORM_PACKAGES = tuple(SRC / "leadscore" / "connectors" / name for name in PLATFORMS)
NEUTRAL = sorted(
    path
    for path in (SRC / "leadscore").rglob("*.py")
    if not any(path.is_relative_to(package) for package in PLATFORM_PACKAGES)
)
WORD = re.compile(r"\b(" + "|".join(PLATFORMS) + r")\b", re.IGNORECASE)


@pytest.mark.parametrize("path", NEUTRAL, ids=[str(p.relative_to(SRC)) for p in NEUTRAL])
def test_neutral_modules_name_no_platform(path: Path) -> None:
    """Platform knowledge lives in connectors/<platform>/ alone, declared to the rest through the plug-in registry;
    not even a docstring or a message of a neutral module names a platform."""
    named = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WORD.search(line)
    ]
    assert named == [], f"{path.relative_to(SRC)} names a platform"


def test_every_platform_is_found_through_its_entry_point() -> None:
    from leadscore.platforms import platforms
    from leadscore.sources import SourceSettings

    found = platforms()
    assert sorted(found) == ["brevo", "hubspot", "salesforce"]
    for name, declared in found.items():
        assert declared.name == name
        assert issubclass(declared.settings, SourceSettings)
        assert (ROOT / "connectors" / declared.mapping_file).is_file()


def test_import_contracts_hold() -> None:
    """The layering rules in pyproject.toml ([tool.importlinter]), checked as .ci/run checks them."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
