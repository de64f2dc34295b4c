"""The validating layer itself: it must catch what drifts from the vendors' specs and discount only what is listed.

The cycle suite (test_cycle_suite.py) runs every exchange of the HubSpot and Brevo sandboxes through it; these
tests show that a validator which passes there would have failed on the divergences found by hand before it.
"""

from __future__ import annotations

import re

import pytest

from leadscore_sandbox._http import Request, Response
from tests.conftest import ROOT
from tests.spec_check import (
    BREVO_QUIRKS,
    BREVO_UNLISTED,
    HUBSPOT_QUIRKS,
    HUBSPOT_UNLISTED,
    SPEC_FILES,
    TRAILING_SLASH,
    SpecValidator,
    swagger2_to_openapi3,
    validator_for,
)

HUBSPOT_AUTH = {"authorization": "Bearer sandbox-token", "content-type": "application/json"}
BREVO_AUTH = {"api-key": "sandbox-key", "content-type": "application/json"}


def needs_spec(platform: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not SPEC_FILES[platform].exists(), reason=f"{platform} spec not found at {SPEC_FILES[platform]}"
    )


def exchange(
    validator: SpecValidator, method: str, path: str, body: object, status: int, answer: object, headers: dict[str, str]
) -> None:
    validator.tap(Request(method, path, {}, headers, body, {}), Response(status, answer), False)


@needs_spec("brevo")
def test_brevo_list_answers_with_integer_ids_are_caught() -> None:
    """Divergence 5 of the vendor review: the sandbox once answered list adds with integer ids."""
    validator = validator_for("brevo")
    assert validator is not None
    path = "/v3/contacts/lists/7/contacts/add"
    exchange(validator, "POST", path, {"ids": [1, 2]}, 201, {"contacts": {"success": [1, 2]}}, BREVO_AUTH)
    assert [(v.direction, v.where) for v in validator.unexplained] == [("answer", "$.contacts.success[*]")] * 2
    fixed = validator_for("brevo")
    assert fixed is not None
    exchange(fixed, "POST", path, {"ids": [1, 2]}, 201, {"contacts": {"success": ["1", "2"]}}, BREVO_AUTH)
    assert fixed.unexplained == []
    assert fixed.checked == {"requests": 1, "answers": 1}


@needs_spec("brevo")
def test_a_brevo_request_without_its_key_or_with_a_mistyped_body_is_caught() -> None:
    validator = validator_for("brevo")
    assert validator is not None
    body = {"contacts": [{"email": "a@b.example", "attributes": {"SCORE": 25}}]}
    exchange(validator, "POST", "/v3/contacts/batch", body, 204, None, {"content-type": "application/json"})
    exchange(validator, "POST", "/v3/contacts/batch", {"contacts": "a@b.example"}, 204, None, BREVO_AUTH)
    found = {(v.direction, v.where) for v in validator.unexplained}
    assert found == {("request", "SecurityNotFound"), ("request", "$.contacts")}, validator.report()


@needs_spec("hubspot")
def test_hubspot_nulls_are_discounted_but_a_number_where_text_belongs_is_not() -> None:
    validator = validator_for("hubspot")
    assert validator is not None
    record = {
        "id": "1",
        "properties": {"email": "a@b.example", "jobtitle": None},
        "createdAt": "2026-11-01T00:00:00.000Z",
        "updatedAt": "2026-11-01T00:00:00.000Z",
        "archived": False,
    }
    exchange(validator, "GET", "/crm/v3/objects/contacts", None, 200, {"results": [record]}, HUBSPOT_AUTH)
    assert validator.unexplained == [], validator.report()
    assert validator.discounted["null for a requested property without a value"] >= 1
    drifted = {**record, "properties": {"email": "a@b.example", "leadscore_score": 25}}
    exchange(validator, "GET", "/crm/v3/objects/contacts", None, 200, {"results": [drifted]}, HUBSPOT_AUTH)
    assert [v.where for v in validator.unexplained] == ["$.results[*].properties.leadscore_score"]


@needs_spec("hubspot")
def test_a_path_the_spec_lacks_fails_unless_it_is_listed_with_why() -> None:
    validator = validator_for("hubspot")
    assert validator is not None
    exchange(validator, "GET", "/crm/v3/made-up", None, 404, {"message": "not found"}, HUBSPOT_AUTH)
    exchange(validator, "GET", "/email/public/v1/events", None, 200, {"events": []}, HUBSPOT_AUTH)
    assert [(v.path, v.message) for v in validator.unexplained] == [("/crm/v3/made-up", "not in the spec")]
    assert sum(validator.discounted.values()) == 1


def test_swagger_bodies_forms_files_and_definitions_become_openapi_3() -> None:
    swagger = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "host": "api.example.com",
        "basePath": "/v3",
        "securityDefinitions": {"key": {"type": "apiKey", "name": "api-key", "in": "header"}},
        "security": [{"key": []}],
        "paths": {
            "/things/{id}": {
                "put": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "type": "integer", "format": "int64"},
                        {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Thing"}},
                    ],
                    "responses": {"200": {"description": "ok", "schema": {"type": "file"}}, "204": {"description": ""}},
                },
                "post": {
                    "consumes": ["multipart/form-data"],
                    "parameters": [{"name": "file", "in": "formData", "type": "file"}],
                    "responses": {"201": {"description": "made"}},
                },
            }
        },
        "definitions": {"Thing": {"type": "object", "properties": {"note": {"type": "string", "x-nullable": True}}}},
    }
    converted = swagger2_to_openapi3(swagger)
    assert converted["servers"] == [{"url": "https://api.example.com/v3"}]
    put = converted["paths"]["/things/{id}"]["put"]
    assert put["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "format": "int64"}}
    ]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert put["responses"]["200"]["content"]["application/json"]["schema"] == {"type": "string", "format": "binary"}
    assert "content" not in put["responses"]["204"]
    post = converted["paths"]["/things/{id}"]["post"]
    assert post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"] == {"type": "string"}
    assert converted["components"]["schemas"]["Thing"]["properties"]["note"] == {"type": "string", "nullable": True}
    assert converted["components"]["securitySchemes"]["key"]["in"] == "header"


@pytest.mark.parametrize(
    ("platform", "quirks", "unlisted"),
    [("hubspot", HUBSPOT_QUIRKS, HUBSPOT_UNLISTED), ("brevo", BREVO_QUIRKS, BREVO_UNLISTED)],
)
def test_every_discounted_quirk_is_written_down_in_the_platform_notes(
    platform: str, quirks: list[object], unlisted: dict[str, str]
) -> None:
    notes = (ROOT / "connectors" / f"{platform}.md").read_text(encoding="utf-8")
    section = notes.split("## Spec quirks", 1)
    assert len(section) == 2, f"connectors/{platform}.md has no '## Spec quirks' section"
    for quirk in quirks:
        assert re.search(re.escape(quirk.name), section[1], re.I), quirk.name  # type: ignore[attr-defined]
    for name in [*unlisted.values(), *([TRAILING_SLASH] if platform == "hubspot" else [])]:
        assert re.search(re.escape(name), section[1], re.I), name
