"""Who may see the console: one shared token (from LEADSCORE_CONSOLE_TOKEN or the secrets directory), given
once at the login form (a signed session cookie follows), or on every request as a bearer token or a basic-auth
password for scripts. Every POST from a session carries the session's CSRF token."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

Handler = Callable[[Request], Awaitable[Response]]
SESSION_USER = "console"


def presented_token(request: Request) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>``, or basic auth with the token as password."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def logged_in(request: Request, expected: str) -> bool:
    return request.session.get("user") == SESSION_USER or token_matches(presented_token(request), expected)


async def csrf_ok(request: Request) -> bool:
    """A request authenticated by header cannot be forged by another site; a session's form must carry its token."""
    if presented_token(request) is not None:
        return True
    form = await request.form()
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    return isinstance(sent, str) and isinstance(expected, str) and hmac.compare_digest(sent, expected)


def guarded(expected: str, handler: Handler) -> Handler:
    """``handler`` for a logged-in user only: a browser is sent to the login page, anything else gets 401, and
    a POST without the session's CSRF token gets 403; none of them sees any data."""

    async def guard(request: Request) -> Response:
        if not logged_in(request, expected):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
            return PlainTextResponse("log in first\n", 401, headers={"WWW-Authenticate": 'Basic realm="leadscore"'})
        if request.method == "POST" and not await csrf_ok(request):
            return PlainTextResponse("the form's CSRF token is missing or stale; reload the page\n", 403)
        return await handler(request)

    return guard
