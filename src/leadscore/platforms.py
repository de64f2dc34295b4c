"""Platforms are plug-ins: each declares itself once and is found through an entry-point group.

A platform package (``leadscore.connectors.<name>`` for the bundled ones, or any
installed distribution) exposes a ``Platform`` under the ``leadscore.platforms``
entry-point group, the way pytest finds its plug-ins. Settings, the CLI, the
demo and the daemon only ever iterate what is declared here, so a new platform
is a new package and its entry point, with no edit to neutral code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from leadscore.errors import ConfigError
from leadscore.protocol import Connector, WriteCost, WriteTargets, WriteWork
from leadscore.sources import SourceSettings

ENTRY_POINT_GROUP = "leadscore.platforms"
Sleep = Callable[[float], None]


class RequestLog(Protocol):
    def total(self) -> int: ...


class Faults(Protocol):
    latency_seconds: float


class SandboxServer(Protocol):
    """A platform's imitation on loopback, as the CLI and the demo drive it."""

    @property
    def log(self) -> RequestLog: ...

    @property
    def faults(self) -> Faults: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def serve_forever(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A seeded sandbox, not yet started, and how a source reaches it."""

    server: SandboxServer
    base_url: str
    token: str


@dataclass(frozen=True, slots=True)
class Platform:
    """Everything leadscore needs to know of a platform, declared by the platform's own package.

    ``settings``: the pydantic model of one source of this platform (the common
    fields plus its own credentials). ``connect``: builds a connector for a source,
    the models' write targets, and the sleep its pacing uses. ``sandbox``: a seeded
    sandbox on a port (0: any free one) with a number of contacts and a seed; sandboxes of one seed share
    people (record i of a platform is shared person i + the platform's offset), so the demo shows one person
    across platforms.
    ``mapping_file``: the platform's default mapping (packaged data). ``demo_mapping``:
    mapping overrides the demo uses against the sandbox. ``profile_fields``: given a
    source's mapping overrides, the profile fields each kind of record it reads can
    fill, keyed by where the kind sits in ``mapping.profile`` ("" where the profile
    mapping is flat; an object name where a platform maps each object apart).
    ``write_cost``: given a source's mapping overrides and some writes, the fewest
    calls they take and their time at the platform's limits (what ``plan`` shows).
    """

    name: str
    title: str
    settings: type[SourceSettings]
    connect: Callable[[Any, WriteTargets, Sleep], Connector]
    sandbox: Callable[[int, int, int], Sandbox]
    mapping_file: str
    profile_fields: Callable[[Mapping[str, Any]], Mapping[str, frozenset[str]]]
    write_cost: Callable[[Mapping[str, Any], WriteWork], WriteCost]
    demo_mapping: Mapping[str, Any] = field(default_factory=dict)


@functools.cache
def platforms() -> dict[str, Platform]:
    """Every installed platform by name, in a stable order."""
    found: dict[str, Platform] = {}
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        declared = point.load()
        if not isinstance(declared, Platform):
            raise ConfigError(
                f"entry point {point.name} = {point.value} in group {ENTRY_POINT_GROUP} is not a leadscore Platform; "
                "fix or uninstall the package that declares it"
            )
        found[declared.name] = declared
    return found


def platform(name: str) -> Platform:
    known = platforms()
    if name not in known:
        raise ConfigError(
            f"platform '{name}' is not installed (installed: {', '.join(known) or 'none'}); fix the source's "
            f"platform, or install the package that provides it (entry point group {ENTRY_POINT_GROUP})"
        )
    return known[name]


def build_connector(source: SourceSettings, targets: WriteTargets, sleep: Sleep = time.sleep) -> Connector:
    """The one place that turns a source's settings into a connector."""
    return platform(source.platform).connect(source, targets, sleep)
