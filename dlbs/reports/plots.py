"""PNG charts of a report with matplotlib (Agg backend: no display needed).

``regular``: throughput vs replica batch, one chart per model; ``weak``/``strong``: scaling
efficiency vs number of devices; ``compare``: speedup bars with their 95% confidence interval;
``pivot`` with numeric columns: the value vs the column. Failed and missing cells are left out
of the lines (a gap, never a 0). Every axis is labelled with its unit. Functions return PNG
bytes; only ``write_charts`` touches files.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from dlbs.errors import ReportError
from dlbs.reports.frame import is_number
from dlbs.reports.model import Report, Table


@dataclass(frozen=True)
class Chart:
    """One chart: a file name, a title and the PNG bytes."""

    name: str
    title: str
    png: bytes


def _table(report: Report, name: str) -> Table | None:
    return next((t for t in report.tables if t.name == name), None)


def _labels(index: pd.Index) -> list[str]:
    """Legend text of each row: its key, less the levels that are the same on every row."""
    keys = [k if isinstance(k, tuple) else (k,) for k in index]
    varying = [i for i in range(index.nlevels) if len({k[i] for k in keys}) > 1] or [0]
    return [" / ".join(str(k[i]) for i in varying if str(k[i]) != "-") for k in keys]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _lines(table: Table, rows: list[int], title: str, xlabel: str, ylabel: str,
           logx: bool = False) -> bytes:
    """A line per table row: x = the (numeric) columns, y = the numeric cells."""
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    labels = _labels(table.data.index)
    for r in rows:
        points = [(c, v) for c, v in zip(table.data.columns, table.data.iloc[r].tolist())
                  if is_number(c) and is_number(v)]
        if points:
            xs, ys = zip(*points)
            axes.plot(xs, ys, marker="o", label=labels[r])
    if logx:
        axes.set_xscale("log", base=2)
    ticks = sorted({c for c in table.data.columns if is_number(c)})
    axes.set_xticks(ticks, [str(t) for t in ticks])
    axes.minorticks_off()
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.tight_layout()
    return _png(figure)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "chart"


def _regular(report: Report) -> Iterator[Chart]:
    table = _table(report, "throughput")
    if table is None:
        return
    models: dict[str, list[int]] = {}
    for r, key in enumerate(table.data.index):
        models.setdefault(str(key[0] if isinstance(key, tuple) else key), []).append(r)
    for model, rows in models.items():
        title = f"{model}: throughput vs replica batch"
        png = _lines(table, rows, title, "replica batch (samples per device)",
                     "throughput (samples/s)", logx=True)
        yield Chart(f"throughput_{_slug(model)}.png", title, png)


def _scaling(report: Report) -> Iterator[Chart]:
    table = _table(report, "efficiency")
    if table is None:
        return
    title = f"{report.kind} scaling efficiency vs number of devices"
    rows = list(range(len(table.data.index)))
    yield Chart("efficiency.png", title, _lines(table, rows, title, "number of devices",
                                                "scaling efficiency (%)"))


def _bars(table: Table) -> bytes:
    data = table.data
    ok = [r for r in range(len(data)) if is_number(data["Speedup"].iat[r])]
    labels = [_labels(data.index)[r] for r in ok]
    speedup = [float(data["Speedup"].iat[r]) for r in ok]
    low = [s - float(data["CI95 low"].iat[r]) if is_number(data["CI95 low"].iat[r]) else 0.0
           for s, r in zip(speedup, ok)]
    high = [float(data["CI95 high"].iat[r]) - s if is_number(data["CI95 high"].iat[r]) else 0.0
            for s, r in zip(speedup, ok)]
    figure, axes = plt.subplots(figsize=(7.5, max(2.5, 0.45 * len(ok) + 1.5)))
    axes.barh(range(len(ok)), speedup, xerr=[low, high], capsize=3, color="#4c72b0")
    axes.set_yticks(range(len(ok)), labels, fontsize="small")
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set(title="Speedup of new over base (95% CI)",
             xlabel="speedup (base batch time / new batch time, x)", ylabel="experiment")
    axes.invert_yaxis()
    figure.tight_layout()
    return _png(figure)


def _compare(report: Report) -> Iterator[Chart]:
    table = _table(report, "comparison")
    if table is not None and any(is_number(v) for v in table.data["Speedup"]):
        yield Chart("comparison.png", "Speedup of new over base", _bars(table))


def _pivot(report: Report) -> Iterator[Chart]:
    table = report.tables[0]
    if any(is_number(c) for c in table.data.columns):
        title = report.title
        name = str(table.data.columns.name or "column")
        rows = list(range(len(table.data.index)))
        png = _lines(table, rows, title, name, table.title)
        yield Chart(f"{_slug(table.name)}.png", title, png)


CHARTS = {"regular": _regular, "weak": _scaling, "strong": _scaling, "compare": _compare,
          "pivot": _pivot}


def charts(report: Report) -> list[Chart]:
    """The charts of a report (none for a summary)."""
    maker = CHARTS.get(report.kind)
    return list(maker(report)) if maker else []


def write_charts(report: Report, directory: str | Path) -> list[Path]:
    """Write the report's charts as PNG files into ``directory`` (created); return the paths."""
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for chart in charts(report):
            path = folder / chart.name
            path.write_bytes(chart.png)
            paths.append(path)
    except OSError as err:
        raise ReportError(f"--plot: cannot write charts to '{folder}': {err.strerror or err}") \
            from None
    return paths
