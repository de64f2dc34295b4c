"""Three sources sharing people, a crash at every commit of their cycles, then normal cycles: nothing lost,
nothing doubled, and every platform ends as after clean cycles (the cross-source writes included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from leadscore.people import PeopleScope
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, PLATFORMS, Platform, shown_everywhere
from tests.sync.test_commit_boundaries import (
    UNPACED,
    CrashBeforeCommit,
    SimulatedCrash,
    backend_urls,
    default_engines,
    store_state,
)

NAMES = ("hubspot", "brevo", "salesforce")
GROUP = PeopleScope(sources=NAMES, labels={"hubspot": "HubSpot", "brevo": "Brevo", "salesforce": "Salesforce"})
SHARED = 6


def accounts() -> dict[str, Platform]:
    """Small accounts whose people overlap: everyone shared is in two or three platforms."""
    platforms = {name: PLATFORMS[name]() for name in NAMES}
    for platform in platforms.values():
        platform.seed(12, 5)
    for number in range(SHARED):
        email = f"shared{number}@people.example"
        for name in NAMES[: 2 + number % 2]:
            platforms[name].add_person(email, industry="software" if name == "salesforce" else "retail")
    return platforms


def engage(platforms: dict[str, Platform], url: str) -> None:
    """High intent seen by Brevo (through its webhook) for a person Salesforce and HubSpot also hold."""
    store = SQLStore.open(url)
    try:
        brevo = platforms["brevo"]
        contacts = brevo.sandbox.contacts  # type: ignore[attr-defined]
        shared = next(i for i in brevo.contact_ids() if contacts[int(i)].email == "shared1@people.example")
        brevo.high_intent(shared, store)
    finally:
        store.close()


def round_of_cycles(platforms: dict[str, Platform], url: str, crash: CrashBeforeCommit | None = None) -> None:
    """Every source's cycle, twice (the second pass sends what the others planned), in one 'process': a
    crash ends the process there."""
    store = SQLStore.open(url)
    if crash is not None:
        event.listen(store.db, "commit", crash)
    try:
        for _ in range(2):
            for name in NAMES:
                connector = platforms[name].connector(**UNPACED.get(name, {}))
                try:
                    Pipeline(store, connector, default_engines(), clock=lambda: NOW, people=GROUP).run_cycle()
                finally:
                    connector.close()
    except SimulatedCrash:
        pass
    finally:
        if crash is not None:
            event.remove(store.db, "commit", crash)
        store.close()


def everything(platforms: dict[str, Platform], url: str) -> dict[str, object]:
    return {name: (store_state(url, name), shown_everywhere(platforms[name])) for name in NAMES}


def stop(platforms: dict[str, Platform]) -> None:
    for platform in platforms.values():
        platform.sandbox.stop()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_crash_at_any_commit_of_sources_sharing_people_ends_as_clean_cycles(tmp_path: Path, backend: str) -> None:
    with backend_urls(backend, tmp_path) as new_url:
        clean, clean_url = accounts(), new_url("clean")
        engage(clean, clean_url)
        counted = CrashBeforeCommit(at=None)
        round_of_cycles(clean, clean_url, counted)
        expected = everything(clean, clean_url)
        stop(clean)
        scores = expected["salesforce"][0]["scores"]  # type: ignore[index]
        assert any("(Brevo" in values[3] for values in scores.values()), "a Brevo engagement reached Salesforce"

        failures = []
        for at in range(1, counted.commits + 1):
            crashed, url = accounts(), new_url(f"crash{at}")
            engage(crashed, url)
            crash = CrashBeforeCommit(at)
            round_of_cycles(crashed, url, crash)
            round_of_cycles(crashed, url)
            assert crash.crashed, f"the cycles made fewer than {at} commits"
            got = everything(crashed, url)
            stop(crashed)
            if got != expected:
                differing = [name for name in NAMES if got[name] != expected[name]]
                failures.append(f"crash before commit {at} of {counted.commits}: {', '.join(differing)} differ")
        assert failures == []
