"""Charts of a report with matplotlib (Agg backend: no display needed), as PNG, SVG or PDF.

``regular``: throughput vs replica batch, one chart per model (and tokens/s, for the models that
logged it); ``weak``/``strong``: throughput, speedup (log-log, with the linear ideal) and
efficiency (a 100% line) vs number of devices;
``compare``: speedup points with their 95% CI on a log axis, a line at 1x, coloured by verdict;
``pivot`` with numeric columns: the value vs the column. Throughput and efficiency axes start
at zero; a failed cell is a gap (never a 0) with its status written at the foot of the axis.
Every axis is labelled with its unit; a line at the bottom gives the provenance. Functions
return the bytes of each format asked for (``FORMATS``); only ``write_charts`` touches files.
SVG draws its text as paths and PDF embeds its TrueType fonts (``_images``): a chart put into
a paper or a page looks the same where its fonts are not installed.
"""
from __future__ import annotations

import io
import numbers
import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from safeio import UnsafeFileError, atomic_write_bytes, check_writable_target

from dlbs.errors import ReportError
from dlbs.reports.frame import is_number
from dlbs.reports.model import (
    MARK_ABOVE_CORES,
    MARK_BUSY,
    MARK_NOT_FINITE,
    MARK_NOT_JUDGED,
    MARK_NUMERICS_OFF,
    MARK_SUPERLINEAR,
    MARK_UNSTEADY,
    STATUS_TEXT,
    Report,
    Table,
    cell_ends,
)
from dlbs.reports.serving import CANNOT_TELL_WHY, MARK_CANNOT_TELL, MARK_SATURATED

#: Formats a chart can be written in (``--plot-format``).
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
#: Metadata left out of each format, so that one report gives the same bytes each time.
METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None}, "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


@dataclass(frozen=True)
class Chart:
    """One chart: a file name (its PNG's), a title and its bytes in each format drawn."""

    name: str
    title: str
    images: dict[str, bytes]

    @property
    def png(self) -> bytes:
        """The PNG bytes (the HTML page embeds these)."""
        return self.images["png"]

    def file_name(self, fmt: str) -> str:
        """The file name of the chart in format ``fmt`` (``speedup.svg``)."""
        return f"{Path(self.name).stem}.{fmt}"


def _table(report: Report, name: str) -> Table | None:
    return next((t for t in report.tables if t.name == name), None)


def _labels(index: pd.Index) -> list[str]:
    """Legend text of each row: its key, less the levels that are the same on every row; a
    number is named by its level (``replica batch 64``, not a bare ``64``)."""
    keys = [k if isinstance(k, tuple) else (k,) for k in index]
    varying = [i for i in range(index.nlevels) if len({k[i] for k in keys}) > 1] or [0]
    names = [str(n or "") for n in index.names]
    return [" / ".join(_named(names[i], k[i]) for i in varying if str(k[i]) != "-")
            for k in keys]


def _named(level: str, value: Any) -> str:
    """``seq len 128``: a number named by its level; also a number shown as text (a dimension
    that is empty for some rows, e.g. the sequence length of image models, is text)."""
    number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    number = number or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value) is not None)
    return f"{level.lower()} {value}" if level and number else str(value)


def footer(report: Report) -> str:
    """One line of provenance under a chart: where, on what, when, how many runs, which dlbs."""
    info = report.provenance or {}
    measured = measured_words(info)
    parts = [measured] if measured else []
    for key, prefix in (("hosts", ""), ("cpu_models", ""), ("gpu_models", ""),
                        ("torch", "torch ")):
        values = info.get(key) or []
        if values:
            shown = ", ".join(str(v) for v in values[:2]) + (" ..." if len(values) > 2 else "")
            parts.append(prefix + shown)
    if info.get("dates"):
        parts.append(" .. ".join(sorted({str(d)[:10] for d in info["dates"]})))
    if info.get("runs_per_experiment"):
        parts.append("runs/experiment " + "-".join(str(r) for r in info["runs_per_experiment"]))
    parts += _state_words(info)
    commits = info.get("measured_with_dlbs") or []
    if commits:
        parts.append("dlbs " + ", ".join(str(c)[:8] for c in commits[:2]))
    return "; ".join(parts)


#: The provenance entries that say what was measured, in the footer's order.
MEASURED = ("phases", "precisions", "device_types")


def measured_words(info: Mapping[str, Any]) -> str:
    """What was measured, the footer's first words: ``inference float32 cpu``; every value of
    an entry, joined by ``/`` (``float32/bfloat16``): a footer that showed two precisions of
    three would say the chart was measured at two."""
    return " ".join("/".join(str(v) for v in info[key]) for key in MEASURED if info.get(key))


def _state_words(info: dict[str, Any]) -> list[str]:
    """What the tables mark and a chart's points cannot: ``busy machine in 12 of 12 runs``,
    ``no steady state in 1 of 12 runs`` (issue 30: the machine's state wherever a throughput
    is shown)."""
    words = []
    for key, text in (("busy_runs", "busy machine in {k} of {n} runs"),
                      ("above_cores_runs", "ranks above cores in {k} of {n} runs"),
                      ("steady_state", "no steady state in {k} of {n} runs")):
        # a count may name the runs not judged after it: ``4 of 6 (2 not judged: ...)``
        found = re.fullmatch(r"(\d+) of (\d+)( \(.*\))?", str(info.get(key) or ""))
        if not found:
            continue
        count, total = int(found[1]), int(found[2])
        if key == "steady_state":  # the runs not tested are neither steady nor unsteady
            count = total - count - sum(map(int, re.findall(r"(\d+) not tested", found[3] or "")))
        if count or found[3]:
            words.append(text.format(k=count, n=total) + (found[3] or ""))
    return words


#: The footer's font size (points), and a character's mean width in it (points; the default
#: sans-serif's digits and lower case are about 0.55 em): what wraps the footer to the figure.
SIGN_POINTS, SIGN_CHAR_POINTS = 7, 7 * 0.6


def _sign(figure: Figure, text: str) -> None:
    """Write the provenance at the bottom of the figure (after the layout), wrapped to the
    figure's width: a footer longer than the figure was cut at its right edge."""
    if text:
        width = max(20, int(figure.get_figwidth() * 72 * 0.98 / SIGN_CHAR_POINTS))
        lines = textwrap.wrap(text, width) or [text]
        line_share = SIGN_POINTS * 1.3 / (figure.get_figheight() * 72)
        figure.subplots_adjust(bottom=figure.subplotpars.bottom + 0.03 + line_share * len(lines))
        figure.text(0.01, 0.01, "\n".join(lines), fontsize=SIGN_POINTS, color="#555555",
                    va="bottom")


def _images(figure: Figure, formats: tuple[str, ...]) -> dict[str, bytes]:
    """The figure saved in each of ``formats`` (fonts embedded), then closed."""
    images = {}
    # Fonts go with the file: SVG text as paths (no font needed to show it), PDF fonts as
    # embedded TrueType subsets (type 42; the default, type 3, is a font of drawn glyphs that
    # some publishers' checks refuse); no font is left to the reader's machine in either case.
    with matplotlib.rc_context({"svg.fonttype": "path", "pdf.fonttype": 42}):
        for fmt in formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, dpi=100, metadata=METADATA[fmt])
            images[fmt] = buffer.getvalue()
    plt.close(figure)
    return images


@dataclass(frozen=True)
class Axis:
    """How a chart's value axis is drawn: from zero (linear), or log with a reference line."""

    label: str
    log: bool = False
    reference: float | None = None
    reference_label: str = ""
    #: Draw the ideal (linear) speedup: devices / fewest devices.
    ideal: bool = False


#: Legend entry of an interval with no upper bound (the throughput of a run whose time's
#: interval reaches 0, ``>= low`` in the table): drawn as an arrow to the axis' edge.
OPEN_LABEL = "interval with no upper bound (arrow to the edge)"


@dataclass(frozen=True)
class Point:
    """One cell drawn: x, y, the distances to its interval's ends, and whether the interval
    has no upper bound (``high`` is then 0 and an arrow goes to the axis' edge)."""

    x: float
    y: float
    low: float
    high: float
    open_high: bool = False


def _finite(value: Any) -> float | None:
    """A cell as a finite float; ``None`` for an empty or unbounded one (NaN, inf, text)."""
    return float(value) if is_number(value) and np.isfinite(float(value)) else None


def column_x(col: Any) -> float | None:
    """A pivot column's place on a numeric x axis: the number it is, also when written as
    text (a sweep over ``[16, 32, "max"]`` has the columns ``"16"``, ``"32"``, ``"max"``);
    None for a column that is no number (``max``)."""
    if isinstance(col, str):
        try:
            col = float(col)
        except ValueError:
            return None
    return _finite(col)


def _numeric_columns(table: Table) -> list[float]:
    """The x of every column that has one, sorted."""
    return sorted({x for c in table.data.columns if (x := column_x(c)) is not None})


def _points(table: Table, r: int) -> list[Point]:
    """The points of one row's numeric cells; no error where no CI. An interval's end beyond
    ``benchstats.OPEN_FACTOR`` x its value (the rule every output applies) is open: its upper
    end an arrow, so that one interval does not set the axis for all; its lower end a whisker
    to the axis' foot (no lower bound above zero)."""
    points = []
    for c, col in enumerate(table.data.columns):
        value = table.data.iat[r, c]
        x = column_x(col)
        if x is None or not is_number(value):
            continue
        y = float(value)
        ends = cell_ends(value, table.ci[0].iat[r, c], table.ci[1].iat[r, c]) \
            if table.ci is not None else None
        if ends is None:
            points.append(Point(x, y, 0.0, 0.0))
            continue
        low, high = ends
        points.append(Point(x, y, y - (0.0 if low is None else low),
                            0.0 if high is None else high - y, open_high=high is None))
    return points


def _open_arrow(axes: Any, x: float, y: float, color: str, horizontal: bool = False) -> None:
    """A dashed arrow from a point to the axis' edge (up, or right on a horizontal chart): its
    interval has no upper bound."""
    end, coords = ((1.0, y), ("axes fraction", "data")) if horizontal else \
        ((x, 1.0), ("data", "axes fraction"))
    axes.annotate("", xy=end, xycoords=coords, xytext=(x, y), textcoords="data",
                  arrowprops={"arrowstyle": "-|>", "color": color, "linestyle": "--",
                              "linewidth": 1.2, "shrinkA": 4, "shrinkB": 0})


def _open_legend(axes: Any) -> None:
    """The legend entry of the open intervals (a proxy: an arrow is no legend artist)."""
    axes.plot([], [], color="#555555", linestyle="--", marker=r"$\uparrow$", markersize=9,
              label=OPEN_LABEL)


#: Ticks of a log ratio axis, labelled as plain factors (``1.25x``), not powers of 2: the
#: coarsest set that puts at least three ticks in the axis' range wins.
RATIO_TICKS: tuple[tuple[float, ...], ...] = (
    (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0),
    (0.25, 0.33, 0.5, 0.67, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0,
     64.0),
    (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
    (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3),
    (0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06, 1.08, 1.1),
    (0.98, 0.99, 1.0, 1.01, 1.02),
)


def _ratio_ticks(axis: Any, low: float, high: float) -> None:
    """Plain ``1.25x`` labels on a log ratio axis, the ticks that fall in ``[low, high]``."""
    ticks = [1.0]
    for candidates in RATIO_TICKS:
        ticks = [t for t in candidates if low <= t <= high]
        if len(ticks) >= 3:
            break
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    axis.set_minor_locator(NullLocator())


def _draw_axis(axes: Any, axis: Axis) -> None:
    if axis.log:
        axes.set_yscale("log")
        low, high = axes.get_ylim()
        _ratio_ticks(axes.yaxis, min(low, 0.95), max(high, 1.05))
    else:
        axes.set_ylim(bottom=0)  # a bar or line people compare must start at zero
        if axis.reference is not None:  # room above the reference line, which is no frame
            axes.set_ylim(top=max(axes.get_ylim()[1], axis.reference * 1.1))
    if axis.reference is not None:
        axes.axhline(axis.reference, color="grey", linestyle="--", linewidth=1,
                     label=axis.reference_label)


def _lines(table: Table, rows: list[int], title: str, xlabel: str, axis: Axis,
           logx: bool = False, sign: str = "", formats: tuple[str, ...] = ("png",)
           ) -> dict[str, bytes]:
    """A line per table row: x = the (numeric) columns, y = the numeric cells, with 95% CI
    error bars where the runs give one. One line: no legend (the title names it)."""
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    # Labels from the rows drawn: what is the same on all of them (the title's model) is left out.
    labels = dict(zip(rows, _labels(table.data.index[rows])))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    failed: dict[float, int] = {}  # x -> statuses written there so far (stacked, not overlaid)
    opened = False  # an interval with no upper bound was drawn
    for number, r in enumerate(rows):
        color = colors[number % len(colors)]
        points = _points(table, r)
        if points:
            xs, ys = [p.x for p in points], [p.y for p in points]
            lows, highs = [p.low for p in points], [p.high for p in points]
            errors = [lows, highs] if any(lows) or any(highs) else None
            label = labels[r] if len(rows) > 1 else None  # one line: the title names it
            axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, label=label, color=color)
            for point in points:
                if point.open_high:
                    _open_arrow(axes, point.x, point.y, color)
                    opened = True
        for x, status in _statuses(table, r) if not axis.log else []:
            # a failed cell is a gap, never a 0: its status is written at the foot of the axis
            # (of a linear axis from zero; on a ratio axis the foot is near 1x, a value)
            axes.text(x, 0.02 + 0.05 * failed.get(x, 0), status, color=color, fontsize=8,
                      ha="center", transform=axes.get_xaxis_transform(), zorder=1.5,
                      bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            # (under the lines, zorder 2: a point at the foot stays visible; over the grid)
            failed[x] = failed.get(x, 0) + 1
    if axis.ideal:
        _ideal_line(axes, table, rows)
    if logx:
        axes.set_xscale("log", base=2)
    ticks = _numeric_columns(table)
    axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    if ticks:  # room around the first and last columns (a status written there stays inside)
        pad = (ticks[-1] - ticks[0]) * 0.05 or 0.5
        axes.set_xlim(*((ticks[0] / 1.2, ticks[-1] * 1.2) if logx else
                        (ticks[0] - pad, ticks[-1] + pad)))
    axes.minorticks_off()
    _draw_axis(axes, axis)
    axes.set(xlabel=xlabel, ylabel=axis.label)
    axes.grid(True, alpha=0.3)
    if opened:
        _open_legend(axes)
    _legend(figure, axes, axis)
    axes.set_title(fitted_title(title, figure.get_figwidth()))  # the width the legend left
    figure.tight_layout()
    _sign(figure, sign)
    return _images(figure, formats)


#: Title characters an inch of figure holds at matplotlib's title size (12 pt: ~7 pt a
#: character), with a margin.
TITLE_CHARS_PER_INCH = 9.5


def fitted_title(title: str, width_inches: float) -> str:
    """``title`` with each of its lines wrapped at word boundaries to the figure's width: a
    row named by a long model title (a Llama with its settings) was cut at both edges."""
    width = max(20, int(width_inches * TITLE_CHARS_PER_INCH))
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) if line else line
                     for line in title.split("\n"))


#: Legend entries from which the legend goes beside the axes, never over the lines.
LEGEND_INSIDE_MAX = 4


def _legend(figure: Figure, axes: Any, axis: Axis) -> None:
    """A legend when there is more than one line or a reference line; a long one beside the
    axes (the figure widened for it), where it cannot hide a line."""
    names = [n for n in axes.get_legend_handles_labels()[1] if n]
    if len([n for n in names if n not in (axis.reference_label, OPEN_LABEL)]) <= 1 and \
            not axis.reference_label and OPEN_LABEL not in names:
        return
    if len(names) <= LEGEND_INSIDE_MAX:
        axes.legend(fontsize="small")
        return
    figure.set_size_inches(figure.get_figwidth() + 2.5, figure.get_figheight())
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _statuses(table: Table, r: int) -> list[tuple[float, str]]:
    """(x, status) of one row's failed cells (``oom``, ``failed``...)."""
    return [(x, STATUS_TEXT.get(value, value))
            for col, value in zip(table.data.columns, table.data.iloc[r].tolist())
            if (x := column_x(col)) is not None and isinstance(value, str)]


def _ideal_line(axes: Any, table: Table, rows: list[int]) -> None:
    """The linear speedup (devices / fewest devices) from each base the rows count from: a
    row whose fewest devices failed starts later, and its ideal is a parallel line."""
    bases = sorted({min(p.x for p in points) for r in rows if (points := _points(table, r))})
    for number, base in enumerate(bases):
        xs = [x for x in _numeric_columns(table) if x >= base]
        axes.plot(xs, [x / base for x in xs], color="grey", linestyle=":", linewidth=1.5,
                  label="linear scaling (ideal)" if number == 0 else "_nolegend_")


def _title_with_row(title: str, table: Table, rows: list[int]) -> str:
    """Name in the title, on a second line, what the lines drawn share (the legend names only
    what differs): the row of a one-line chart, e.g. ``gpu, effective batch 256``."""
    keys = [k if isinstance(k, tuple) else (k,) for k in table.data.index[rows]]
    if not keys:
        return title
    names = [str(n or "") for n in table.data.index.names]
    shared = [i for i in range(len(keys[0])) if len({k[i] for k in keys}) == 1]
    parts = [_named(names[i], keys[0][i]) for i in shared if str(keys[0][i]) != "-"]
    extra = [p for p in parts if p not in title]
    return f"{title}\n{', '.join(extra)}" if extra else title  # a second line: titles fit


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "chart"


def _models(table: Table) -> dict[str, list[int]]:
    """Rows of each model (the first level of the rows)."""
    models: dict[str, list[int]] = {}
    for r, key in enumerate(table.data.index):
        models.setdefault(str(key[0] if isinstance(key, tuple) else key), []).append(r)
    return models


#: The x axis of the regular charts: a replica is a device, or under fsdp_tp a
#: tensor-parallel group of devices that reads one batch.
REPLICA_BATCH = "replica batch (samples per replica)"


def _not_drawn(table: Table, rows: list[int]) -> str:
    """What the provenance line says of columns with values but no place on the x axis (a
    replica batch ``max``: each run's batch is its own, in the resources table)."""
    left = [str(col) for c, col in enumerate(table.data.columns) if column_x(col) is None
            and any(is_number(table.data.iat[r, c]) for r in rows)]
    if not left:
        return ""
    return (f"; replica batch {', '.join(left)} not drawn (no batch of its own: see "
            "'Max batch found')")


def _regular(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    table = _table(report, "throughput")
    if table is None:
        return
    for model, rows in _models(table).items():
        title = _title_with_row(f"{model}: throughput vs replica batch", table, rows)
        images = _lines(table, rows, title, REPLICA_BATCH,
                        Axis("throughput (samples/s)\ngeometric mean of runs, 95% CI"), logx=True,
                        sign=footer(report) + _not_drawn(table, rows), formats=formats)
        yield Chart(f"throughput_{_slug(report.model_names.get(model, model))}.png", title,
                    images)
    yield from _tokens(report, formats)


def _tokens(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    """Tokens/s vs replica batch of each model with tokens/s: only the rows that have it (an
    image model, a generation run has none: no line at 0, no chart)."""
    table = _table(report, "tokens")
    if table is None:
        return
    for model, rows in _models(table).items():
        rows = [r for r in rows if _points(table, r)]
        if not rows:
            continue
        title = _title_with_row(f"{model}: tokens/s vs replica batch", table, rows)
        images = _lines(table, rows, title, REPLICA_BATCH,
                        Axis("throughput (tokens/s)\ngeometric mean of runs, 95% CI"), logx=True,
                        sign=footer(report) + _not_drawn(table, rows), formats=formats)
        yield Chart(f"tokens_{_slug(report.model_names.get(model, model))}.png", title, images)


#: Scaling charts: table name -> file, title, value axis, log (base 2) device axis.
SCALING_CHARTS: dict[str, tuple[str, str, Axis, bool]] = {
    "throughput": ("scaling_throughput.png", "throughput vs number of devices",
                   Axis("throughput (samples/s, all devices, 95% CI)"), False),
    "speedup": ("speedup.png", "speedup vs number of devices",
                Axis("speedup over fewest devices (x, log scale)", log=True, reference=1.0,
                     reference_label="no speedup (1x)", ideal=True), True),
    "efficiency": ("efficiency.png", "scaling efficiency vs number of devices",
                   Axis("scaling efficiency (%)", reference=100.0,
                        reference_label="linear scaling (100%)"), False),
}


def _scaling(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    if _table(report, "efficiency") is None:
        return  # one device count: nothing to scale
    for name, (file_name, what, axis, logx) in SCALING_CHARTS.items():
        table = _table(report, name)
        if table is None:
            continue
        rows = list(range(len(table.data.index)))
        title = _title_with_row(f"{report.kind.capitalize()} scaling: {what}", table, rows)
        if name == "efficiency" and table.marks is not None and \
                table.marks.map(lambda m: MARK_SUPERLINEAR in str(m)).to_numpy().any():
            # the table's own flag: the whole 95% interval above 100%
            title += "\nabove 100%: unlike runs compared? see the report's note"
        images = _lines(table, rows, title,
                        "number of devices" + (" (log scale)" if logx else ""), axis,
                        logx=logx, sign=footer(report), formats=formats)
        yield Chart(file_name, title, images)


#: Colour of a comparison point by its verdict.
VERDICT_COLORS: dict[str, str] = {"faster": "#2a8a3e", "slower": "#c0392b",
                                  "inconclusive or no verdict": "#7f7f7f"}


def _verdict_group(verdict: Any) -> str:
    return str(verdict) if verdict in ("faster", "slower") else \
        "inconclusive or no verdict"


def _above(table: Table, limit: float) -> bool:
    """True when a numeric cell of ``table`` is above ``limit``."""
    return any(is_number(v) and v > limit for v in table.data.to_numpy().ravel())


#: Legend entries of the marks a comparison's verdict can carry (its label ends in them).
VERDICT_MARK_LABELS: dict[str, str] = {
    MARK_UNSTEADY: "no steady state (a side's runs): a warm-up may be in the speedup",
    MARK_BUSY: "busy machine (a side's runs): the verdict may be the machine's",
    MARK_NOT_JUDGED: "machine state not judged (a side's runs): a busy machine not ruled out",
    MARK_ABOVE_CORES: "ranks above cores (a side's runs): the verdict may be the scheduler's",
    MARK_NOT_FINITE: "numerics not finite (a side's runs): the speed of a broken computation",
    MARK_NUMERICS_OFF: "numerics off the reference (a side's runs): it may compute something "
                       "else",
}
#: The mark drawn in a legend entry (mathtext: a bare ``#`` or ``~`` is markup there).
MARKERS: dict[str, str] = {MARK_UNSTEADY: r"$\sim$", MARK_BUSY: r"$\#$", MARK_NOT_JUDGED: r"$=$",
                           MARK_ABOVE_CORES: r"$>$", MARK_NOT_FINITE: r"$\times$",
                           MARK_NUMERICS_OFF: r"$?$"}


def _interval_words(table: Table) -> str:
    """What the table's title says of its intervals (level, cells, the sessions' rule)."""
    found = re.search(r"\(((?:intervals at|no interval nor verdict).*)\)$", table.title)
    return found.group(1) if found else f"{table.confidence:.2%} intervals"


def _bars(table: Table, sign: str = "", formats: tuple[str, ...] = ("png",)
          ) -> dict[str, bytes]:
    data = table.data
    ok = [r for r in range(len(data)) if is_number(data["Speedup"].iat[r])]
    verdict = list(data.columns).index("Verdict")
    marks = [table.mark(r, verdict) for r in ok]  # the verdict's own marks, as in the table
    labels = [_labels(data.index)[r] + (f" {m}" if m else "") for r, m in zip(ok, marks)]
    speedup = [float(data["Speedup"].iat[r]) for r in ok]
    lows = [_finite(data["CI low"].iat[r]) for r in ok]
    highs = [_finite(data["CI high"].iat[r]) for r in ok]
    low = [s - lo if lo is not None else 0.0 for s, lo in zip(speedup, lows)]
    high = [hi - s if hi is not None else 0.0 for s, hi in zip(speedup, highs)]
    figure, axes = plt.subplots(figsize=(7.5, max(2.5, 0.45 * len(ok) + 1.5)))
    # Points with their CI on a log axis: 2x faster and 2x slower are equally far from 1;
    # coloured by verdict, so a point whose CI crosses the line is not read as a change.
    groups = [_verdict_group(data["Verdict"].iat[r]) for r in ok]
    for group, color in VERDICT_COLORS.items():
        at = [i for i, g in enumerate(groups) if g == group]
        if at:
            axes.errorbar([speedup[i] for i in at], at, xerr=[[low[i] for i in at],
                          [high[i] for i in at]], fmt="o", capsize=3, color=color, label=group)
            for i in at:  # a low bound and no high one: the interval runs off to the right
                if lows[i] is not None and highs[i] is None:
                    _open_arrow(axes, speedup[i], i, color, horizontal=True)
    if any(lo is not None and hi is None for lo, hi in zip(lows, highs)):
        axes.plot([], [], color="#555555", linestyle="--", marker=r"$\rightarrow$",
                  markersize=9, label=OPEN_LABEL)
    for mark, text in VERDICT_MARK_LABELS.items():
        if any(mark in m for m in marks):
            axes.plot([], [], linestyle="none", marker=MARKERS[mark], color="black",
                      label=f"{mark} {text}")
    axes.set_xscale("log")
    low_x, high_x = axes.get_xlim()
    _ratio_ticks(axes.xaxis, min(low_x, 0.95), max(high_x, 1.05))
    axes.set_yticks(range(len(ok)), labels, fontsize="small")
    axes.axvline(1.0, color="black", linewidth=1)
    # the table's own intervals, at the level adjusted for the cells judged together; the
    # title centred on the figure and wrapped to it (over the axes, which the experiments'
    # names push right, its second line ran past the right edge)
    figure.suptitle(fitted_title(f"Speedup of new over base\n{_interval_words(table)} "
                                 "(as in the table)", figure.get_figwidth()))
    axes.set(xlabel="speedup (x, log scale; > 1: new is faster)", ylabel="experiment")
    axes.invert_yaxis()
    axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    _sign(figure, sign)
    return _images(figure, formats)


def _compare(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    table = _table(report, "comparison")
    if table is not None and any(is_number(v) for v in table.data["Speedup"]):
        yield Chart("comparison.png", "Speedup of new over base",
                    _bars(table, footer(report), formats))


#: Unit of a pivot's value, by a pattern of its name (log key or statistic).
UNITS: tuple[tuple[str, str], ...] = (
    (r"(^|\.)time", "ms"), (r"throughput", "samples/s"), (r"tokens_per_second", "tokens/s"),
    (r"(ttft|tpot)_", "ms"), (r"tflops", "TFLOP/s"), (r"\.mfu", "fraction"),
    (r"samples_per_joule", "samples/J"), (r"energy_j", "J"), (r"_mb(_|$)", "MiB"),
    (r"power_w", "W"), (r"(gpu_util|\.cpu)", "%"), (r"duration", "s"), (r"^cv$", "fraction"),
    (r"^runs", "runs"))


def value_label(title: str, name: str) -> str:
    """A pivot's value axis label with its unit (``results.time_p50 (ms)``) where known."""
    if "(" in title:
        return title
    unit = next((u for pattern, u in UNITS if re.search(pattern, name)), None)
    return f"{title} ({unit})" if unit else title


def _pivot(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    table = report.tables[0]
    if _numeric_columns(table):
        title = report.title
        name = str(table.data.columns.name or "column")
        rows = list(range(len(table.data.index)))
        images = _lines(table, rows, title, name,
                        Axis(value_label(table.title, table.name)), sign=footer(report),
                        formats=formats)
        yield Chart(f"{_slug(table.name)}.png", title, images)


def _serve(report: Report, formats: tuple[str, ...]) -> Iterator[Chart]:
    """The serving report's curve: TTFT p50 and p99 (95% intervals) against the offered load
    (saturated points marked with a red X, points whose runs could not tell whether the server
    kept up with a '?'), each model a line; and SLO attainment against the offered load."""
    tables = {t.name: t for t in report.tables}
    achieved, attainment = tables.get("request_throughput"), tables.get("slo_attainment")
    capacity = tables.get("capacity")
    if achieved is None or attainment is None:
        if capacity is not None:
            yield _capacity_chart(report, capacity, formats)
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, model in enumerate(achieved.data.index):
        color = colors[r % len(colors)]
        for name, style in (("ttft_p50", "-"), ("ttft_p99", "--")):
            table = tables.get(name)
            if table is None:
                continue
            # x is the offered load (the columns), never the achieved rate: a saturated server
            # answers less as more is offered, and a curve over achieved would run right to left
            marks = table.marks.iloc[r].tolist() if table.marks is not None else [""] * len(
                table.data.columns)
            points = [(float(x), y, lo, hi, MARK_SATURATED in str(m))
                      for x, y, lo, hi, m in zip(
                table.data.columns, table.data.iloc[r].tolist(),
                *(side.iloc[r].tolist() for side in (table.ci or (table.data, table.data))),
                marks)
                if is_number(x) and _finite(y) is not None]
            if not points:
                continue
            points.sort()
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            errors = [[y - lo if _finite(lo) is not None else 0 for _x, y, lo, _hi, _s in points],
                      [hi - y if _finite(hi) is not None else 0 for _x, y, _lo, hi, _s in points]]
            known = [_finite(lo) is not None and _finite(hi) is not None
                     for _x, _y, lo, hi, _s in points]
            label = f"{model}: {name.replace('_', ' ')}"
            if not all(known):  # never drawn as exact: a hollow point has no interval
                label += " (hollow: no interval, too few requests)"
            left.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, linestyle=style,
                          color=color, label=label)
            hollow = [(x, y) for (x, y, _lo, _hi, _s), ok in zip(points, known) if not ok]
            unsure = {float(x) for x, m in zip(table.data.columns, marks)
                      if is_number(x) and MARK_CANNOT_TELL in str(m)}
            untold = [(x, y) for x, y, _lo, _hi, _s in points if x in unsure]
            if untold:
                left.plot([x for x, _y in untold], [y for _x, y in untold], marker="$?$",
                          linestyle="none", color="darkorange", markersize=12, zorder=4,
                          label=(textwrap.fill(f"{model}: cannot tell whether the server "
                                               f"kept up: {CANNOT_TELL_WHY}", 60)
                                 if name == "ttft_p50" else None))
            saturated = [(x, y) for x, y, _lo, _hi, sat in points if sat]
            if saturated:
                left.plot([x for x, _y in saturated], [y for _x, y in saturated], "X",
                          color="red", markersize=10, zorder=4,
                          label=(f"{model}: saturated (the server did not keep up)"
                                 if name == "ttft_p50" else None))
            if hollow:
                left.plot([x for x, _y in hollow], [y for _x, y in hollow], "o", color=color,
                          markerfacecolor="white", zorder=3)
        loads = [(c, v) for c, v in zip(attainment.data.columns, attainment.data.iloc[r])
                 if is_number(c) and _finite(v) is not None]
        if loads:
            right.plot([float(c) for c, _v in loads], [v for _c, v in loads], marker="o",
                       color=color, label=str(model))
    left.set(title="Latency against offered load (95% intervals)",
             xlabel=str(achieved.data.columns.name), ylabel="TTFT (ms)")
    left.set_ylim(bottom=0)
    left.grid(True, alpha=0.3)
    left.legend(fontsize="x-small", loc="best")  # away from the points (a p99 sits high at low load)
    if capacity is not None and "requests/s" in str(attainment.data.columns.name):
        _capacity_bands(right, capacity, list(achieved.data.index), colors)
    right.set(title="SLO attainment against load", xlabel=str(attainment.data.columns.name),
              ylabel="requests within the SLO (%)")
    right.set_ylim(0, 105)
    right.grid(True, alpha=0.3)
    if len(achieved.data.index) > 1:
        right.legend(fontsize="small")
    figure.tight_layout()
    _sign(figure, footer(report))
    yield Chart("serving.png", report.title, _images(figure, formats))


def _capacities(capacity: Table) -> Iterator[tuple[str, float, float | None, float | None,
                                                 str]]:
    """(model, capacity, low, high, unit) of each search that found one; a search that did
    not converge or whose client lagged is named so in its label (``model``)."""
    for model, row in capacity.data.iterrows():
        value = _finite(row["Capacity"])
        if value is None:
            continue
        label = str(model)
        if row["Converged"] is False:
            label += " (not converged)"
        if capacity.marks is not None and capacity.marks.at[model, "Capacity"]:
            label += " (client lagged)"
        yield (label, value, _finite(row["95% low"]), _finite(row["95% high"]),
               str(row["Unit"]))


def _doubtful(label: str) -> bool:
    """A capacity not to draw as sure: the search did not converge or its client lagged."""
    return label.endswith(("(not converged)", "(client lagged)"))


def _capacity_bands(axes: Any, capacity: Table, models: list[Any], colors: list[str]) -> None:
    """A rate search's capacity on the attainment panel: a line, and its interval shaded (a
    dotted line alone when it has none)."""
    for model, value, low, high, unit in _capacities(capacity):
        if unit != "requests/s":
            continue
        color = next((colors[i % len(colors)] for i, m in enumerate(models)
                      if model == m or model.startswith(f"{m} (")), "black")
        if low is not None and high is not None and not _doubtful(model):
            axes.axvspan(low, high, color=color, alpha=0.15)
            axes.axvline(value, color=color, linestyle="-",
                         label=f"{model}: capacity {value:.3g} ({low:.3g}-{high:.3g})")
        else:
            axes.axvline(value, color=color, linestyle=":",
                         label=f"{model}: capacity {value:.3g}" + (
                             "" if _doubtful(model) else " (no interval)"))
    axes.legend(fontsize="x-small")


def _capacity_chart(report: Report, capacity: Table, formats: tuple[str, ...]) -> Chart:
    """The capacities of searches without a load grid: a point and its 95% interval each
    (hollow: no interval)."""
    found = list(_capacities(capacity))
    figure, axes = plt.subplots(figsize=(9, 1.6 + 0.6 * max(1, len(found))))
    for y, (model, value, low, high, unit) in enumerate(found):
        if low is not None and high is not None:
            drawn = axes.errorbar([value], [y], xerr=[[value - low], [high - value]],
                                  marker="o", capsize=5, color="C0", linestyle="none",
                                  markerfacecolor="white" if _doubtful(model) else "C0")
            if _doubtful(model):  # an interval the search did not earn: dashed
                for line in drawn.lines[2]:
                    line.set_linestyle("--")
        else:
            axes.plot([value], [y], "o", color="C0", markerfacecolor="white")
        axes.annotate(f"{value:.3g} {unit}", (value, y), textcoords="offset points",
                      xytext=(0, 8), ha="center", fontsize="small")
    axes.set_yticks(range(len(found)), [m for m, *_rest in found])
    axes.set_ylim(-0.7, len(found) - 0.3)
    axes.set_xlim(0, 1.15 * max([h if h is not None else v for _m, v, _l, h, _u in found],
                                default=1.0))
    units = sorted({unit for *_rest, unit in found})
    figure.suptitle("Capacity under the SLO (95% intervals over trials)\nhollow: no "
                    "interval, or a search that did not converge or whose client lagged "
                    "(dashed)", fontsize="medium")
    axes.set(xlabel=", ".join(units) or "load")
    axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    _sign(figure, footer(report))
    return Chart("capacity.png", report.title, _images(figure, formats))


CHARTS = {"regular": _regular, "weak": _scaling, "strong": _scaling, "compare": _compare,
          "pivot": _pivot, "serve": _serve}


def charts(report: Report, formats: Sequence[str] = ("png",)) -> list[Chart]:
    """The charts of a report (none for a summary), each drawn in ``formats``."""
    maker = CHARTS.get(report.kind)
    return list(maker(report, tuple(formats))) if maker else []


def chart_files(made: Sequence[Chart], formats: Sequence[str]) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each chart in each format, format by format within a chart."""
    return [(chart.file_name(fmt), chart.images[fmt]) for chart in made for fmt in formats]


def write_charts(report: Report, directory: str | Path, formats: Sequence[str] = ("png",)
                 ) -> list[Path]:
    """Write the report's charts in ``formats`` into ``directory`` (created); return the
    paths."""
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = chart_files(charts(report, formats), formats)
        paths = [folder / name for name, _ in files]
        for path in paths:  # a link planted at one name: no chart is written
            check_writable_target(path)
        for path, (_, data) in zip(paths, files):
            atomic_write_bytes(path, data)  # a fresh name renamed over it
    except UnsafeFileError as err:  # names the chart's file
        raise ReportError(f"--plot: cannot write charts to '{folder}': {err}") from None
    except OSError as err:
        raise ReportError(f"--plot: cannot write charts to '{folder}': {err.strerror or err}") \
            from None
    return paths
