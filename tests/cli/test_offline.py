"""The offline commands as a user types them: validate, score, explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEFAULT_MODEL, ROOT

runner = CliRunner()
NOW = "2026-11-23T12:00:00Z"
EXAMPLES = ROOT / "examples"


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def score_lines(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = runner.invoke(app, ["score", "--model", str(DEFAULT_MODEL), "--now", NOW, *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_validate_ok() -> None:
    result = runner.invoke(app, ["validate", str(DEFAULT_MODEL)])
    assert result.exit_code == 0
    assert "model 'lead' ok" in result.stdout


def test_validate_bad_file_exits_2_with_location_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_MODEL.read_text().replace("operator: between", "operator: range"), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "leadscore", "validate", str(bad)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert f"{bad}:" in completed.stderr
    assert "models.lead.fit[3].operator: 'range' is not allowed" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_score_examples_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    code, _, stderr = score_lines(
        "--contacts", str(EXAMPLES / "contacts.jsonl"), "--events", str(EXAMPLES / "events.jsonl"), "--out", str(out)
    )
    assert code == 0
    results = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(results) == {"c1", "c2", "c3", "c4", "c5"}
    assert set(results["c1"]) >= {"id", "score", "grade", "band", "fit", "behaviour", "reasons"}
    assert results["c3"]["score"] == 0
    assert results["c4"]["band"] == "SQL"
    assert "podcast_listen x1" in stderr
    assert "events.jsonl:14: not valid JSON" in stderr
    assert "c9" in stderr


def test_score_strict_stops_at_the_first_malformed_line() -> None:
    code, _, stderr = score_lines(
        "--contacts", str(EXAMPLES / "contacts.jsonl"), "--events", str(EXAMPLES / "events.jsonl"), "--strict"
    )
    assert code == 1
    assert "events.jsonl:14" in stderr


def test_score_reports_a_missing_field_with_its_line(tmp_path: Path) -> None:
    contacts = write_lines(tmp_path / "c.jsonl", [{"id": "1", "email": "a@b.example"}, {"email": "no-id@b.example"}])
    events = write_lines(
        tmp_path / "e.jsonl", [{"id": "e1", "contact_id": "1", "action": "form_submit", "occurred_at": "yesterday"}]
    )
    code, lines, stderr = score_lines("--contacts", str(contacts), "--events", str(events))
    assert code == 0
    assert [line["id"] for line in lines] == ["1"]
    assert "c.jsonl:2: id: Field required" in stderr
    assert "e.jsonl:1: occurred_at" in stderr


@pytest.mark.parametrize(
    ("events", "expected_band"),
    [
        (
            [
                ("form_submit", "2026-11-21T10:00:00Z", {}),
                ("email_click", "2026-11-20T10:00:00Z", {"campaign_type": "newsletter"}),
                ("page_view", "2026-11-22T10:00:00Z", {"url": "/blog/a"}),
                ("page_view", "2026-11-18T10:00:00Z", {"url": "/blog/b"}),
            ],
            "Warm",
        ),
        ([("quote_request", "2026-11-22T12:00:00Z", {})], "MQL"),
    ],
    ids=["form+newsletter+two-blog-visits", "quote-request-yesterday"],
)
def test_done_when_scenarios_through_the_cli(
    tmp_path: Path, events: list[tuple[str, str, dict[str, str]]], expected_band: str
) -> None:
    contacts = write_lines(tmp_path / "c.jsonl", [{"id": "1", "email": "pat@acme.example", "properties": {}}])
    event_file = write_lines(
        tmp_path / "e.jsonl",
        [
            {"id": f"e{i}", "contact_id": "1", "action": a, "occurred_at": t, "attributes": at}
            for i, (a, t, at) in enumerate(events)
        ],
    )
    code, [line], _ = score_lines("--contacts", str(contacts), "--events", str(event_file))
    assert code == 0
    assert line["band"] == expected_band


def test_explain_shows_each_rule(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "explain",
            "--contact",
            "c1",
            "--contacts",
            str(EXAMPLES / "contacts.jsonl"),
            "--events",
            str(EXAMPLES / "events.jsonl"),
            "--now",
            NOW,
        ],
    )
    assert result.exit_code == 0
    assert "score 100" in result.stdout
    assert "pricing_page" in result.stdout
    assert "written as: +28.5 pricing page (2d)" in result.stdout


def test_explain_unknown_contact_exits_2() -> None:
    result = runner.invoke(
        app, ["explain", "--contact", "nope", "--contacts", str(EXAMPLES / "contacts.jsonl"), "--now", NOW]
    )
    assert result.exit_code == 2
    assert "no contact with id 'nope'" in result.stderr


def test_bad_now_is_a_usage_error() -> None:
    code, _, stderr = score_lines("--contacts", str(EXAMPLES / "contacts.jsonl"), "--now", "tomorrow")
    assert code == 2
    assert "not an ISO 8601 time" in stderr


LANGUAGE = ROOT / "tests" / "engine" / "models" / "language.yaml"


def test_validate_warns_of_an_unquoted_yes_and_notes_the_default_reset(tmp_path: Path) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(DEFAULT_MODEL.read_text().replace("value: [north america,", "value: [yes, north america,"))
    result = runner.invoke(app, ["validate", str(model)])
    assert result.exit_code == 0
    assert f"{model}:{22}: models.lead.fit[5].value[0]: unquoted yes is read as the boolean True" in result.stderr
    assert "positive behaviour points drop to 0 after 30d without engagement" in result.stdout
    assert "null turns the reset off" in result.stdout


def test_validate_notes_a_count_that_hides_events_from_later_rules(tmp_path: Path) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(LANGUAGE.read_text().replace("        then: continue\n", ""))
    result = runner.invoke(app, ["validate", str(model)])
    assert result.exit_code == 0
    assert "'pricing_again' takes every page_view event it counts" in result.stdout
    assert "long_visit, visit never see them; add then: continue" in result.stdout


def test_score_streams_typed_fields_and_reports_unreadable_values(tmp_path: Path) -> None:
    contacts = write_lines(
        tmp_path / "c.jsonl",
        [
            {"id": "1", "email": "a@acme.example", "properties": {"seats": "75", "trial_started": "2026-11-20"}},
            {"id": "2", "email": "b@acme.example", "properties": {"seats": "lots"}},
            {"id": "1", "email": "a@acme.example", "properties": {"seats": "80"}},
        ],
    )
    events = write_lines(
        tmp_path / "e.jsonl",
        [
            {
                "id": f"v{n}",
                "contact_id": "2",
                "action": "page_view",
                "occurred_at": f"2026-11-2{n}T10:00:00Z",
                "attributes": {"url": "/pricing"},
            }
            for n in range(3)
        ]
        + [{"id": "x", "contact_id": "9", "action": "page_view", "occurred_at": "2026-11-20T10:00:00Z"}],
    )
    result = runner.invoke(
        app, ["score", "--model", str(LANGUAGE), "--now", NOW, "--contacts", str(contacts), "--events", str(events)]
    )
    assert result.exit_code == 0, result.output
    lines = {row["id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert list(lines) == ["2", "1"], "file order of each contact's last copy"
    assert lines["1"]["fit"] == 12, "the last copy wins: 80 seats, no trial date"
    assert "+20 pricing page 3x in 14d (1d)" in lines["2"]["reasons"]
    assert "seats x1 (e.g. contact 2: 'lots' is not a number)" in result.stderr
    assert "contact id '1' appears 2 times; last wins" in result.stderr
    assert "1 events name 1 contact ids not in the contacts file (e.g. 9)" in result.stderr


def test_explain_shows_a_compound_rule_and_a_count_short_of_its_mark(tmp_path: Path) -> None:
    contacts = write_lines(
        tmp_path / "c.jsonl",
        [{"id": "1", "properties": {"company_size": 5000, "department": "IT"}}],
    )
    events = write_lines(
        tmp_path / "e.jsonl",
        [
            {
                "id": "v",
                "contact_id": "1",
                "action": "page_view",
                "occurred_at": "2026-11-22T10:00:00Z",
                "attributes": {"url": "/pricing"},
            }
        ],
    )
    result = runner.invoke(
        app,
        [
            "explain",
            "--contact",
            "1",
            "--model",
            str(LANGUAGE),
            "--now",
            NOW,
            "--contacts",
            str(contacts),
            "--events",
            str(events),
        ],
        env={"COLUMNS": "220"},
    )
    assert result.exit_code == 0, result.output
    assert "company_size at least 1000 and department in [it, engineering]" in result.stdout
    assert "count not reached: 1 of 3" in result.stdout
    assert "page_view where url contains /pricing, 3+ in 14d, then continue" in result.stdout


def test_validate_sources_names_each_source_that_does_not_map_a_declared_field(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    fields = "{seats: num_seats, trial_started: trial_date, product_interest: interest, is_customer: customer}"
    sources.write_text(
        "sources:\n"
        f"  - {{name: hs, platform: hubspot, token: x, mapping: {{profile: {fields}}}}}\n"
        "  - {name: sf, platform: salesforce, token: x, base_url: 'https://x.my.salesforce.com',\n"
        "     mapping: {profile: {Lead: {seats: Seats__c}}}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(LANGUAGE), "--sources", str(sources)])
    assert result.exit_code == 2
    assert (
        f"{sources}: source 'hs': model field 'company.industry' is not mapped; "
        "map it under mapping: {profile: {company.industry: <platform property>}}"
    ) in result.stderr
    assert "source 'sf' (Contact): model field 'seats' is not mapped; map it under mapping: {profile: {Contact:" in (
        result.stderr
    )
    assert "source 'sf' (Lead): 'department' is not mapped, so rules on it never match" in result.stderr


def test_validate_sources_passes_when_every_declared_field_is_mapped(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    fields = (
        "{seats: num_seats, trial_started: trial_date, product_interest: interest, is_customer: customer, "
        "company.industry: company.industry}"
    )
    sources.write_text(f"sources:\n  - {{name: hs, platform: hubspot, token: x, mapping: {{profile: {fields}}}}}\n")
    result = runner.invoke(app, ["validate", str(LANGUAGE), "--sources", str(sources)])
    assert result.exit_code == 0, result.output
    assert "every declared field is mapped for 1 sources" in result.stdout


def test_score_reports_lines_that_are_not_utf8_or_nested_too_deep_and_goes_on(tmp_path: Path) -> None:
    contacts = tmp_path / "c.jsonl"
    contacts.write_bytes(
        b'{"id": "1", "properties": {"a": "\\xff"}}\n'.replace(b"\\xff", b"\xff")
        + b'{"id": "2", "properties": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
        + b'{"id": "3", "properties": {"seniority": "vp"}}\n'
    )  # fmt: skip
    code, lines, stderr = score_lines("--contacts", str(contacts))
    assert code == 0, stderr
    assert [line["id"] for line in lines] == ["3"]
    assert f"{contacts}:1: not UTF-8 text" in stderr
    assert f"{contacts}:2: nested too deeply" in stderr


def test_a_path_with_brackets_is_printed_as_it_is(tmp_path: Path) -> None:
    missing = tmp_path / "[low, high].yaml"
    result = runner.invoke(app, ["validate", str(missing)])
    assert result.exit_code == 2
    assert "[low, high].yaml" in result.stderr
