"""Backtests: as-of scoring without leaks, the metrics on known answers, and the flags a user needs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.engine import Engine, parse_model_text
from leadscore.evaluate.backtest import evaluate, score_history
from leadscore.records import Contact, Event
from tests.conftest import NOW, ROOT

runner = CliRunner()
MODEL = Engine(
    "lead",
    parse_model_text(
        """
version: 1
models:
  lead:
    writes: {score: s, grade: g, band: b}
    fit:
      - {id: vp, field: seniority, operator: equals, value: vp, points: 30, reason: VP}
      - {id: chatty, field: job_title, operator: equals, value: intern, points: 10, reason: intern}
    behaviour:
      - {id: demo, action: demo_request, points: 40, reason: demo}
    decay: {reset_after_days: null}
    grades: [{name: A, min_fit: 30}, {name: D}]
    bands: [{name: New, min: 0}, {name: Warm, min: 20}, {name: MQL, min: 50}]
"""
    ).models["lead"],
)


def person(number: int, **profile: str) -> Contact:
    return Contact("file", f"c{number:03d}", f"p{number}@x.example", profile)


def demo(number: int, days_ago: float) -> Event:
    return Event("file", f"d{number}", f"c{number:03d}", "demo_request", NOW - timedelta(days=days_ago))


def test_a_model_that_ranks_every_converter_first_scores_auc_1_with_full_lift() -> None:
    history = [(person(n, seniority="vp"), [demo(n, 1)]) for n in range(40)]
    history += [(person(n), []) for n in range(40, 200)]
    outcomes = {c.id: (NOW if n < 40 else None) for n, (c, _) in enumerate(history)}
    scored = score_history(MODEL, history, outcomes, [], NOW, timedelta(days=90))
    report = evaluate(MODEL, scored)
    assert report.roc_auc == 1.0
    assert report.roc_auc_interval == (1.0, 1.0)
    assert report.pr_auc == 1.0
    assert report.base_rate == 0.2
    assert report.top_decile_lift == 5.0
    assert report.top_decile_capture == 0.5
    assert [(r.name, r.contacts, r.converted) for r in report.by_band] == [("New", 160, 0), ("Warm", 0, 0),
                                                                        ("MQL", 40, 40)]  # fmt: skip
    assert report.threshold_for_capture == (0.5, 70)
    assert report.threshold_for_rate == (0.4, 70), "the lowest score at or above which leads convert at 2x the base"


def test_as_of_scoring_sees_no_later_event_and_leaves_out_who_had_converted() -> None:
    as_of = NOW - timedelta(days=30)
    history = [
        (person(1, seniority="vp"), [demo(1, 40)]),  # demo before the as-of moment: counts
        (person(2), [demo(2, 10)]),  # demo after it: must not count
        (person(3), []),  # converted before the as-of moment: left out
        (person(4), []),  # converts after the horizon: a miss
    ]
    outcomes = {"c001": NOW - timedelta(days=20), "c002": NOW - timedelta(days=5), "c003": NOW - timedelta(days=35),
                "c004": NOW}  # fmt: skip
    scored = {s.contact_id: s for s in score_history(MODEL, history, outcomes, [as_of], NOW, timedelta(days=28))}
    assert set(scored) == {"c001", "c002", "c004"}
    assert scored["c001"].score == 70
    assert scored["c002"].score == 0, "the demo 10 days ago is after the as-of moment"
    assert [scored[c].converted for c in ("c001", "c002", "c004")] == [True, True, False]


def test_wrong_signs_inverted_bands_and_unused_rules_are_flagged() -> None:
    history = [(person(n, job_title="intern"), []) for n in range(40)]
    history += [(person(n), []) for n in range(40, 120)]
    outcomes = {c.id: (NOW if n >= 60 else None) for n, (c, _) in enumerate(history)}
    report = evaluate(MODEL, score_history(MODEL, history, outcomes, [], NOW, timedelta(days=90)))
    chatty = next(check for check in report.rules if check.rule_id == "chatty")
    assert (chatty.hits, chatty.converted, chatty.lift) == (40, 0, 0.0)
    assert any("rule chatty: gives +10 but its leads convert at 0.00x the base rate" in w for w in report.warnings)
    assert (
        next(check for check in report.rules if check.rule_id == "demo").warning
        == "never earned points in this history"
    )
    history = [(person(n), [demo(n, 1)]) for n in range(40)] + [(person(n), []) for n in range(40, 80)]
    outcomes = {c.id: (NOW if n >= 40 else None) for n, (c, _) in enumerate(history)}
    inverted = evaluate(MODEL, score_history(MODEL, history, outcomes, [], NOW, timedelta(days=90)))
    assert any("bands are out of order" in w for w in inverted.warnings)
    assert inverted.roc_auc == 0.0


def test_an_as_of_whose_horizon_passes_the_last_outcome_is_warned_about() -> None:
    history = [(person(n), [demo(n, 1)] if n % 2 else []) for n in range(20)]
    outcomes = {c.id: (NOW - timedelta(days=1) if n % 2 else None) for n, (c, _) in enumerate(history)}
    as_of = [NOW - timedelta(days=10)]
    scored = score_history(MODEL, history, outcomes, as_of, NOW, timedelta(days=90))
    report = evaluate(MODEL, scored, as_of=as_of, horizon_days=90, latest_outcome=NOW - timedelta(days=1))
    assert any("reaches past the latest known outcome" in w for w in report.warnings)


def write_lines(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_command_prints_figures_and_writes_json_and_a_self_contained_html_report(tmp_path: Path) -> None:
    contacts = write_lines(
        tmp_path / "c.jsonl",
        [{"id": f"c{n}", "properties": {"seniority": "vp" if n < 10 else "intern"}} for n in range(50)],
    )
    events = write_lines(
        tmp_path / "e.jsonl",
        [{"id": f"e{n}", "contact_id": f"c{n}", "action": "quote_request", "occurred_at": "2026-11-20T00:00:00Z"}
         for n in range(0, 50, 3)],
    )  # fmt: skip
    outcomes = write_lines(
        tmp_path / "o.jsonl",
        [{"contact_id": f"c{n}", "converted_at": "2026-11-22T00:00:00Z" if n < 12 else None} for n in range(50)]
        + [{"contact_id": 7, "converted_at": "not a date"}],
    )
    result = runner.invoke(
        app,
        ["backtest", "--contacts", str(contacts), "--events", str(events), "--outcomes", str(outcomes), "--now",
         "2026-11-23T12:00:00Z", "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "model lead: 50 contacts, 12 converted (24.0%)" in result.stdout
    assert "ROC AUC" in result.stdout
    assert "o.jsonl:51: converted_at" in result.stderr, "a bad outcome line is reported, not fatal"
    figures = json.loads((tmp_path / "r.json").read_text())["models"][0]
    assert figures["contacts"] == 50
    assert 0.5 < figures["roc_auc"] <= 1
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") == 4
    assert "<script" not in page
    assert "<link" not in page
    assert " src=" not in page, "self-contained: nothing loaded from elsewhere"


def test_the_command_refuses_both_inputs_or_none(tmp_path: Path) -> None:
    outcomes = write_lines(tmp_path / "o.jsonl", [{"contact_id": "c1", "converted_at": None}])
    result = runner.invoke(app, ["backtest", "--outcomes", str(outcomes)])
    assert result.exit_code == 2
    assert "give either --contacts (and --events) or --state with --source" in result.stderr


X_EDUCATION = ROOT.parent / "shared" / "data" / "leads-x-education" / "Leads.csv"


@pytest.mark.skipif(not X_EDUCATION.is_file(), reason="X Education's leads are not in ../shared/data")
def test_x_education_leads_rank_well_with_the_example_model_and_the_backtest_flags_its_weak_rules(
    tmp_path: Path,
) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "real_data"))
    try:
        from x_education import convert  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert convert(X_EDUCATION, tmp_path) == 9240
    files = ["--contacts", str(tmp_path / "contacts.jsonl"), "--events", str(tmp_path / "events.jsonl"),
             "--outcomes", str(tmp_path / "outcomes.jsonl"), "--now", "2026-11-23T12:00:00Z"]  # fmt: skip
    example = runner.invoke(
        app,
        [
            "backtest",
            "-m",
            str(ROOT / "examples/real_data/x_education.yaml"),
            *files,
            "--json",
            str(tmp_path / "x.json"),
        ],
    )
    assert example.exit_code == 0, example.output
    figures = json.loads((tmp_path / "x.json").read_text())["models"][0]
    assert figures["contacts"] == 9240
    assert figures["converted"] == 3561
    assert figures["roc_auc"] > 0.78
    rates = [band["converted"] / band["contacts"] for band in figures["by_band"][:3]]
    assert rates == sorted(rates), "New < Warm < MQL"
    assert any("rule chat: gives +3" in w for w in figures["warnings"]), "the chat rule's leads convert below base"


def test_the_command_reads_the_history_a_sync_stored(tmp_path: Path) -> None:
    from tests.sync.platforms import HubSpotPlatform, build_rig

    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 40, 3)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        ids = sorted(platform.contact_ids(), key=int)
    finally:
        rig.close()
    outcomes = write_lines(
        tmp_path / "o.jsonl",
        [
            {"contact_id": cid, "converted_at": "2026-11-23T00:00:00Z" if n % 4 == 0 else None}
            for n, cid in enumerate(ids)
        ],
    )
    result = runner.invoke(
        app,
        ["backtest", "--state", f"sqlite:///{tmp_path / 'state.db'}", "--source", "hubspot", "--outcomes",
         str(outcomes), "--now", "2026-11-23T12:00:00Z", "--json", str(tmp_path / "r.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "r.json").read_text())["models"][0]
    assert figures["contacts"] == len(ids)
    assert figures["converted"] == len(ids[::4])
    assert figures["roc_auc"] is not None


@pytest.mark.skipif(not X_EDUCATION.is_file(), reason="X Education's leads are not in ../shared/data")
def test_the_default_model_ranks_x_education_better_than_chance_without_being_fitted_to_it(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "real_data"))
    try:
        from x_education import convert
    finally:
        sys.path.pop(0)
    convert(X_EDUCATION, tmp_path)
    result = runner.invoke(
        app,
        ["backtest", "--contacts", str(tmp_path / "contacts.jsonl"), "--events", str(tmp_path / "events.jsonl"),
         "--outcomes", str(tmp_path / "outcomes.jsonl"), "--now", "2026-11-23T12:00:00Z",
         "--json", str(tmp_path / "d.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "d.json").read_text())["models"][0]
    assert figures["roc_auc_interval"][0] > 0.52, "the whole 95% interval above chance"
    assert any("rule form_submit: gives +20" in w for w in figures["warnings"]), "and the backtest names what hurts"


def test_each_lead_is_judged_at_its_own_as_of_moment_from_the_outcomes_file(tmp_path: Path) -> None:
    """Leads that arrived over years: each scored from its events before its own moment, its conversion counted
    within the horizon after it; one that had converted by then is left out."""
    from leadscore.evaluate.outcomes import read_outcomes

    lines = write_lines(
        tmp_path / "o.jsonl",
        [
            {"contact_id": "c001", "converted_at": (NOW - timedelta(days=300)).isoformat(),
             "as_of": (NOW - timedelta(days=320)).isoformat()},
            {"contact_id": "c002", "converted_at": None, "as_of": (NOW - timedelta(days=20)).isoformat()},
            {"contact_id": "c003", "converted_at": (NOW - timedelta(days=50)).isoformat(),
             "as_of": (NOW - timedelta(days=40)).isoformat()},
            {"contact_id": "c004", "converted_at": (NOW - timedelta(days=5)).isoformat()},
        ],
    )  # fmt: skip
    known = read_outcomes(lines, lambda problem: pytest.fail(str(problem)))
    assert set(known.as_of) == {"c001", "c002", "c003"}
    history = [
        (person(1), [demo(1, 330)]),  # the demo before its moment counts, though 330 days ago
        (person(2), [demo(2, 10)]),  # the demo after its moment does not
        (person(3), []),
        (person(4), [demo(4, 10)]),  # no moment of its own: the backtest's now
    ]
    scored = {
        s.contact_id: s
        for s in score_history(MODEL, history, known.converted, [], NOW, timedelta(days=90), known.as_of)
    }
    assert set(scored) == {"c001", "c002", "c004"}, "c003 had converted before its moment"
    assert scored["c001"].as_of == NOW - timedelta(days=320)
    assert scored["c001"].score == 40
    assert scored["c001"].converted
    assert scored["c002"].score == 0
    assert not scored["c002"].converted
    assert scored["c004"].score == 40


def test_converted_events_are_outcomes_and_never_score(tmp_path: Path) -> None:
    scoring = Engine(
        "lead",
        parse_model_text(
            """
version: 1
models:
  lead:
    writes: {score: s, grade: g, band: b}
    behaviour:
      - {id: won, action: converted, points: 50, reason: customer}
    grades: [{name: D}]
    bands: [{name: New, min: 0}]
"""
        ).models["lead"],
    )
    won = Event("file", "w1", "c001", "converted", NOW - timedelta(days=3))
    history = [(person(1), [won]), (person(2), [])]
    scored = {s.contact_id: s for s in score_history(scoring, history, None, [], NOW, timedelta(days=90))}
    assert scored["c001"].converted
    assert scored["c001"].converted_at == won.occurred_at
    assert scored["c001"].score == 0, "the outcome is not an input: no leak from the answer"
    assert not scored["c002"].converted
    report = evaluate(scoring, list(scored.values()))
    assert any("scores the 'converted' action, the outcome itself" in w for w in report.warnings)
