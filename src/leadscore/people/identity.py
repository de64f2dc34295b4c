"""The key that makes records one person: their normalized email, plus-addressing folded where asked."""

from __future__ import annotations

from leadscore.records import normalize_email


def identity_key(email: object, fold_plus_addressing: bool = False) -> str | None:
    """``Jane+news@X.com `` is ``jane+news@x.com``, or ``jane@x.com`` when plus-addressing is folded.

    Folding is a setting because some teams hand out ``+tag`` addresses to tell
    campaigns apart (one person), while shared inboxes use them for different people.
    """
    normalized = normalize_email(email)
    if normalized is None or not fold_plus_addressing:
        return normalized
    local, domain = normalized.rsplit("@", 1)
    base = local.split("+", 1)[0]
    return f"{base}@{domain}" if base else normalized
