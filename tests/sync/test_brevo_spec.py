"""The Brevo sandbox and the connector's traffic against Brevo's own Swagger spec in ../shared/specs/brevo.

Read from beside the checkout; these tests skip, saying why, where that folder is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft4Validator

from tests.spec_check import SPEC_FILES, SpecValidator, validator_for
from tests.sync.platforms import BrevoPlatform, PlatformRig, build_rig

SPEC = SPEC_FILES["brevo"]

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Brevo spec not found at {SPEC}")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PlatformRig]:
    built = build_rig(BrevoPlatform(), tmp_path, "state.db", 40, 6)
    yield built
    built.store.close()
    built.connector.close()
    built.platform.sandbox.stop()


def validated(rig: PlatformRig, *, answers_only: bool = False) -> SpecValidator:
    """The validating layer (tests/spec_check.py) on the rig's sandbox from here on."""
    validator = validator_for("brevo")
    assert validator is not None
    validator.answers_only = answers_only
    validator.attach(rig.platform.sandbox)
    return validator


def test_every_call_the_connector_makes_is_in_the_spec(rig: PlatformRig) -> None:
    validator = validated(rig)
    rig.pipeline.run_cycle()
    rig.pipeline.run_cycle()
    assert validator.checked["requests"] >= 12
    assert not validator.unexplained, validator.report()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/contacts", {"limit": 50, "sort": "asc"}),
        ("/contacts/attributes", {}),
        ("/contacts/folders", {"limit": 10}),
        ("/emailCampaigns", {"status": "sent"}),
        ("/smtp/statistics/events", {"limit": 100}),
    ],
)
def test_sandbox_answers_have_the_spec_shape(rig: PlatformRig, path: str, params: dict[str, Any]) -> None:
    rig.pipeline.run_cycle()
    validator = validated(rig, answers_only=True)
    sandbox = rig.platform.sandbox
    response = httpx.get(sandbox.url + "/v3" + path, params=params, headers={"api-key": "sandbox-key"})
    assert response.status_code == 200
    assert validator.checked["answers"] == 1
    assert not validator.unexplained, validator.report()


def test_sandbox_errors_have_the_spec_error_model(rig: PlatformRig) -> None:
    """Brevo answers these statuses on these paths without declaring them, so the answers are checked against the
    spec's errorModel itself."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    error_model = Draft4Validator(spec["definitions"]["errorModel"])
    sandbox = rig.platform.sandbox
    answers: list[Callable[[], httpx.Response]] = [
        lambda: httpx.get(sandbox.url + "/v3/contacts", headers={"api-key": "wrong"}),
        lambda: httpx.get(sandbox.url + "/v3/contacts", params={"limit": 5000}, headers={"api-key": "sandbox-key"}),
        lambda: httpx.post(
            sandbox.url + "/v3/contacts/batch", json={"contacts": [{"id": 999999}]}, headers={"api-key": "sandbox-key"}
        ),
    ]
    for answer in answers:
        response = answer()
        assert response.status_code in (400, 401, 404)
        assert [error.message for error in error_model.iter_errors(response.json())] == []


@pytest.mark.parametrize("verb", ["add", "remove"])
def test_list_moves_answer_with_the_spec_shape(rig: PlatformRig, verb: str) -> None:
    """issue 14, divergence 5: the answer's success and failure arrays hold strings (ids or emails as text)."""
    rig.pipeline.run_cycle()
    sandbox = rig.platform.sandbox
    headers = {"api-key": "sandbox-key"}
    contacts = httpx.get(sandbox.url + "/v3/contacts", params={"limit": 5}, headers=headers).json()["contacts"]
    chosen = min(sandbox.lists)
    ids = [contact["id"] for contact in contacts]
    if verb == "remove":
        httpx.post(f"{sandbox.url}/v3/contacts/lists/{chosen}/contacts/add", json={"ids": ids}, headers=headers)
    else:
        httpx.post(f"{sandbox.url}/v3/contacts/lists/{chosen}/contacts/remove", json={"ids": ids}, headers=headers)
    validator = validated(rig)
    response = httpx.post(
        f"{sandbox.url}/v3/contacts/lists/{chosen}/contacts/{verb}", json={"ids": [*ids, 999999]}, headers=headers
    )
    assert response.status_code == 201
    assert validator.checked["answers"] == 1
    assert not validator.unexplained, validator.report()
    answer = response.json()["contacts"]
    assert answer["success"] == [str(i) for i in ids]
    assert answer["failure"] == ["999999"]
