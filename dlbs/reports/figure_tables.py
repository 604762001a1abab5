"""Tables of the figures besides time and samples/s (``figures``): tokens/s, efficiency, latency.

Each table exists only when a successful run logged one of its figures, and shows only the
figures some run logged, so reports of logs without them are what they were. A cell of an
experiment that logged no such figure is empty (``-``), never another figure (a mixed sweep of
image and token models shows no samples/s under a tokens/s heading); a failed experiment's
cell holds its status. ``tokens`` is a pivot like the throughput table (same rows, columns,
marks and 95% CI); ``resources`` and ``latency`` have one row per experiment, marked ``!``
when some of its repeats failed. Pure: aggregates in, ``Table`` out.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from dlbs.reports.figures import (
    GROUP_NOTES,
    GROUP_TITLES,
    TOKENS,
    Figure,
    of_group,
    resources_note,
)
from dlbs.reports.frame import MAX_BATCH_BOUND, MAX_BATCH_KEY, is_number, label_of
from dlbs.reports.model import MARK_LOWER_BOUND, MARK_PARTIAL, Table
from dlbs.reports.pivot import pivot, sortable


def present(agg: pd.DataFrame, key: str) -> bool:
    """True when an experiment has a mean of ``key`` (a successful run logged it)."""
    column = f"{key}_mean"
    return column in agg.columns and bool(agg[column].notna().any())


def present_figures(agg: pd.DataFrame, figures: Sequence[Figure]) -> list[Figure]:
    """The ``figures`` some successful run logged."""
    return [f for f in figures if present(agg, f.key)]


def tokens_pivot(agg: pd.DataFrame, rows: list[str], cols: list[str],
                 identity: Sequence[str]) -> Table | None:
    """Tokens/s (the one estimator: geometric mean of runs) laid out as the throughput table; ``None`` without any."""
    if not present(agg, TOKENS):
        return None
    data, marks, _ = pivot(agg, rows, cols, f"{TOKENS}_mean", identity)
    ci = (pivot(agg, rows, cols, f"{TOKENS}_ci_low", identity)[0],
          pivot(agg, rows, cols, f"{TOKENS}_ci_high", identity)[0])
    marks = marks.where(data.notna(), "")  # an empty cell has no value to mark
    return Table("tokens", "Throughput (tokens/s)", data, marks, ci=ci, exact=True)


def _key(series: pd.Series) -> pd.Series:
    """A row dimension as the pivots show it; whole numbers as ints (a length of 128 stays
    ``128`` in the rows that have one, where the empty cells of others made it a float)."""
    shown = sortable(series)
    if shown.map(is_number).all() and shown.map(lambda v: float(v).is_integer()).all():
        return shown.astype("int64")
    return shown


def _cell(value: Any, ok: bool, status: Any, scale: float) -> Any:
    if not ok:
        return status
    return None if pd.isna(value) else float(value) * scale


def experiment_table(agg: pd.DataFrame, dims: Sequence[str], name: str, title: str,
                     columns: Sequence[tuple[str, str, float, int]],
                     mask: pd.Series | None = None,
                     column_marks: Mapping[str, pd.Series] | None = None) -> Table | None:
    """One row per experiment (``dims`` as its key): ``columns`` are (aggregate column,
    heading, scale, decimals); ``column_marks``: a heading's own marks by experiment (``agg``'s
    index), added to its numbers; ``None`` when no row is left."""
    part = agg if mask is None else agg[mask]
    if part.empty or not columns:
        return None
    ok = (part["status"] == "ok").tolist()
    status = part["status"].tolist()
    cells = {heading: [_cell(v, o, s, scale) for v, o, s in zip(part[column], ok, status)]
             for column, heading, scale, _ in columns}
    index = pd.MultiIndex.from_frame(pd.DataFrame({label_of(d): _key(part[d]) for d in dims}))
    data = pd.DataFrame(cells, index=index, dtype=object)
    data = data.astype(object).where(data.notna(), None)
    partial = [MARK_PARTIAL if p and o else "" for p, o in zip(part["partial"], ok)]
    marks = pd.DataFrame({h: partial for _, h, _, _ in columns}, index=index)
    for heading, own in (column_marks or {}).items():
        if heading in marks.columns:
            marks[heading] = marks[heading] + own.reindex(part.index).fillna("").to_numpy()
    marks = marks.where(data.notna() & data.map(lambda v: not isinstance(v, str)), "")
    order = pd.Series(range(len(data)), index=index).sort_index(kind="stable").to_numpy()
    return Table(name, title, data.iloc[order], marks.iloc[order],
                 column_digits=tuple(significant_digits(cells[h], d) for _, h, _, d in columns))


#: Significant digits a small figure keeps, and the most decimals given for it.
SIGNIFICANT, MOST_DECIMALS = 3, 6


def significant_digits(values: Sequence[Any], decimals: int) -> int:
    """The decimals of a column: its own (``decimals``), or more where its smallest non-zero
    value is a small figure (under 1) that would show fewer than :data:`SIGNIFICANT` digits
    (``TFLOP/s 0.00`` beside ``MFU 1.4%``: 0.0012 shows as 0.00120), at most
    :data:`MOST_DECIMALS`; a count or a size of 1 or more keeps its own."""
    numbers = [abs(float(v)) for v in values if isinstance(v, (int, float))
               and not isinstance(v, bool) and math.isfinite(v) and v != 0]
    if not numbers or min(numbers) >= 1:
        return decimals
    needed = SIGNIFICANT - 1 - math.floor(math.log10(min(numbers)))
    return max(decimals, min(MOST_DECIMALS, needed))


def figure_columns(figures: Sequence[Figure]) -> list[tuple[str, str, float, int]]:
    """``experiment_table`` columns of figures: their means, headings, scales, decimals."""
    return [(f"{f.key}_mean", f.heading, f.scale, f.digits) for f in figures]


def generation(agg: pd.DataFrame) -> pd.Series:
    """Experiments that generate (``exp.generate`` > 0) or logged a latency figure."""
    mask = pd.Series(False, index=agg.index)
    if "generate" in agg.columns:
        mask |= pd.to_numeric(agg["generate"], errors="coerce").fillna(0) > 0
    for figure in of_group("latency"):
        column = f"{figure.key}_mean"
        if column in agg.columns:
            mask |= agg[column].notna()
    return mask


def group_tables(agg: pd.DataFrame, dims: Sequence[str],
                 groups: Sequence[str] = ("resources", "latency")) -> list[Table]:
    """The per-experiment tables of ``groups`` that have a figure; the latency table also
    names each row's sequence length and decode steps."""
    tables = []
    for group in groups:
        figures = present_figures(agg, of_group(group))
        keys, mask = list(dims), None
        if group == "latency":  # what the latencies are of: prompt length and decode steps
            keys += [d for d in ("seq_len", "generate") if d not in keys]
            mask = generation(agg)
        table = experiment_table(agg, keys, group, GROUP_TITLES[group], figure_columns(figures),
                                 mask, figure_marks(agg, figures))
        if table is not None:
            tables.append(table)
    return tables


def figure_marks(agg: pd.DataFrame, figures: Sequence[Figure]) -> dict[str, pd.Series]:
    """Marks of a figure's own: the max batch found that is not the edge (a lower bound, or
    not probed with the timed run's graph: ``frame.max_batch_bound``)."""
    marks: dict[str, pd.Series] = {}
    for figure in figures:
        if figure.key == MAX_BATCH_KEY and MAX_BATCH_BOUND in agg.columns:
            marks[figure.heading] = agg[MAX_BATCH_BOUND].eq(True).map(
                {True: MARK_LOWER_BOUND, False: ""})
    return marks


def figure_notes(groups: Iterable[str], headings: Iterable[str] | None = None,
                 devices: Iterable[str] | None = None) -> list[str]:
    """What the figures' tables show, for the groups (table names) present; the resources
    note explains only the column ``headings`` given (all when None), for the kinds of
    ``devices`` the runs used (both GPU and CPU when None)."""
    names = set(groups)
    return [resources_note(headings, devices) if group == "resources" else note
            for group, note in GROUP_NOTES.items() if group in names]


def device_kinds(agg: pd.DataFrame) -> list[str]:
    """The kinds of device (``gpu``, ``cpu``) of the aggregated runs, for the legend."""
    return [str(d) for d in agg["device_type"].dropna().unique()] \
        if "device_type" in agg.columns else []
