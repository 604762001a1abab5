"""``dlbs history``: one configuration's results along an axis (code versions, dates, torch
versions), each point with its interval and number of runs; a table and a chart."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from benchstats.estimate import ESTIMATOR, ESTIMATOR_LEGEND, OPEN_END, OPEN_LEGEND

from dlbs.cli.dbargs import (
    FORMATS,
    add_db,
    add_filters,
    add_format,
    cell_text,
    emit,
    filters,
    terminal_text,
)

HELP = "the history of a configuration's results along an axis, with intervals (and a chart)"
EXAMPLE = ("dlbs history --db sqlite:///results.db -Pexp.model=resnet18 "
           "--metric results.throughput --by exp.code_version --plot history.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    add_filters(parser)
    add_format(parser, formats=(*FORMATS, "markdown"))
    parser.add_argument("--metric", default="results.throughput", help="the fact to follow")
    parser.add_argument("--by", default=None, metavar="AXIS",
                        help="the axis: a fact (exp.code_version, exp.framework_version, "
                             "exp.num_threads ...) or 'date' (by day); default "
                             "exp.code_version, or the date when no run has one")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="also draw the history (PNG, SVG or PDF by the file's suffix)")
    parser.add_argument("--include-excluded", action="store_true",
                        help="show runs excluded with 'dlbs db exclude' too")


def rows_of(series: list[Any], metric: str, axis: str) -> list[dict[str, Any]]:
    from dlbs.db.busy import mark_of
    from dlbs.db.history import configuration_names
    from dlbs.db.series import end_cell

    rows = []
    names = configuration_names([one.parameters for one in series])
    for number, (one, name) in enumerate(zip(series, names), 1):
        for p in one.points:
            # an end beyond benchstats.OPEN_FACTOR x the value: "open", never its number
            ends = p.ends()
            low: float | str | None = None if ends is None else end_cell(ends[0])
            high: float | str | None = None if ends is None else end_cell(ends[1])
            rows.append({"series": number, "configuration": name, "axis": axis,
                         "at": p.axis_value, "metric": metric, "value": p.value,
                         "ci_low": low, "ci_high": high, "runs": p.runs,
                         "ci_withheld": p.withheld or None, "busy_runs": p.busy,
                         "mark": mark_of(p), "estimator": ESTIMATOR,
                         "parameters": one.parameters})
    return rows


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dlbs.db import open_store
    from dlbs.db.busy import mark_busy
    from dlbs.db.charts import FORMATS, history_chart
    from dlbs.db.history import load_series_on_axis
    from dlbs.errors import UsageError

    if args.plot is not None and Path(args.plot).suffix.lstrip(".").lower() not in FORMATS:
        raise UsageError(f"--plot {args.plot or chr(39) * 2}: give a .png, .svg or .pdf file")
    store = open_store(args.db, readonly=True)
    try:
        loaded, args.by, fallback = load_series_on_axis(
            store, filters(args), args.metric, args.by, include_excluded=args.include_excluded)
        mark_busy(store, loaded.series)
    finally:
        store.close()
    if fallback:
        print(f"note: {fallback}", file=sys.stderr)
    series = loaded.series
    if loaded.left_out:
        print(f"note: {loaded.note(args.metric, args.by)}", file=sys.stderr)
    rows = rows_of(series, args.metric, args.by)
    columns = ["series", "configuration", "at", "value", "ci_low", "ci_high", "runs"]
    if any(r["ci_withheld"] for r in rows):  # why a one-run point has no interval
        columns.append("ci_withheld")
    if any(r["mark"] for r in rows):  # '#': a run of the point was made on a busy machine
        columns.append("mark")
    if args.format in ("table", "markdown"):
        print_table(series, rows, columns[2:], args.format)
    else:
        if args.format in ("json", "jsonl"):
            columns = list(rows[0]) if rows else columns
        emit([{c: r[c] for c in columns} for r in rows], args.format, columns)
    say_estimator(args.format, any(OPEN_END in (r["ci_low"], r["ci_high"]) for r in rows))
    say_busy(args.format, [p for one in series for p in one.points])
    if args.plot:
        history_chart(series, args.metric, args.by, args.plot)
    return 0


#: A parameter's cell in a series that does not set it (its runs carry no value).
NOT_SET = "-"
NOT_SET_LEGEND = f"{NOT_SET}: not set in that series' runs"
#: The words before the parameters every series shown shares.
SHARED = "All series:"


def _shown(value: Any) -> str:
    """A parameter's value as a cell (:data:`NOT_SET` when the series has none)."""
    return NOT_SET if value is None else cell_text(value)


def parameter_table(series: list[Any], rows: list[dict[str, Any]], point_columns: list[str]
                    ) -> tuple[list[str], list[str], list[list[str]], list[str]]:
    """The history as people read it: the parameters every series shares in one line
    (``All series: model=resnet18, ...``), a column for each parameter that differs between
    the series (``-`` where one does not set it), then each point's columns. Returns that
    line's ``name=value`` items, the header, the rows' cells and the legend lines below (``-``
    explained only when shown). Every cell is plain text, not yet escaped."""
    from dlbs.db.history import split_parameters

    constant, varying = split_parameters([one.parameters for one in series])
    fixed = {"series", *point_columns}
    names = [n.removeprefix("exp.") if n.removeprefix("exp.") not in fixed else n
             for n in varying]
    header = ["series", *names, *point_columns]
    cells = [[str(row["series"]), *(_shown(row["parameters"].get(n)) for n in varying),
              *(cell_text(row[c]) for c in point_columns)] for row in rows]
    shared = [f"{n.removeprefix('exp.')}={_shown(v)}" for n, v in constant.items()]
    legend = [NOT_SET_LEGEND] if any(NOT_SET in row[1:1 + len(varying)] for row in cells) else []
    return shared, header, cells, legend


#: The width the ``All series:`` line is wrapped to on a terminal (it may name 15 fields).
SHARED_WIDTH = 100


def _wrapped(shared: list[str]) -> list[str]:
    """The ``All series:`` line of the ``name=value`` items ``shared`` in lines of at most
    :data:`SHARED_WIDTH` characters, broken only between items (``input_shape=[3, 227, 227]``
    stays whole), continued indented; none without items."""
    lines: list[str] = []
    for item in [f"{SHARED} {shared[0]}", *shared[1:]] if shared else []:
        if lines and len(lines[-1]) + 2 + len(item) <= SHARED_WIDTH:
            lines[-1] += f", {item}"
        else:
            lines[-1:] = [f"{lines[-1]},"] if lines else []
            lines.append(f"  {item}" if lines else item)
    return lines


def print_table(series: list[Any], rows: list[dict[str, Any]], point_columns: list[str],
                fmt: str) -> None:
    """:func:`parameter_table` on stdout, aligned text or markdown; text read from the
    database shown terminal-safe (a log's ESC or line break as its escape) in both."""
    shared, header, cells, legend = parameter_table(series, rows, point_columns)
    if fmt == "markdown":
        from dlbs.reports.render import md_inline, md_text, terminal_safe

        def cell(text: str) -> str:
            return md_inline(terminal_safe(text)) or " "

        line = f"{SHARED} {', '.join(shared)}"
        lines = [md_text(terminal_safe(line)), ""] if shared else []
        lines.append("| " + " | ".join(map(cell, header)) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(map(cell, row)) + " |" for row in cells]
        lines += ["", *(md_text(terminal_safe(line)) for line in legend)] if legend else []
        print("\n".join(lines))
        return
    for line in _wrapped([terminal_text(item) for item in shared]):
        print(line)
    safe = [[terminal_text(c) for c in row] for row in [header, *cells]]
    widths = [max(len(row[i]) for row in safe) for i in range(len(header))]
    for row in safe:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for line in legend:
        print(terminal_text(line))


def say_busy(fmt: str, points: list[Any]) -> None:
    """The busy mark's legend and count (``3 of 12 points from busy runs``), where a point is
    marked: under the table, or on stderr beside CSV and JSON (whose rows carry
    ``busy_runs``)."""
    from dlbs.db.busy import BUSY_LEGEND, busy_count

    counted = busy_count(points)
    if counted:
        _say(fmt, f"{BUSY_LEGEND} ({counted})")


def _say(fmt: str, line: str) -> None:
    """A legend line: under a table or markdown on stdout, else on stderr as a note."""
    if fmt == "markdown":
        from dlbs.reports.render import md_text

        print(f"\n{md_text(line)}")
    elif fmt == "table":
        print(line)
    else:
        print(f"note: {line}", file=sys.stderr)


def say_estimator(fmt: str, opened: bool = False) -> None:
    """The legend's line naming the estimator of a point's value and interval (and, where a
    point's end is ``open``, the rule that opened it): under the table on stdout; on stderr
    beside CSV and JSON lines, whose stdout is data only (JSON rows carry it in their
    ``estimator`` key)."""
    lines = [f"value, ci_low, ci_high: {ESTIMATOR_LEGEND}", *([OPEN_LEGEND] if opened else [])]
    for line in lines:
        if fmt == "markdown":
            from dlbs.reports.render import md_text

            print(f"\n{md_text(line)}")
        elif fmt == "table":
            print(line)
        elif fmt != "json":
            print(f"note: {line}", file=sys.stderr)
