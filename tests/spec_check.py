"""Every request a connector sends and every answer a sandbox gives, validated against the vendor's spec.

A ``SpecValidator`` taps a sandbox (``SandboxServer.taps``) and hands each exchange to openapi-core. HubSpot
publishes OpenAPI 3.0 files; Brevo publishes Swagger 2.0, which openapi-core does not read, so it is converted
to OpenAPI 3.0 first (``swagger2_to_openapi3``). What the live API does and the spec does not describe is a
``Quirk``: counted, never hidden, and listed with why in ``connectors/<platform>.md``. Anything else is a
violation the test fails on.

The specs are not ours to redistribute: they are read from ../shared/specs at run time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.testing import MockRequest, MockResponse

from leadscore_sandbox._http import Request, Response
from tests.conftest import ROOT

SPECS = ROOT.parent / "shared" / "specs"
TRAILING_SLASH = "trailing slash"
"""hubspot-api-client asks for some collections with a trailing slash (``/crm/v3/lists/``), which the API serves."""


@dataclass(frozen=True)
class Violation:
    """One way an exchange differs from the spec: ``where`` is a JSON path into the body, or the parameter."""

    direction: str
    """``request`` (what the connector sent) or ``answer`` (what the sandbox gave)."""
    method: str
    path: str
    status: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.direction} {self.method} {self.path} ({self.status}): {self.where}: {self.message}"


@dataclass(frozen=True)
class Quirk:
    """A difference between the spec and the live API that is known and discounted, with the reason."""

    name: str
    why: str
    applies: Callable[[Violation], bool]


def _pattern(
    method: str, path: str, where: str = ".*", message: str = ".*", direction: str = ".*"
) -> Callable[[Violation], bool]:
    compiled = [re.compile(f"^{p}$", re.S) for p in (direction, method, path, where, message)]

    def applies(violation: Violation) -> bool:
        fields = (violation.direction, violation.method, violation.path, violation.where, violation.message)
        return all(regex.match(value) for regex, value in zip(compiled, fields, strict=True))

    return applies


@dataclass
class SpecValidator:
    """Validates the exchanges of one platform's sandbox; collects what is unexplained and what was discounted."""

    documents: list[OpenAPI]
    host_url: str
    quirks: list[Quirk]
    unlisted_paths: dict[str, str] = field(default_factory=dict)
    """Path patterns the spec collection lacks (regex -> the quirk's name in the notes), counted, not checked."""
    answers_only: bool = False
    """Check the sandbox's answers alone, for tests whose requests imitate another tool's, spec or not."""
    checked: Counter[str] = field(default_factory=Counter)
    discounted: Counter[str] = field(default_factory=Counter)
    unexplained: list[Violation] = field(default_factory=list)
    _documents_by_route: dict[tuple[str, str], OpenAPI | None] = field(default_factory=dict)

    def attach(self, sandbox: Any) -> None:
        sandbox.taps.append(self.tap)

    def tap(self, request: Request, response: Response, injected: bool) -> None:
        path = request.path
        for pattern, name in self.unlisted_paths.items():
            if re.match(pattern, path):
                self.discounted[name] += 1
                return
        if path != "/" and path.endswith("/"):
            self.discounted[TRAILING_SLASH] += 1
            path = path.rstrip("/")
        mock_request = MockRequest(
            self.host_url,
            request.method,
            path,
            args={name: values[0] if len(values) == 1 else values for name, values in request.query.items()},
            headers=request.headers,
            data=_request_bytes(request),
            content_type=request.headers.get("content-type", "application/json").split(";")[0],
        )
        document = self._document_for(request.method, path, mock_request)
        if document is None:
            self._record(Violation("request", request.method, path, response.status, "path", "not in the spec"))
            return
        self.checked["requests"] += 1
        for where, message in _errors(lambda: document.validate_request(mock_request)):
            self._record(Violation("request", request.method, path, response.status, where, message))
        if injected or isinstance(response.body, bytes):
            return
        self.checked["answers"] += 1
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        mock_response = MockResponse(payload, status_code=response.status, content_type="application/json")
        for where, message in _errors(lambda: document.validate_response(mock_request, mock_response)):
            self._record(Violation("answer", request.method, path, response.status, where, message))

    def _document_for(self, method: str, path: str, request: MockRequest) -> OpenAPI | None:
        key = (method, re.sub(r"/\d+(?=/|$)", "/{n}", path))
        if key not in self._documents_by_route:
            self._documents_by_route[key] = next((d for d in self.documents if _routes(d, request)), None)
        return self._documents_by_route[key]

    def _record(self, violation: Violation) -> None:
        if self.answers_only and violation.direction == "request" and violation.where != "path":
            return
        quirk = next((q for q in self.quirks if q.applies(violation)), None)
        if quirk is None:
            self.unexplained.append(violation)
        else:
            self.discounted[quirk.name] += 1

    def report(self) -> str:
        lines = [f"checked: {dict(self.checked)}", f"discounted: {dict(self.discounted)}"]
        seen: Counter[str] = Counter(str(v) for v in self.unexplained)
        lines += [f"{count} x {text}" for text, count in seen.most_common(40)]
        return "\n".join(lines)


def _routes(document: OpenAPI, request: MockRequest) -> bool:
    try:
        document.validate_request(request)
    except (PathNotFound, OperationNotFound, ServerNotFound):
        return False
    except Exception:
        return True
    return True


def _request_bytes(request: Request) -> bytes | None:
    if request.body is None:
        return None
    if isinstance(request.body, str):
        return request.body.encode()
    if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return urlencode(request.body).encode()
    return json.dumps(request.body).encode()


def _errors(validate: Callable[[], Any]) -> Iterator[tuple[str, str]]:
    """Each schema error as (JSON path, message); an error without a schema behind it as (its class, its text)."""
    try:
        validate()
    except Exception as error:
        yield from _flatten(error)


def _flatten(error: BaseException) -> Iterator[tuple[str, str]]:
    schema_errors = getattr(error, "schema_errors", None)
    if schema_errors:
        for schema_error in schema_errors:
            yield from _leaves(schema_error)
        return
    nested = getattr(error, "errors", None)
    if isinstance(nested, list) and nested:
        for inner in nested:
            yield from _flatten(inner)
        return
    if error.__cause__ is not None:
        yield from _flatten(error.__cause__)
        return
    yield type(error).__name__, str(error)[:300]


def _leaves(schema_error: Any) -> Iterator[tuple[str, str]]:
    """The innermost errors of a jsonschema error (a oneOf or anyOf says little on its own)."""
    if schema_error.context:
        best = min(schema_error.context, key=lambda e: len(list(e.context or ())))
        yield from _leaves(best)
        return
    yield re.sub(r"\[\d+\]", "[*]", schema_error.json_path), schema_error.message[:300]


def load_openapi(paths: list[Path]) -> list[OpenAPI]:
    """HubSpot's files, with two readings openapi-core needs to check them.

    Error answers are declared as ``*/*``, which openapi-core leaves undecoded; HubSpot sends them as JSON.
    openapi-core cannot check an OAuth 2 scheme; its access token travels as ``Authorization: Bearer``, as a
    private app's does, so the scheme is checked as HTTP bearer.
    """
    documents = []
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8").replace('"*/*"', '"application/json"'))
        schemes = document.get("components", {}).get("securitySchemes", {})
        for name, scheme in schemes.items():
            if scheme.get("type") == "oauth2":
                schemes[name] = {"type": "http", "scheme": "bearer"}
        documents.append(OpenAPI.from_dict(document))
    return documents


def swagger2_to_openapi3(swagger: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Swagger 2.0 document that validation needs, as OpenAPI 3.0: paths, bodies, schemas, security.

    Schemas are the same JSON Schema subset in both versions; only their home (``definitions`` ->
    ``components/schemas``) and the way bodies and parameters are declared differ.
    """
    text = json.dumps(swagger).replace('"#/definitions/', '"#/components/schemas/')
    source = json.loads(text)
    paths: dict[str, Any] = {}
    for template, operations in source["paths"].items():
        shared = operations.get("parameters", [])
        paths[template] = {
            method: _operation(operation, shared, source)
            for method, operation in operations.items()
            if method != "parameters"
        }
    return {
        "openapi": "3.0.3",
        "info": source["info"],
        "servers": [{"url": f"https://{source['host']}{source.get('basePath', '')}"}],
        "paths": paths,
        "components": {
            "schemas": {name: _schema(schema) for name, schema in source.get("definitions", {}).items()},
            "securitySchemes": source.get("securityDefinitions", {}),
        },
        "security": source.get("security", []),
    }


_PARAMETER_SCHEMA_KEYS = ("type", "format", "enum", "items", "default", "minimum", "maximum", "pattern")


def _operation(operation: dict[str, Any], shared: list[dict[str, Any]], source: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    form: dict[str, Any] = {}
    body: dict[str, Any] | None = None
    for parameter in [*shared, *operation.get("parameters", [])]:
        if parameter["in"] == "body":
            body = {
                "required": parameter.get("required", False),
                "content": {"application/json": {"schema": _schema(parameter["schema"])}},
            }
        elif parameter["in"] == "formData":
            form[parameter["name"]] = (
                {"type": "string"} if parameter.get("type") == "file" else _parameter_schema(parameter)
            )
        else:
            parameters.append(
                {
                    "name": parameter["name"],
                    "in": parameter["in"],
                    "required": parameter.get("required", False),
                    "schema": _parameter_schema(parameter),
                }
            )
    responses: dict[str, Any] = {}
    for status, answer in operation.get("responses", {}).items():
        responses[str(status)] = {"description": answer.get("description", "")}
        if "schema" in answer:
            responses[str(status)]["content"] = {"application/json": {"schema": _schema(answer["schema"])}}
    converted: dict[str, Any] = {"parameters": parameters, "responses": responses}
    if body is not None:
        converted["requestBody"] = body
    elif form:
        media = (operation.get("consumes") or source.get("consumes") or ["multipart/form-data"])[0]
        converted["requestBody"] = {"content": {media: {"schema": {"type": "object", "properties": form}}}}
    if "security" in operation:
        converted["security"] = operation["security"]
    return converted


def _parameter_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    return {key: parameter[key] for key in _PARAMETER_SCHEMA_KEYS if key in parameter}


def _schema(schema: Any) -> Any:
    """Swagger's ``x-nullable`` is OpenAPI 3.0's ``nullable``, its ``file`` a binary string; the rest carries over."""
    if isinstance(schema, dict):
        converted = {key: _schema(value) for key, value in schema.items() if key != "x-nullable"}
        if schema.get("x-nullable"):
            converted["nullable"] = True
        if schema.get("type") == "file":
            converted.update(type="string", format="binary")
        return converted
    if isinstance(schema, list):
        return [_schema(item) for item in schema]
    return schema


def hubspot_documents() -> list[OpenAPI]:
    return load_openapi(sorted((SPECS / "hubspot").glob("*.json")))


def brevo_documents() -> list[OpenAPI]:
    swagger = yaml.safe_load((SPECS / "brevo" / "brevo-api-v3.swagger.yaml").read_text(encoding="utf-8"))
    return [OpenAPI.from_dict(swagger2_to_openapi3(swagger))]


HUBSPOT_QUIRKS = [
    Quirk(
        "null for a requested property without a value",
        "HubSpot answers every property named in `properties=` and sends null where a record has no value; the "
        "spec's SimplePublicObject types property values as non-null strings",
        _pattern(".*", ".*", r"\$\.results\[\*\]\.properties\.[^.]+|\$\.properties\.[^.]+", r"None .*", "answer"),
    ),
]
HUBSPOT_UNLISTED = {
    r"^/email/public/v1/": "legacy email events API",
    r"^/properties/v2/": "legacy v2 properties API",
    r"^/crm/v3/schemas": "custom object schemas API",
}


BREVO_QUIRKS = [
    Quirk(
        "list members added by id are answered as ids",
        "adding or removing list members by `ids` answers those ids as text in `contacts.success` and `failure`, "
        "where the file gives every item the email format",
        _pattern(
            "POST",
            r"/v3/contacts/lists/\d+/contacts/(add|remove)",
            r"\$\.contacts\.(success|failure)\[\*\]",
            r"'\d+' is not a 'email'",
            "answer",
        ),
    ),
]
BREVO_UNLISTED = {r"^/exports/": "export file"}


@dataclass(frozen=True)
class PlatformSpec:
    """Where a vendor's spec lies, how it is read, and what the live API does that it does not say."""

    file: Path
    load: Callable[[], list[OpenAPI]]
    host_url: str
    quirks: list[Quirk]
    unlisted: dict[str, str]


PLATFORM_SPECS = {
    "hubspot": PlatformSpec(SPECS / "hubspot", hubspot_documents, "https://api.hubapi.com", HUBSPOT_QUIRKS,
                            HUBSPOT_UNLISTED),
    "brevo": PlatformSpec(SPECS / "brevo" / "brevo-api-v3.swagger.yaml", brevo_documents, "https://api.brevo.com",
                          BREVO_QUIRKS, BREVO_UNLISTED),
}  # fmt: skip
"""The platforms whose vendors publish an OpenAPI or Swagger spec (Salesforce publishes Postman collections)."""
SPEC_FILES = {name: spec.file for name, spec in PLATFORM_SPECS.items()}


@cache
def _documents(platform: str) -> tuple[OpenAPI, ...]:
    return tuple(PLATFORM_SPECS[platform].load())


def validator_for(platform: str) -> SpecValidator | None:
    """A fresh validator for the platform's sandbox, or None where the vendor has no spec or it is not beside us."""
    spec = PLATFORM_SPECS.get(platform)
    if spec is None or not spec.file.exists():
        return None
    return SpecValidator(list(_documents(platform)), spec.host_url, spec.quirks, spec.unlisted)
