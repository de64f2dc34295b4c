"""A backtest as a self-contained HTML page (plots inline as SVG) and as JSON.

The page is one file a revops engineer can mail around or print: no scripts, no
external assets; the plots are drawn with matplotlib's object API (no GUI backend).
"""

from __future__ import annotations

import dataclasses
import html
import io
from datetime import datetime
from typing import Any

from matplotlib.figure import Figure

from leadscore.evaluate.backtest import Backtest, Rate


def as_json(reports: list[Backtest]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    models = []
    for report in reports:
        data = dataclasses.asdict(report)
        for bulky in ("roc", "scores_converted", "scores_not_converted"):
            data.pop(bulky)
        data["base_rate"] = report.base_rate
        models.append(plain(data))
    return {"models": models}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _distribution(report: Backtest) -> str:
    figure = Figure(figsize=(6, 3))
    axis = figure.subplots()
    bins = list(range(0, 105, 5))
    axis.hist(report.scores_not_converted, bins=bins, alpha=0.6, label="did not convert", density=True)
    axis.hist(report.scores_converted, bins=bins, alpha=0.6, label="converted", density=True)
    axis.set_xlabel("score")
    axis.set_ylabel("share of contacts")
    axis.legend()
    return _svg(figure)


def _bars(rates: list[Rate], base_rate: float, label: str) -> str:
    figure = Figure(figsize=(6, 3))
    axis = figure.subplots()
    shown = [rate for rate in rates if rate.contacts]
    axis.bar([rate.name for rate in shown], [rate.rate for rate in shown])
    axis.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.1%}")
    axis.set_xlabel(label)
    axis.set_ylabel("conversion rate")
    axis.legend()
    return _svg(figure)


def _roc(report: Backtest) -> str:
    figure = Figure(figsize=(4, 4))
    axis = figure.subplots()
    axis.plot(*report.roc, label=f"AUC {report.roc_auc:.3f}" if report.roc_auc is not None else "")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.legend()
    return _svg(figure)


def _lift(report: Backtest) -> str:
    figure = Figure(figsize=(6, 3))
    axis = figure.subplots()
    axis.plot([share for share, _ in report.lift_curve], [lift for _, lift in report.lift_curve], marker="o")
    axis.axhline(1, linestyle="--", color="grey")
    axis.set_xlabel("share of contacts, highest scores first")
    axis.set_ylabel("lift")
    return _svg(figure)


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _rates_table(rates: list[Rate], what: str) -> str:
    return _table(
        [what, "contacts", "converted", "rate"],
        [[r.name, f"{r.contacts:,}", f"{r.converted:,}", f"{r.rate:.1%}"] for r in rates],
    )


def _interval(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None:
        return "undefined"
    return f"{value:.3f}" + (f" (95% {interval[0]:.3f}-{interval[1]:.3f})" if interval else "")


def as_html(reports: list[Backtest], title: str) -> str:
    sections = []
    for report in reports:
        rules = _table(
            ["rule", "points", "hits", "converted", "lift", "flag"],
            [
                [c.rule_id, f"{c.points:+g}", f"{c.hits:,}", f"{c.converted:,}", f"{c.lift:.2f}", c.warning or ""]
                for c in report.rules
            ],
        )
        summary = _table(
            ["figure", "value"],
            [
                ["contacts / converted", f"{report.contacts:,} / {report.converted:,} ({report.base_rate:.1%})"],
                ["ROC AUC", _interval(report.roc_auc, report.roc_auc_interval)],
                ["PR AUC", _interval(report.pr_auc, report.pr_auc_interval)],
                ["top decile: lift, capture", f"{report.top_decile_lift:.2f}, {report.top_decile_capture:.1%}"],
                ["top half: lift, capture", f"{report.top_half_lift:.2f}, {report.top_half_capture:.1%}"],
                ["scores at 0 / at 100", f"{report.share_at_0:.1%} / {report.share_at_100:.1%}"],
            ],
        )
        warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
        plots = _distribution(report) + _bars(report.by_band, report.base_rate, "band")
        if report.roc_auc is not None:
            plots += _roc(report)
        plots += _lift(report)
        sections.append(
            f"<h2>model {html.escape(report.model)}</h2>{summary}<h3>warnings</h3><ul>{warnings}</ul>"
            f"<h3>plots</h3><div class='plots'>{plots}</div>"
            f"<h3>by band</h3>{_rates_table(report.by_band, 'band')}"
            f"<h3>by grade</h3>{_rates_table(report.by_grade, 'grade')}"
            f"<h3>calibration</h3>{_rates_table(report.calibration, 'score')}<h3>rules</h3>{rules}"
        )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
        ".plots svg{max-width:100%;height:auto}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>"
    )
