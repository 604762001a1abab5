"""The history chart's text lies inside the figure (a newcomer's review of issue 58 found its
y-axis label, metric, unit and estimator on one line, cut at the top)."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from dlbs.db import charts
from dlbs.db.series import Point, Series


def _outside(figure: Figure) -> list[str]:
    """The texts of ``figure`` that reach outside it once drawn."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box = figure.bbox
    texts = [t for ax in figure.axes for t in (ax.yaxis.label, ax.xaxis.label, ax.title)
             if t.get_text()]
    return [t.get_text() for t in texts if (extent := t.get_window_extent(renderer)) and (
        extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1
        or extent.y1 > box.y1 + 1)]


@pytest.mark.parametrize("compact", [False, True])
def test_no_text_of_the_history_chart_is_cut(compact: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    close = plt.close

    def keep(figure: Any = None) -> None:  # measured as saved, before the figure is closed
        seen.append(_outside(figure))
        close(figure)
    monkeypatch.setattr(plt, "close", keep)
    points = [Point(f"v{i:02d}", 80.0 + i % 3, 78.0, 83.0, 3, [i]) for i in range(14)]
    series = [Series("k", {"exp.model": "alexnet_owt", "exp.replica_batch": 8}, points)]
    assert charts.render(series, "results.throughput", "exp.code_version",
                         compact=compact).startswith(b"\x89PNG")
    assert seen == [[]]


def _drawn(series: list[Series], compact: bool, monkeypatch: pytest.MonkeyPatch) -> Figure:
    """The figure ``charts.render`` drew for ``series``, kept from its close."""
    kept: list[Figure] = []
    monkeypatch.setattr(plt, "close", kept.append)
    assert charts.render(series, "results.throughput", "exp.code_version",
                         compact=compact).startswith(b"\x89PNG")
    return kept[0]


@pytest.mark.parametrize("compact", [False, True])
def test_the_history_chart_marks_points_from_busy_runs(
        compact: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 58: a point with a run made on a busy machine carries the text outputs' ``#``
    on the chart too, drawn at that point, and the legend says what it means in the words of
    ``dlbs history``'s legend line (wrapped); a quiet point carries none."""
    from dlbs.db.busy import BUSY_LEGEND

    points = [Point(f"v{i:02d}", 80.0 + i % 3, 78.0, 83.0, 3, [i]) for i in range(8)]
    points[5].busy = 1
    series = [Series("k", {"exp.model": "resnet18", "exp.replica_batch": 8}, points)]
    figure = _drawn(series, compact, monkeypatch)
    ax = figure.axes[0]
    marks = [t for t in ax.texts if t.get_text() == "#"]
    assert [m.xy for m in marks] == [(5, points[5].value)]  # type: ignore[attr-defined]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box = figure.bbox
    for text in marks:  # drawn inside the figure
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and extent.y1 <= box.y1
    if compact:  # a page's small chart has no legend: the page's text says it
        assert not figure.legends and ax.get_legend() is None
        return
    [legend] = figure.legends  # below the axes: it covers no point
    assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
    said = [" ".join(t.get_text().split()) for t in legend.get_texts()]
    assert said == ["resnet18 8", " ".join(BUSY_LEGEND.split())]
    extent = legend.get_window_extent(renderer)
    assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 <= extent.y1 <= box.y1


def test_a_quiet_history_chart_has_no_busy_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [Point(f"v{i:02d}", 80.0, 78.0, 83.0, 3, [i]) for i in range(6)]
    figure = _drawn([Series("k", {"exp.model": "resnet18"}, points)], False, monkeypatch)
    ax = figure.axes[0]
    assert not [t for t in ax.texts if t.get_text() == "#"]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["resnet18"]
