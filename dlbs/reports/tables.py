"""Pivot tables of aggregated experiments: regular, weak and strong scaling, any pivot, summary.

``regular``: rows model x device, columns replica batch; ``weak``: rows model x device type x
replica batch, columns number of devices, plus speedup and efficiency; ``strong``: the same
with a fixed effective batch; ``pivot``: any ``rows``/``cols``/``value``. When experiments that
differ in another input parameter (phase, precision...) would share a cell, that parameter is
added to the rows, so no cell ever mixes two experiments. A failed experiment's cell holds its
status, never 0. Pure: records in, ``Report`` out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from benchstats import ESTIMATOR_LEGEND, OPEN_LEGEND

from dlbs.reports.aggregate import NOISE_THRESHOLD, aggregate
from dlbs.reports.figure_tables import device_kinds, figure_notes, group_tables, tokens_pivot
from dlbs.reports.figures import FIGURE_KEYS
from dlbs.reports.frame import (
    column_of,
    identity_columns,
    identity_keys,
    label_of,
    left_out,
    to_frame,
    unidentified_note,
)
from dlbs.reports.model import Report, Table, cell_ends, has_open_end, interval_text, legend
from dlbs.reports.pivot import pivot
from dlbs.reports.scaling import SCALING_KEYS, scaling_tables

#: Value columns: title of the table of each.
VALUE_TITLES: dict[str, str] = {"time": "Batch time (ms)", "throughput": "Throughput (samples/s)"}
LAYOUTS: dict[str, tuple[list[str], list[str]]] = {
    "regular": (["model_title", "device"], ["replica_batch"]),
    "weak": (["model_title", "device_type", "replica_batch"], ["devices"]),
    "strong": (["model_title", "device_type", "effective_batch"], ["devices"]),
}
TITLES: dict[str, str] = {
    "regular": "Regular report: rows model x device, columns replica batch",
    "weak": "Weak scaling: fixed replica batch, columns number of devices",
    "strong": "Strong scaling: fixed effective batch, columns number of devices",
}


def prepare(records: Sequence[Mapping[str, Any]], extra: Sequence[str] = (),
            threshold: float = NOISE_THRESHOLD) -> tuple[pd.DataFrame, list[str]]:
    """Aggregate records; return the experiments and the identity columns."""
    keys = identity_keys(records)
    frame = to_frame(records, extra=[*keys, *extra], identity=keys)
    return aggregate(frame, threshold), identity_columns(keys, frame)


def identity_notes(agg: pd.DataFrame) -> list[str]:
    """The note on records lacking facts that tell experiments apart (none when all have them)."""
    note = unidentified_note(agg)
    return [note] if note else []


def left_out_notes(report: Report, agg: pd.DataFrame) -> Report:
    """``report`` with the note on the runs left out for an unusable measurement (none: no
    note) and, for stderr, one warning per run naming its log."""
    note, warnings = left_out(agg)
    if note:
        report.notes.append(note)
    report.warnings = warnings
    return report


def _notes(added: list[str], tables: list[Table], threshold: float) -> list[str]:
    notes = [f"{line}" for line in legend(tables)]
    if added:
        notes.append("rows also split by: " + ", ".join(label_of(a) for a in added))
    measures = "throughput, batch time" + (" and tokens/s" if any(t.name == "tokens" for t in tables)
                                           else "")
    notes.append(f"values of {measures}: {ESTIMATOR_LEGEND}; others: "
                 f"arithmetic mean over runs; noise threshold: CV > {threshold:.0%}")
    if any(has_open_end(t) for t in tables):
        notes.append(OPEN_LEGEND)
    return notes


def standard_report(records: Sequence[Mapping[str, Any]], kind: str,
                    threshold: float = NOISE_THRESHOLD) -> Report:
    """The ``regular``, ``weak`` or ``strong`` report of DLBS."""
    extra = list(SCALING_KEYS) if kind != "regular" else []
    agg, identity = prepare(records, extra=extra, threshold=threshold)
    rows, cols = LAYOUTS[kind]
    tables: list[Table] = []
    added: list[str] = []
    for metric, title in VALUE_TITLES.items():
        data, marks, added = pivot(agg, rows, cols, f"{metric}_mean", identity)
        ci = (pivot(agg, rows, cols, f"{metric}_ci_low", identity)[0],
              pivot(agg, rows, cols, f"{metric}_ci_high", identity)[0])
        tables.append(Table(metric, title, data, marks, ci=ci, exact=True))
    interval = interval_table(tables[1], pivot(agg, rows, cols, "runs_ok", identity)[0])
    scaling_notes: list[str] = []
    if kind != "regular":
        spread = (pivot(agg, rows, cols, "throughput_std", identity)[0],
                  pivot(agg, rows, cols, "runs_ok", identity)[0])
        more, scaling_notes = scaling_tables(tables[1], agg, [*rows, *added], cols, spread)
        tables += more
    figures, figure_notes = _figure_tables(agg, rows, cols, added, identity)
    tables += ([interval] if interval is not None else []) + figures
    notes = _notes(added, tables, threshold)
    report = Report(kind, TITLES[kind], tables,
                    scaling_notes + notes + figure_notes + identity_notes(agg))
    report.model_names = model_names(agg)
    return left_out_notes(report, agg)


def model_names(agg: pd.DataFrame) -> dict[str, str]:
    """Each row's model name (``model_title``) -> its ``exp.model``, where it names one model
    (a title two models share, or a record without ``exp.model``, is left out: the chart is
    then named by the title)."""
    if "model" not in agg.columns or "model_title" not in agg.columns:
        return {}
    pairs: dict[str, set[str]] = {}
    for title, model in zip(agg["model_title"], agg["model"]):
        if isinstance(title, str) and isinstance(model, str) and model:
            pairs.setdefault(title, set()).add(model)
    return {title: next(iter(models)) for title, models in pairs.items() if len(models) == 1}


#: Title of the table of throughput intervals (the charts' error bars, as text).
INTERVAL_TITLE = "Throughput 95% CI over runs (samples/s)"
#: What the title adds where a cell is of one run: its interval is its own, over iterations.
ONE_RUN_TITLE = "; a cell of one run: over its iterations"


def interval_title(one_run: bool) -> str:
    """:data:`INTERVAL_TITLE`, saying where a one-run cell's interval comes from."""
    return INTERVAL_TITLE if not one_run else \
        f"{INTERVAL_TITLE.removesuffix(')')}{ONE_RUN_TITLE})"


def interval_table(throughput: Table, runs: pd.DataFrame | None = None) -> Table | None:
    """The throughput table's 95% intervals as text cells (the ones its chart draws; an end
    beyond ``benchstats.OPEN_FACTOR`` x the value shown open), each with its throughput
    cell's marks (an interval over unsteady runs says so as its value does); none when no
    experiment has an interval. ``runs``: each cell's successful runs, the title saying
    where a cell of one run shows its iterations' interval."""
    if throughput.ci is None:
        return None
    low, high = throughput.ci
    shape = low.shape
    ends = [[cell_ends(throughput.data.iat[r, c], low.iat[r, c], high.iat[r, c])
             for c in range(shape[1])] for r in range(shape[0])]
    cells = [[None if e is None else interval_text(e) for e in row] for row in ends]
    if not any(cell is not None for row in cells for cell in row):
        return None
    one_run = runs is not None and any(
        cells[r][c] is not None and runs.iat[r, c] == 1
        for r in range(shape[0]) for c in range(shape[1]))
    data = pd.DataFrame(cells, index=low.index, columns=low.columns, dtype=object)
    marks = pd.DataFrame([[throughput.mark(r, c) if cells[r][c] is not None else ""
                           for c in range(shape[1])] for r in range(shape[0])],
                         index=low.index, columns=low.columns, dtype=object)
    return Table("throughput_ci", interval_title(one_run), data, marks, intervals=True)


def _figure_tables(agg: pd.DataFrame, rows: list[str], cols: list[str], added: list[str],
                   identity: Sequence[str]) -> tuple[list[Table], list[str]]:
    """Tokens/s by the report's layout, then efficiency and latency by experiment (rows,
    the dimensions added to them, columns), and their notes; only what the runs logged."""
    tokens = tokens_pivot(agg, rows, cols, identity)
    tables = ([tokens] if tokens is not None else []) + group_tables(agg, [*rows, *added, *cols])
    return tables, figure_notes((t.name for t in tables),
                                [str(c) for t in tables for c in t.data.columns],
                                device_kinds(agg))


def _value_column(agg: pd.DataFrame, frame_value: str) -> str:
    if frame_value in agg.columns and frame_value not in ("time", "throughput", *FIGURE_KEYS):
        return frame_value
    return f"{frame_value}_mean"


def _add_mean(agg: pd.DataFrame, records: Sequence[Mapping[str, Any]], value: str,
              identity: Sequence[str]) -> pd.DataFrame:
    """Add ``<value>_mean`` (mean over successful runs) for a log key not aggregated yet."""
    keys = [k for k in identity_keys(records)]
    frame = to_frame(records, extra=[value], identity=keys)
    ok = frame[frame["status"] == "ok"]
    mean = pd.to_numeric(ok[value], errors="coerce").groupby(ok["identity"]).mean()
    return agg.join(mean.rename(f"{value}_mean"))


def pivot_report(records: Sequence[Mapping[str, Any]], rows: Sequence[str], cols: Sequence[str],
                 value: str, threshold: float = NOISE_THRESHOLD) -> Report:
    """Any pivot: ``value`` (mean over runs) by ``rows`` x ``cols``."""
    rows, cols, value = [column_of(r) for r in rows], [column_of(c) for c in cols], column_of(value)
    agg, identity = prepare(records, extra=[*rows, *cols], threshold=threshold)
    column = _value_column(agg, value)
    if column not in agg.columns:
        agg = _add_mean(agg, records, value, identity)
    data, marks, added = pivot(agg, rows, cols, column, identity)
    title = VALUE_TITLES.get(value, value)
    # a mean of time or throughput is the one estimator's value: history's digits
    table = Table(value, title, data, marks, exact=column in ("time_mean", "throughput_mean"))
    heading = f"{title} by {' x '.join(map(label_of, rows))} / {' x '.join(map(label_of, cols))}"
    return left_out_notes(Report("pivot", heading, [table], _notes(added, [table], threshold)
                                 + identity_notes(agg)), agg)
