"""History charts: each series' points along the axis with their 95% intervals (runs as the
unit, or one run's own); excluded points are marked with a grey x, points with a run made on
a busy machine (``dlbs.db.busy``) with the reports' ``#`` above them and the legend's line.
One drawing serves the ``dlbs history --plot`` file and the charts of ``dlbs db page``."""
from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchstats.estimate import ESTIMATOR, OPEN_FACTOR

from dlbs.db.busy import BUSY_LEGEND
from dlbs.db.history import Series, configuration_names
from dlbs.errors import ReportError
from dlbs.reports.model import MARK_BUSY

FORMATS = ("png", "svg", "pdf")
UNITS = {"results.throughput": "samples/s", "results.time": "ms"}
#: A serving run's ``results.throughput`` is its requests per second.
SERVING_UNITS = {"results.throughput": "requests/s"}


def unit_of(metric: str, series: Sequence[Series]) -> str | None:
    """The unit of ``metric`` over ``series`` (a serving run's throughput is requests/s; both
    kinds in one chart: both named)."""
    serving = {one.parameters.get("exp.phase") == "serve" for one in series}
    units = {(SERVING_UNITS if kind else UNITS).get(metric) for kind in serving or {False}}
    return " or ".join(sorted(u for u in units if u)) or None


def render(series: Sequence[Series], metric: str, axis: str, fmt: str = "png",
           compact: bool = False) -> bytes:
    """The chart of ``series`` as ``fmt`` bytes; ``compact``: small, no title or legend (one
    series of a page)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = []
    for one in series:
        labels += [p.axis_value for p in one.points if p.axis_value not in labels]
    width = max(6.0, (0.35 if compact else 0.6) * len(labels) + 3)
    # constrained: the legend below the axes (fig.legend "outside") never covers a point
    fig, ax = plt.subplots(figsize=(width, 3.2 if compact else 4.2), layout="constrained")
    names = configuration_names([one.parameters for one in series])
    opened = False  # an interval with an open end was drawn (an arrow)
    busy = False  # a point from busy runs was marked
    for one, name in zip(series, names):
        xs = [labels.index(p.axis_value) for p in one.points]
        shown = [p.ends() or (p.value, p.value) for p in one.points]
        # an open end (benchstats.shown_ends) is no whisker: the axis is not set by it
        lows = [0.0 if low is None else p.value - low for p, (low, _) in zip(one.points, shown)]
        highs = [0.0 if high is None else high - p.value
                 for p, (_, high) in zip(one.points, shown)]
        drawn = ax.errorbar(xs, [p.value for p in one.points], yerr=[lows, highs], marker="o",
                            capsize=3, label=name)
        color: Any = drawn.lines[0].get_color()
        for x, p, (low, high) in zip(xs, one.points, shown):
            if p.excluded:
                ax.plot([x], [p.value], "x", color="grey", markersize=10)
            if p.busy:
                _busy_mark(ax, x, p.value)
                busy = True
            for end, edge in ((low, 0.0), (high, 1.0)):
                if end is None:
                    _open_arrow(ax, x, p.value, edge, color)
                    opened = True
    step = max(1, len(labels) // 25)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right")
    ax.set_xlabel(axis)
    unit = unit_of(metric, series)
    # the legend names the estimator: a point is no single run's figure
    # two lines: on one, the label ran past the top of a 4.2-inch chart (issue 58 review)
    ax.set_ylabel(f"{metric} ({unit})\n{ESTIMATOR}" if unit else f"{metric}\n{ESTIMATOR}")
    ax.grid(alpha=0.3)
    if not compact:
        ax.set_title(f"{metric} by {axis} (95% CI)")
        if opened:
            ax.plot([], [], color="#555555", linestyle="--", label=OPEN_LABEL)
        if busy:
            ax.plot([], [], linestyle="none", marker=BUSY_MARKER, markersize=9, color=BUSY_COLOR,
                    label=BUSY_LABEL)
        if series:
            _legend_below(fig, ax)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=80 if compact else None)
    plt.close(fig)
    return buffer.getvalue()


#: The busy mark as matplotlib draws it (mathtext: a plain ``#`` would start a comment in
#: a format string), its colour, and its legend entry: the text outputs' line
#: (``dlbs.db.busy.BUSY_LEGEND``), wrapped to fit the chart.
BUSY_MARKER = r"$\#$"
BUSY_COLOR = "black"  # apart from every series' colour (matplotlib's tab10 has no black)
BUSY_LABEL = textwrap.fill(BUSY_LEGEND, 60)


def _busy_mark(ax: Any, x: float, y: float) -> None:
    """A ring round a point from busy runs and the ``#`` above it, in the busy colour."""
    # a colour given: the series' colour cycle is not advanced by the ring
    ax.plot([x], [y], "o", color=BUSY_COLOR, markersize=11, markerfacecolor="none",
            markeredgewidth=1.2)
    # up and to the right: clear of the point's whisker
    ax.annotate(MARK_BUSY, (x, y), xytext=(6, 4), textcoords="offset points", ha="left",
                va="bottom", color=BUSY_COLOR, fontsize=11, fontweight="bold", gid="busy")


def _legend_below(fig: Any, ax: Any) -> None:
    """The legend under the axes, the series first, then what the marks mean; the figure
    grows by the legend's lines, so the axes keep their height (inside the axes, a legend of
    four series and the busy line covered the points of a one-day history)."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] in (OPEN_LABEL, BUSY_LABEL))
    lines = sum(labels[i].count("\n") + 1 for i in order)
    fig.set_figheight(fig.get_figheight() + 0.17 * lines + 0.2)
    fig.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8,
               loc="outside lower center")


#: Legend entry of an open end (``benchstats.shown_ends``): an arrow to the axis' edge.
OPEN_LABEL = f"interval end beyond {OPEN_FACTOR:g}x the value: open (arrow to the edge)"


def _open_arrow(ax: Any, x: float, y: float, edge: float, color: Any) -> None:
    """A dashed arrow from a point to the axis' top (``edge`` 1) or foot (0): that end of
    its interval is open."""
    ax.annotate("", xy=(x, edge), xycoords=("data", "axes fraction"), xytext=(x, y),
                textcoords="data", arrowprops={"arrowstyle": "-|>", "color": color,
                                               "linestyle": "--", "linewidth": 1.2,
                                               "shrinkA": 4, "shrinkB": 0})


def history_chart(series: Sequence[Series], metric: str, axis: str, path: str) -> None:
    """Draw the series into ``path`` (format by suffix), never through a link planted at
    the name."""
    from safeio import atomic_write_bytes

    target = Path(path)
    fmt = target.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"--plot {path}: give a .png, .svg or .pdf file")
    data = render(series, metric, axis, fmt)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except OSError as err:
        raise ReportError(f"--plot {path}: cannot write the chart ({why(err)}); give a file "
                          "in a folder you may write") from None


def why(err: OSError) -> str:
    """An operating system error in words: safeio's own sentence, a file in the way of a
    folder, else the system's reason."""
    from safeio import UnsafeFileError

    if isinstance(err, UnsafeFileError) or not err.strerror:
        return str(err)
    if isinstance(err, FileExistsError):
        return f"{err.filename} is a file, not a folder"
    if isinstance(err, NotADirectoryError):
        return f"a part of {err.filename} is a file, not a folder"
    return err.strerror
