"""Calibration: points from history, the model still readable, every rule kept, measured on held-out contacts."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.engine import load_model_file
from tests.conftest import NOW, ROOT

runner = CliRunner()
MODEL = """
version: 1
models:
  lead:
    writes: {score: s, grade: g, band: b}
    fields: {plan: {type: text}}
    fit:
      - {id: enterprise, field: plan, operator: equals, value: enterprise, points: 5, reason: enterprise plan}
      - {id: student, field: job_title, operator: equals, value: student, points: 10, reason: student}
      - {id: rare, field: job_title, operator: equals, value: astronaut, points: 7, reason: astronaut}
    behaviour:
      - {id: demo, action: demo_request, points: 10, cap: 20, reason: demo}
      - {id: visit, action: page_view, points: 2, cap: 10, reason: visit}
    decay: {reset_after_days: null}
    grades: [{name: A, min_fit: 5}, {name: D}]
    bands: [{name: New, min: 0}, {name: MQL, min: 50}]
"""


def held_out(printed: str) -> tuple[float, float, float]:
    """(before, after, the regression's own) held-out AUC from the command's last line."""
    found = re.search(r"held-out ROC AUC: ([\d.]+) before, ([\d.]+) after \(the regression itself: ([\d.]+)\)", printed)
    assert found is not None, printed
    before, after, regression = (float(group) for group in found.groups())
    return before, after, regression


def synthetic(tmp_path: Path, people: int = 600) -> list[str]:
    """Enterprise plans and demos convert; students do not, whatever the model says; visits are noise."""
    rng = random.Random(4)
    contacts, events, outcomes = [], [], []
    for n in range(people):
        enterprise, student, demos = rng.random() < 0.3, rng.random() < 0.3, rng.randint(0, 2)
        odds = 0.1 + 0.35 * enterprise + 0.2 * demos - 0.08 * student
        properties = {"plan": "enterprise" if enterprise else "team", "job_title": "student" if student else "cto"}
        contacts.append({"id": f"c{n}", "properties": properties})
        for d in range(demos):
            events.append({"id": f"d{n}-{d}", "contact_id": f"c{n}", "action": "demo_request",
                           "occurred_at": (NOW - timedelta(days=2)).isoformat()})  # fmt: skip
        for v in range(rng.randint(0, 4)):
            events.append({"id": f"v{n}-{v}", "contact_id": f"c{n}", "action": "page_view",
                           "occurred_at": (NOW - timedelta(days=3)).isoformat()})  # fmt: skip
        outcomes.append({"contact_id": f"c{n}", "converted_at": NOW.isoformat() if rng.random() < odds else None})
    (tmp_path / "m.yaml").write_text(MODEL)
    for name, rows in (("c", contacts), ("e", events), ("o", outcomes)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["--contacts", str(tmp_path / "c.jsonl"), "--events", str(tmp_path / "e.jsonl"),
            "--outcomes", str(tmp_path / "o.jsonl"), "--now", NOW.isoformat()]  # fmt: skip


def test_calibration_turns_a_wrong_sign_around_keeps_every_rule_and_ranks_better_held_out(tmp_path: Path) -> None:
    files = synthetic(tmp_path)
    out = tmp_path / "calibrated.yaml"
    result = runner.invoke(app, ["calibrate", "-m", str(tmp_path / "m.yaml"), *files, "--out", str(out)],
                           env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    model = load_model_file(out).models["lead"]
    points = {rule.id: rule.points for rule in (*model.fit, *model.behaviour)}
    assert set(points) == {"enterprise", "student", "rare", "demo", "visit"}, "no rule is deleted"
    assert points["student"] < 0, "students convert below the rest: the +10 becomes a penalty"
    assert points["enterprise"] > points["demo"] > 0
    assert points["rare"] == 7, "a rule that never fired keeps its points"
    assert "(no evidence: kept)" in result.stdout
    demo = next(rule for rule in model.behaviour if rule.id == "demo")
    assert demo.cap == 2 * demo.points, "the cap keeps its ceiling of two demos"
    before, after, _ = held_out(result.stdout)
    assert after > before
    assert "# Calibrated from m.yaml" in out.read_text()
    raw = yaml.safe_load(out.read_text())["models"]["lead"]
    assert all(isinstance(rule["points"], int) for rule in raw["fit"] + raw["behaviour"]), "whole points"


def test_calibration_refuses_too_few_outcomes(tmp_path: Path) -> None:
    files = synthetic(tmp_path, people=12)
    result = runner.invoke(app, ["calibrate", "-m", str(tmp_path / "m.yaml"), *files, "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "at least 10 converted and 10 other contacts" in result.stderr


DATA = ROOT.parent / "shared" / "data"
REAL_SETS = [
    ("x_education", DATA / "leads-x-education" / "Leads.csv"),
    ("bank_marketing", DATA / "bank-marketing" / "bank-additional-full.csv.gz"),
    ("olist_mqls", DATA / "olist-marketing-funnel"),
]


@pytest.mark.parametrize(("name", "data"), REAL_SETS, ids=[name for name, _ in REAL_SETS])
def test_real_lead_data_calibrated_reaches_the_regression_on_the_same_rules(
    name: str, data: Path, tmp_path: Path
) -> None:
    """The three public data sets, mapped by examples/real_data/<name>.py; figures in bench/RESULTS.md."""
    if not data.exists():
        pytest.skip(f"{data} is not in ../shared/data")
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "real_data"))
    try:
        convert = importlib.import_module(name).convert
    finally:
        sys.path.pop(0)
    convert(data, tmp_path)
    out = tmp_path / "calibrated.yaml"
    result = runner.invoke(
        app,
        ["calibrate", "-m", str(ROOT / f"examples/real_data/{name}.yaml"), "--contacts",
         str(tmp_path / "contacts.jsonl"), "--events", str(tmp_path / "events.jsonl"), "--outcomes",
         str(tmp_path / "outcomes.jsonl"), "--now", NOW.isoformat(), "--out", str(out)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    before, after, regression = held_out(result.stdout)
    assert after >= regression - 0.02
    assert after > before
    assert after > 0.6
    model = load_model_file(out).models["lead"]
    assert len(model.fit) + len(model.behaviour) <= 40


def test_examples_take_their_outcome_from_converted_events_and_their_events_before_their_own_moment() -> None:
    from datetime import timedelta

    from leadscore.evaluate.calibrate import examples_from
    from leadscore.records import Contact, Event
    from tests.conftest import NOW

    def lead(number: int) -> Contact:
        return Contact("file", f"c{number}", None, {})

    won = Event("file", "w", "c1", "converted", NOW - timedelta(days=2))
    early = Event("file", "a", "c1", "page_view", NOW - timedelta(days=20))
    late = Event("file", "b", "c2", "page_view", NOW - timedelta(days=1))
    history = [(lead(1), [early, won]), (lead(2), [late]), (lead(3), [won])]
    from_store = {e.contact.id: e for e in examples_from(history, None)}
    assert {cid: e.converted for cid, e in from_store.items()} == {"c1": True, "c2": False, "c3": True}
    assert list(from_store["c1"].events) == [early], "the outcome is never a feature"
    moments = {"c2": NOW - timedelta(days=5), "c3": NOW - timedelta(days=1)}
    judged = {e.contact.id: e for e in examples_from(history, {"c2": None, "c3": NOW - timedelta(days=2)}, moments)}
    assert set(judged) == {"c2"}, "c1 has no known outcome; c3 had converted before its moment"
    assert list(judged["c2"].events) == []
    assert judged["c2"].as_of == moments["c2"]
