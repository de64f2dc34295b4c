"""What each HubSpot answer means (connectors/hubspot.md, "Errors"): the first matching row decides.

The code is the body's ``policyName`` for a 429 (DAILY, TEN_SECONDLY_ROLLING,
SECONDLY) and its ``category`` otherwise (VALIDATION_ERROR, MISSING_SCOPES, ...).
"""

from __future__ import annotations

import json

from leadscore.connectors.resolution import SERVER_ERRORS, Action, Resolution

TABLE = (
    Resolution((429,), "DAILY", Action.PAUSE, "the portal's daily limit is spent; it resets at midnight"),
    Resolution((429,), None, Action.WAIT, "a ten-second or per-second window is full"),
    Resolution((401,), None, Action.REFRESH, "the access token expired or is wrong"),
    Resolution((403,), None, Action.CREDENTIALS, "the app lacks a scope this call needs"),
    Resolution((0, 408, *SERVER_ERRORS), None, Action.RETRY, "HubSpot or the network failed for a moment"),
    Resolution((400,), None, Action.SPLIT, "one record of the batch is invalid", endpoint_suffix="batch/update"),
    Resolution((), None, Action.FAIL, "anything else is reported with HubSpot's message"),
)


def error_code(body: str) -> str:
    """The platform code of an error body: its policy name (429s) or its category."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(parsed, dict):
        return ""
    return str(parsed.get("policyName") or parsed.get("category") or "")
