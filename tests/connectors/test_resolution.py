"""Each platform's error-resolution table, row by row: which answer leads to which action."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from leadscore.connectors.brevo.resolution import TABLE as BREVO
from leadscore.connectors.hubspot.resolution import TABLE as HUBSPOT
from leadscore.connectors.hubspot.resolution import error_code
from leadscore.connectors.resolution import Action, Resolution, resolve
from leadscore.connectors.salesforce.resolution import TABLE as SALESFORCE

CASES: dict[str, tuple[Sequence[Resolution], list[tuple[int, str, str, Action]]]] = {
    "hubspot": (
        HUBSPOT,
        [
            (429, "DAILY", "GET /crm/v3/objects/contacts", Action.PAUSE),
            (429, "TEN_SECONDLY_ROLLING", "POST /crm/v3/objects/contacts/batch/update", Action.WAIT),
            (429, "SECONDLY", "POST /crm/v3/objects/contacts/search", Action.WAIT),
            (401, "INVALID_AUTHENTICATION", "GET /crm/v3/properties/contacts", Action.REFRESH),
            (403, "MISSING_SCOPES", "GET /events/v3/events", Action.CREDENTIALS),
            (502, "", "GET /crm/v3/objects/contacts", Action.RETRY),
            (0, "", "GET /crm/v3/objects/contacts", Action.RETRY),
            (408, "", "GET /crm/v3/objects/contacts", Action.RETRY),
            (400, "VALIDATION_ERROR", "POST /crm/v3/objects/contacts/batch/update", Action.SPLIT),
            (400, "VALIDATION_ERROR", "POST /crm/v3/properties/contacts", Action.FAIL),
            (409, "CONFLICT", "POST /crm/v3/lists", Action.FAIL),
        ],
    ),
    "brevo": (
        BREVO,
        [
            (429, "too_many_requests", "GET /contacts", Action.WAIT),
            (503, "", "POST /contacts/batch", Action.RETRY),
            (401, "unauthorized", "GET /contacts", Action.CREDENTIALS),
            (403, "permission_denied", "POST /contacts/import", Action.CREDENTIALS),
            (400, "duplicate_parameter", "POST /contacts/attributes/{attributeCategory}/{attributeName}", Action.READ),
            (404, "document_not_found", "POST /contacts/lists/{listId}/contacts/add", Action.READ),
            (207, "", "POST /contacts/batch", Action.READ),
        ],
    ),
    "salesforce": (
        SALESFORCE,
        [
            (403, "REQUEST_LIMIT_EXCEEDED", "GET query Lead", Action.PAUSE),
            (401, "INVALID_SESSION_ID", "GET query Lead", Action.REFRESH),
            (400, "MALFORMED_QUERY", "GET query Lead", Action.FAIL),
            (400, "SERVER_UNAVAILABLE", "GET query Lead", Action.FAIL),
            (403, "API_DISABLED_FOR_ORG", "GET query Lead", Action.FAIL),
            (503, "SERVER_UNAVAILABLE", "POST composite", Action.RETRY),
            (500, "UNKNOWN_EXCEPTION", "POST composite", Action.RETRY),
            (300, "REQUEST_RUNNING_TOO_LONG", "GET query Task", Action.RETRY),
            (502, "", "GET describe Lead", Action.RETRY),
            (404, "NOT_FOUND", "GET describe Lead", Action.FAIL),
        ],
    ),
}


@pytest.mark.parametrize(
    ("platform", "status", "code", "endpoint", "expected"),
    [(name, *case) for name, (_, cases) in CASES.items() for case in cases],
)
def test_each_answer_resolves_to_its_action(
    platform: str, status: int, code: str, endpoint: str, expected: Action
) -> None:
    table, _ = CASES[platform]
    assert resolve(table, status, code, endpoint).action is expected


@pytest.mark.parametrize("platform", sorted(CASES))
def test_every_row_of_each_table_is_reached_by_a_case(platform: str) -> None:
    """A row no answer reaches is dead (an earlier row shadows it) or untested."""
    table, cases = CASES[platform]
    reached = {id(next(row for row in table if row.matches(s, c, e))) for s, c, e, _ in cases}
    unreached = [(row.statuses[:3], row.code, row.why) for row in table if id(row) not in reached]
    assert unreached == []


@pytest.mark.parametrize("platform", sorted(CASES))
def test_each_table_ends_with_a_catch_all(platform: str) -> None:
    last = CASES[platform][0][-1]
    assert last.statuses == ()
    assert last.code is None
    assert last.endpoint_suffix == ""


def test_hubspot_error_code_is_the_policy_name_or_the_category() -> None:
    assert error_code('{"status": "error", "policyName": "DAILY", "category": "RATE_LIMITS"}') == "DAILY"
    assert error_code('{"status": "error", "category": "VALIDATION_ERROR"}') == "VALIDATION_ERROR"
    assert error_code("<html>502 Bad Gateway</html>") == ""
    assert error_code("[1, 2]") == ""


def test_a_table_without_a_catch_all_says_so() -> None:
    with pytest.raises(LookupError, match="catch-all"):
        resolve([Resolution((429,), None, Action.WAIT, "x")], 500)


def test_hubspot_renews_an_expired_token_but_never_a_refused_scope() -> None:
    """A 401 is renewable (an OAuth app gets one refresh); a 403 MISSING_SCOPES fails at once, without a refresh."""
    from leadscore.connectors.hubspot.client import HubSpotClient, OAuthApp
    from leadscore.connectors.hubspot.mapping import HubSpotMapping
    from leadscore.connectors.mapping import load_mapping
    from leadscore.errors import AuthError, ExpiredCredentialsError

    limits = load_mapping("hubspot", HubSpotMapping).limits
    client = HubSpotClient("hs", "http://127.0.0.1:9", "token", limits, oauth=OAuthApp("id", "secret", "refresh"))
    expired = client._classify("GET /crm/v3/objects/contacts", 401, '{"category": "INVALID_AUTHENTICATION"}', None)
    scope = client._classify("GET /events/v3/events", 403, '{"category": "MISSING_SCOPES"}', None)
    assert isinstance(expired, ExpiredCredentialsError)
    assert isinstance(scope, AuthError)
    assert not isinstance(scope, ExpiredCredentialsError)
    assert "grant the app the missing scope" in str(scope)
    client.close()
