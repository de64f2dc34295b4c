"""``leadscore check``'s findings from one read each: what answered, what refused and why, and what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadscore.errors import AuthError, PlatformError, StreamUnavailableError
from leadscore.protocol import FAIL, OK, WARN, CheckItem


def checked(what: str, read: Callable[[], Any], ok: str, absent: str | None = None, fix: str = "") -> CheckItem:
    """``read`` once: ok when it answers (warn with ``absent`` when it answers None), warn when an optional stream
    is refused, fail with the platform's message otherwise."""
    try:
        answer = read()
    except StreamUnavailableError as exc:
        return CheckItem(what, WARN, f"not available: {exc.reason}", exc.fix)
    except AuthError as exc:
        return CheckItem(what, FAIL, str(exc), fix or "grant the permission the message names")
    except PlatformError as exc:
        return CheckItem(what, FAIL, str(exc), fix or "see the platform's message")
    if answer is None and absent is not None:
        return CheckItem(what, WARN, absent)
    return CheckItem(what, OK, ok)
