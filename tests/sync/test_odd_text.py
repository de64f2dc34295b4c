"""Issue 13, item 6: a NUL character or a lone surrogate in a contact must not wedge a store (PostgreSQL refuses both
in text and JSON); it is cleaned at the edge and named in the run report, on every platform and both backends."""

from __future__ import annotations

import pytest

from leadscore.engine import engines, load_model_file
from leadscore.store import SQLStore
from leadscore.sync.pipeline import Pipeline
from tests.conftest import DEFAULT_MODEL
from tests.sync.platforms import NOW, PLATFORMS

ODD = "Ann\x00\ud800e"


def add_odd_contact(platform: object, name: str) -> str:
    sandbox = platform.sandbox  # type: ignore[attr-defined]
    if name == "hubspot":
        return str(sandbox.add_contact({"email": "odd@firm.example", "firstname": ODD, "jobtitle": "VP\x00"}))
    if name == "brevo":
        return str(sandbox.add_contact("odd@firm.example", {"FIRSTNAME": ODD, "JOB_TITLE": "VP\x00"}))
    return str(sandbox.add("Lead", Email="odd@firm.example", FirstName=ODD, LastName="X", Company="F", Title="VP\x00"))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_a_nul_or_a_lone_surrogate_is_cleaned_reported_and_the_contact_scored(name: str, store: SQLStore) -> None:
    platform = PLATFORMS[name]()
    try:
        platform.seed(20, 2)
        odd = add_odd_contact(platform, name)
        pipeline = Pipeline(store, platform.connector(), engines(load_model_file(DEFAULT_MODEL)), clock=lambda: NOW)
        report = pipeline.run_cycle()
        assert report.status == "ok", report.error
        assert report.contacts_scored == len(platform.contact_ids())
        assert any(p.record_id == odd and "NUL character or a lone surrogate" in p.problem for p in report.problems)
        assert platform.shown(odd)["score"] is not None, "the odd contact is scored and written like the rest"
        assert pipeline.run_cycle().status == "ok", "and the next cycle is not wedged"
    finally:
        pipeline.connector.close()
        platform.sandbox.stop()
