"""The Salesforce sandbox's SOQL subset: the queries a sync sends, parsed and applied to plain records."""

from __future__ import annotations

import pytest

from leadscore_sandbox.soql import SoqlError, parse, sort_key

RECORDS = [
    {"Id": "00Q3", "SystemModstamp": "2026-11-20T10:00:00.000+0000", "IsDeleted": False, "Email": "c@x.example"},
    {"Id": "00Q1", "SystemModstamp": "2026-11-20T10:00:00.000+0000", "IsDeleted": False, "Email": "a@x.example"},
    {"Id": "00Q2", "SystemModstamp": "2026-11-21T08:00:00.000+0000", "IsDeleted": True, "Email": "b@x.example"},
]


def run(text: str) -> list[str]:
    query = parse(text)
    found = sorted((r for r in RECORDS if query.where(r)), key=sort_key(query.order_by))
    return [r["Id"] for r in found[: query.limit]]


def test_fields_object_order_and_limit_are_read() -> None:
    query = parse("SELECT Id, Email FROM Lead WHERE IsDeleted = false ORDER BY SystemModstamp, Id LIMIT 5")
    assert query.fields == ["Id", "Email"]
    assert query.sobject == "Lead"
    assert query.order_by == ["SystemModstamp", "Id"]
    assert query.limit == 5


def test_the_keyset_a_sync_sends_returns_what_follows_the_cursor() -> None:
    keyset = (
        "SELECT Id FROM Lead WHERE (SystemModstamp > 2026-11-20T10:00:00.000Z OR (SystemModstamp = "
        "2026-11-20T10:00:00.000Z AND Id > '00Q1')) ORDER BY SystemModstamp, Id"
    )
    assert run(keyset) == ["00Q3", "00Q2"]


def test_in_lists_strings_and_booleans() -> None:
    assert run("SELECT Id FROM Lead WHERE Email IN ('a@x.example', 'b@x.example') ORDER BY Id") == ["00Q1", "00Q2"]
    assert run("SELECT Id FROM Lead WHERE IsDeleted = true") == ["00Q2"]
    assert run("SELECT Id FROM Lead WHERE Email != 'a@x.example' AND IsDeleted = false") == ["00Q3"]


def test_a_query_outside_the_subset_is_a_malformed_query() -> None:
    with pytest.raises(SoqlError):
        parse("SELECT Id FROM Lead WHERE")
