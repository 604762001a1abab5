"""The ``summary`` report: one row per experiment with the statistics of its repeated runs.

Runs, successful runs, those that reached a steady state (``-`` when the logs do not say),
status; for batch time (ms) and throughput (samples/s) the value and its 95% interval by the
one estimator (``benchstats.estimate``: the geometric mean over runs; its "mean" columns),
the median and the standard deviation; the coefficient of variation and
whether it marks the experiment noisy. Where runs logged them, more tables follow: tokens/s
statistics (token models), efficiency (FLOPs, MFU, memory, energy) and generation latency.
Pure: records in, ``Report`` out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from benchstats import ESTIMATOR_LEGEND, OPEN_LEGEND

from dlbs.reports.aggregate import BUSY_THRESHOLD, NOISE_THRESHOLD
from dlbs.reports.figure_tables import (
    device_kinds,
    experiment_table,
    figure_notes,
    group_tables,
    present,
)
from dlbs.reports.figures import TOKENS
from dlbs.reports.frame import label_of
from dlbs.reports.model import OPEN_CELL, Report, Table, cell_ends, is_missing, legend
from dlbs.reports.pivot import cell_marks, extra_dims, sortable
from dlbs.reports.tables import identity_notes, left_out_notes, prepare

ROWS: list[str] = ["model_title", "device", "replica_batch", "effective_batch", "phase", "dtype"]
#: aggregate column -> heading.
COLUMNS: dict[str, str] = {
    "runs": "Runs", "runs_ok": "OK", "runs_steady": "Steady", "status": "Status",
    "time_mean": "Time mean (ms)", "time_median": "Time median (ms)", "time_std": "Time std (ms)",
    "time_ci_low": "Time CI95 low", "time_ci_high": "Time CI95 high",
    "throughput_mean": "Throughput mean (samples/s)", "throughput_median": "Throughput median",
    "throughput_std": "Throughput std", "throughput_ci_low": "Throughput CI95 low",
    "throughput_ci_high": "Throughput CI95 high", "cv": "CV (%)", "noisy": "Noisy",
}
#: The cells that carry their experiment's marks: the means and their intervals.
MARKED: tuple[str, ...] = ("time_mean", "time_ci_low", "time_ci_high", "throughput_mean",
                           "throughput_ci_low", "throughput_ci_high")
#: CSV leaves marks out of its cells: the experiment's marks follow them in a column of their
#: own (as a comparison's ``Base marks``), the reason an interval cell is to be read with care.
CSV_MARKS: dict[str, str] = {COLUMNS["throughput_mean"]: "Marks"}
#: What the columns beside the means are: the runs' own spread, not the geometric mean's.
STATS_LEGEND = ("Time mean (ms), Throughput mean: the geometric mean of the runs' values; "
                "Time median (ms), Throughput median: the runs' median; Time std (ms), "
                "Throughput std: the runs' arithmetic standard deviation (n - 1, about their "
                "arithmetic mean, not about the geometric mean shown), none for one run")
#: Statistics of tokens/s (token models) -> heading, in the table ``tokens``.
TOKEN_STATS: dict[str, str] = {
    "mean": "Tokens/s mean", "median": "Tokens/s median", "std": "Tokens/s std",
    "ci_low": "Tokens/s CI95 low", "ci_high": "Tokens/s CI95 high"}


def _stats_cells(agg: pd.DataFrame) -> pd.DataFrame:
    cells = agg[list(COLUMNS)].astype(object)
    cells["cv"] = agg["cv"] * 100.0
    cells["runs"] = agg["runs"].astype(int)
    cells["runs_steady"] = pd.Series([None if pd.isna(n) else int(n) for n in agg["runs_steady"]],
                                     index=agg.index, dtype=object)
    return _open_ends(cells.where(agg[list(COLUMNS)].notna(), None))


def _open_ends(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with each interval's end beyond ``benchstats.OPEN_FACTOR`` x its mean as
    :data:`OPEN_CELL` (the rule of every output): a one-run interval's inverted time bound
    printed 829.19 samples/s beside a value of 6.64."""
    for metric in ("time", "throughput"):
        columns = [f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high"]
        for label, (value, low, high) in zip(cells.index, cells[columns].to_numpy().tolist()):
            ends = cell_ends(value, low, high)
            for column, end in zip(columns[1:], ends or ()):
                if end is None:
                    cells.at[label, column] = OPEN_CELL
    return cells


def _marks(agg: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Each experiment's marks (``cell_marks``: noisy, failed repeats, no steady state, busy
    machine) on its mean and interval cells (``MARKED``), as the regular report marks its
    values and intervals; none on an empty cell."""
    marks = pd.DataFrame("", index=data.index, columns=data.columns, dtype=object)
    found = cell_marks(agg).to_numpy()
    for column in MARKED:
        heading = COLUMNS[column]
        marks[heading] = [m if v is not None else "" for m, v in zip(found, data[heading])]
    return marks


def summary_report(records: Sequence[Mapping[str, Any]],
                   threshold: float = NOISE_THRESHOLD) -> Report:
    """Statistics of every experiment's repeated runs."""
    agg, identity = prepare(records, threshold=threshold)
    dims = [*ROWS, *extra_dims(agg, ROWS, [], identity)]
    cells = _stats_cells(agg)
    index = pd.MultiIndex.from_frame(pd.DataFrame({label_of(d): sortable(agg[d]) for d in dims}))
    data = pd.DataFrame(cells.to_numpy(), index=index, columns=list(COLUMNS.values()))
    marks = _marks(agg, data).sort_index(kind="stable")  # as data
    data = data.sort_index(kind="stable")
    table = Table("experiments", "Experiments (statistics over repeated runs)", data, marks,
                  csv_marks=CSV_MARKS, exact=tuple(COLUMNS[c] for c in MARKED))
    notes = legend([table]) + [(f"mean and CI95 of time and throughput: {ESTIMATOR_LEGEND}; "
              f"{STATS_LEGEND}; "
              f"noisy: CV > {threshold:.0%} (over runs; over iterations for a single run)"),
             "Steady: successful runs that reached a steady state (results.steady_state)"]
    notes += [OPEN_LEGEND] if (data.to_numpy() == OPEN_CELL).any() else []
    notes += _busy_note(agg, dims)
    figures = _figure_tables(agg, dims)
    return left_out_notes(Report("summary", "Summary of experiments", [table, *figures],
                                 notes + figure_notes((t.name for t in figures),
                                              [str(c) for t in figures for c in t.data.columns],
                                              device_kinds(agg))
                                 + identity_notes(agg)), agg)


def _busy_note(agg: pd.DataFrame, dims: list[str]) -> list[str]:
    """The experiments with a run on a busy machine (none: no note)."""
    busy = agg[agg["busy"]]
    if busy.empty:
        return []
    names = ["/".join(str(v) for v in row if not is_missing(v))
             for row in busy[dims].itertuples(index=False)]
    return [f"busy machine (other processes above {BUSY_THRESHOLD:.0%} of a run's CPUs during "
            f"its timed window, results.other_cpu_share) in {len(busy)} experiment(s): "
            + "; ".join(f"{n} ({int(r)} of {int(k)} runs)" for n, r, k in
                        zip(names, busy["runs_busy"], busy["runs_ok"]))]


def _figure_tables(agg: pd.DataFrame, dims: list[str]) -> list[Table]:
    """Tokens/s statistics, efficiency and latency of the experiments, where logged."""
    tables = []
    if present(agg, TOKENS):
        columns = [(f"{TOKENS}_{stat}", heading, 1.0, 2) for stat, heading in TOKEN_STATS.items()]
        tokens = experiment_table(agg, dims, "tokens", "Throughput in tokens (statistics over "
                                  "repeated runs)", columns)
        tables += [tokens] if tokens is not None else []
    return tables + group_tables(agg, dims)
