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
