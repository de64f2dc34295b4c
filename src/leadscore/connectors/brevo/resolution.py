"""What each Brevo answer means (connectors/brevo.md, "Errors"): the first matching row decides.

The code is the body's ``code`` (unauthorized, permission_denied, invalid_parameter,
document_not_found, duplicate_parameter, ...). Answers resolved as READ go back to
the caller, which knows what a 400 or 404 means for its own call (an attribute
that already exists, a list that was deleted, a partial batch).
"""

from __future__ import annotations

from leadscore.connectors.resolution import SERVER_ERRORS, Action, Resolution

TABLE = (
    Resolution((429,), None, Action.WAIT, "a per-second or hourly window is full; x-sib-ratelimit-reset says when"),
    Resolution(SERVER_ERRORS, None, Action.RETRY, "Brevo failed for a moment"),
    Resolution((401, 403), None, Action.CREDENTIALS, "the API key is wrong, revoked, or lacks a permission"),
    Resolution((), None, Action.READ, "the caller reads any other answer (2xx, 400, 404, 207)"),
)
