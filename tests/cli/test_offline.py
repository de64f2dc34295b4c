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
