"""The console's charts, drawn on the server as SVG with matplotlib's object API (no GUI backend, no pyplot
state shared between request threads), so a page reads, prints and works without JavaScript.

Drawing one takes a tenth of a second or more, and the figures behind it change only when a cycle saves scores,
so each chart is kept by its inputs (the last CHARTS_KEPT of them) and drawn again only when they change."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from matplotlib import rcParams
from matplotlib.figure import Figure

from leadscore.store import HistoryEntry

rcParams["svg.fonttype"] = "none"
DATE_EPOCH = datetime.fromisoformat(str(rcParams["date.epoch"])).replace(tzinfo=UTC)


def date_numbers(moments: Sequence[datetime]) -> list[float]:
    """Moments as matplotlib's date axis counts them: days since its date epoch."""
    return [(moment - DATE_EPOCH).total_seconds() / 86_400 for moment in moments]


BAND_LINE = "#b03030"
BAR = "#4a78b5"
CHARTS_KEPT = 128


def svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def score_histogram(buckets: dict[int, int], width: int, bands: Sequence[tuple[str, int]], title: str) -> str:
    """Live records per score bucket, with each band's lower boundary drawn and named."""
    return _histogram(tuple(sorted(buckets.items())), width, tuple(bands), title)


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _histogram(counted: tuple[tuple[int, int], ...], width: int, bands: tuple[tuple[str, int], ...], title: str) -> str:
    buckets = dict(counted)
    figure = Figure(figsize=(7, 2.8))
    axes = figure.add_subplot()
    starts = list(range(0, 100, width))
    axes.bar(starts, [buckets.get(start, 0) for start in starts], width=width * 0.9, align="edge", color=BAR)
    top = max(buckets.values(), default=0) or 1
    for name, minimum in bands:
        if minimum > 0:
            axes.axvline(minimum, color=BAND_LINE, linewidth=1, linestyle="--")
        axes.text(minimum + 0.8, top * 0.95, name, color=BAND_LINE, fontsize=8, va="top")
    axes.set_xlim(0, 100)
    axes.set_xlabel("score")
    axes.set_ylabel("records")
    axes.set_title(title, fontsize=10)
    return svg(figure)


def weekly_lines(weeks: Sequence[datetime], series: dict[str, Sequence[float | None]], title: str, unit: str) -> str:
    return _weekly(tuple(weeks), tuple((name, tuple(values)) for name, values in series.items()), title, unit)


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _weekly(
    weeks: tuple[datetime, ...], lines: tuple[tuple[str, tuple[float | None, ...]], ...], title: str, unit: str
) -> str:
    series = dict(lines)
    figure = Figure(figsize=(7, 2.6))
    axes = figure.add_subplot()
    for name, values in series.items():
        points = [(week, value) for week, value in zip(weeks, values, strict=True) if value is not None]
        if points:
            moments = date_numbers([p[0] for p in points])
            axes.plot(moments, [p[1] for p in points], marker="o", markersize=3, label=name)
    axes.xaxis_date()
    axes.set_ylabel(unit)
    axes.set_title(title, fontsize=10)
    if series:
        axes.legend(fontsize=8, loc="upper left")
    figure.autofmt_xdate()
    return svg(figure)


def score_over_time(entries: Sequence[HistoryEntry], bands: Sequence[tuple[str, int]], title: str) -> str:
    """A record's score as a step line through each change, with the band boundaries."""
    return _over_time(tuple((e.changed_at, e.new_score) for e in entries), tuple(bands), title)


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _over_time(points: tuple[tuple[datetime, int], ...], bands: tuple[tuple[str, int], ...], title: str) -> str:
    figure = Figure(figsize=(7, 2.6))
    axes = figure.add_subplot()
    if points:
        moments = date_numbers([moment for moment, _ in points])
        axes.step(moments, [score for _, score in points], where="post", color=BAR, marker="o", markersize=3)
        axes.xaxis_date()
    for name, minimum in bands:
        if minimum > 0:
            axes.axhline(minimum, color=BAND_LINE, linewidth=1, linestyle="--")
            axes.text(axes.get_xlim()[0], minimum + 1, name, color=BAND_LINE, fontsize=8)
    axes.set_ylim(0, 100)
    axes.set_ylabel("score")
    axes.set_title(title, fontsize=10)
    figure.autofmt_xdate()
    return svg(figure)
