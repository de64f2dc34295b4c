"""What each Salesforce answer means (connectors/salesforce.md, "Errors"): the first matching row decides.

The code is the ``errorCode`` of the first error in the body. An expired session
(401 INVALID_SESSION_ID) is renewed once by the client before this table is read.
"""

from __future__ import annotations

from leadscore.connectors.resolution import SERVER_ERRORS, Action, Resolution

TRANSIENT_CODES = ("SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "REQUEST_RUNNING_TOO_LONG")

TABLE = (
    Resolution((403,), "REQUEST_LIMIT_EXCEEDED", Action.PAUSE, "the org's 24-hour API allocation is spent"),
    Resolution((401,), None, Action.REFRESH, "the session expired or was revoked"),
    Resolution((400,), None, Action.FAIL, "a malformed query or an unknown field: fix the mapping"),
    Resolution((403,), None, Action.FAIL, "the integration user lacks a permission"),
    *(Resolution((), code, Action.RETRY, "Salesforce is busy; retry") for code in TRANSIENT_CODES),
    Resolution(SERVER_ERRORS, None, Action.RETRY, "Salesforce failed for a moment"),
    Resolution((), None, Action.FAIL, "anything else is reported with Salesforce's message"),
)
