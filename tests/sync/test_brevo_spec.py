"""The Brevo sandbox and the connector's traffic against Brevo's own Swagger spec in ../shared/specs/brevo.

Read from beside the checkout; these tests skip, saying why, where that folder is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.spec_check import SPEC_FILES
from tests.sync.platforms import BrevoPlatform, PlatformRig, build_rig

SPEC = SPEC_FILES["brevo"]
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Brevo spec not found at {SPEC}")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PlatformRig]:
    built = build_rig(BrevoPlatform(), tmp_path, "state.db", 40, 6)
    yield built
    built.store.close()
    built.connector.close()
    built.platform.sandbox.stop()


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The spec's operation for a concrete path; a literal template wins over one with a parameter."""
    exact = spec["paths"].get(path, {}).get(method.lower())
    if exact is not None:
        return dict(exact)
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            found: dict[str, Any] = operations[method.lower()]
            return found
    return None


def conforms(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Required fields and basic types, following $ref and allOf (Swagger 2.0 definitions)."""
    if "$ref" in schema:
        return conforms(spec, spec["definitions"][schema["$ref"].rsplit("/", 1)[1]], value, where)
    problems: list[str] = []
    for part in schema.get("allOf", []):
        problems += conforms(spec, part, value, where)
    kind = schema.get("type")
    if value is None:
        return problems if schema.get("x-nullable") else [*problems, f"{where} is null"]
    if kind in TYPES and not isinstance(value, TYPES[kind]):
        return [*problems, f"{where} is {type(value).__name__}, not {kind}"]
    if isinstance(value, dict):
        problems += [f"{where}.{key} is missing" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += conforms(spec, sub, value[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for position, item in enumerate(value[:5]):
            problems += conforms(spec, schema["items"], item, f"{where}[{position}]")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where} = {value!r} is not one of {schema['enum']}")
    return problems


def test_every_call_the_connector_makes_is_in_the_spec(spec: dict[str, Any], rig: PlatformRig) -> None:
    rig.pipeline.run_cycle()
    rig.pipeline.run_cycle()
    called = [name for name in rig.platform.sandbox.log.calls if name.split()[1].startswith("/v3/")]
    assert len(called) >= 12
    for name in called:
        method, path = name.split(" ", 1)
        concrete = re.sub(r"\{[^/]+\}", "1", path.removeprefix("/v3"))
        assert operation(spec, method, concrete) is not None, f"{name} is not in Brevo's spec"


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
def test_sandbox_answers_have_the_spec_shape(
    spec: dict[str, Any], rig: PlatformRig, path: str, params: dict[str, Any]
) -> None:
    rig.pipeline.run_cycle()
    sandbox = rig.platform.sandbox
    response = httpx.get(sandbox.url + "/v3" + path, params=params, headers={"api-key": "sandbox-key"})
    assert response.status_code == 200
    found = operation(spec, "GET", path)
    assert found is not None
    schema = found["responses"]["200"]["schema"]
    assert conforms(spec, schema, response.json()) == []


def test_sandbox_errors_have_the_spec_error_model(spec: dict[str, Any], rig: PlatformRig) -> None:
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
        problems = conforms(spec, {"$ref": "#/definitions/errorModel"}, response.json())
        assert [p for p in problems if "is not one of" not in p] == []


@pytest.mark.parametrize("verb", ["add", "remove"])
def test_list_moves_answer_with_the_spec_shape(spec: dict[str, Any], rig: PlatformRig, verb: str) -> None:
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
    response = httpx.post(
        f"{sandbox.url}/v3/contacts/lists/{chosen}/contacts/{verb}", json={"ids": [*ids, 999999]}, headers=headers
    )
    assert response.status_code == 201
    found = operation(spec, "POST", f"/contacts/lists/{chosen}/contacts/{verb}")
    assert found is not None
    schema = found["responses"]["201"]["schema"]
    assert conforms(spec, schema, response.json()) == []
    answer = response.json()["contacts"]
    assert answer["success"] == [str(i) for i in ids]
    assert answer["failure"] == ["999999"]
