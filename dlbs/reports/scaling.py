"""Speedup and efficiency tables of the weak/strong reports, and what makes them suspect.

Speedup and efficiency are computed against each row's fewest-devices successful cell. An
efficiency above 100% is marked ``^`` and explained by the differences the logs show between
the cells of that row (threads per replica, replica batch, CPU, devices, host): more than
linear scaling is nearly always a comparison of unlike runs, e.g. one replica with 2 threads
against two replicas with 1 thread each. A report over a single device count has nothing to
scale: it says so instead of printing tables of 1.00. Pure: tables and aggregates in.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dlbs.reports.frame import is_number
from dlbs.reports.model import MARK_SUPERLINEAR, Table

#: Descriptive log keys (or columns) that may explain more-than-linear scaling -> their name.
SCALING_FACTS: dict[str, str] = {
    "exp.num_threads": "threads per replica",
    "hw.num_threads": "torch threads",
    "replica_batch": "replica batch",
    "dtype": "precision",
    "hw.cpu_model": "CPU",
    "hw.devices": "devices",
    "hw.hostname": "host",
}


def _scaled(row: pd.Series) -> tuple[dict[Any, Any], dict[Any, Any]]:
    numeric = {col: v for col, v in row.items() if is_number(v) and v > 0}
    base = min(numeric) if numeric else None
    speedup, efficiency = {}, {}
    for col, value in row.items():
        if base is None or not is_number(value):
            speedup[col] = efficiency[col] = value
            continue
        speedup[col] = float(value) / numeric[base]
        efficiency[col] = 100.0 * speedup[col] * base / col
    return speedup, efficiency


def scaling(throughput: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Speedup and efficiency (%) of each row against its fewest-devices successful cell."""
    pairs = [_scaled(row) for _, row in throughput.iterrows()]
    speedup = pd.DataFrame([p[0] for p in pairs], index=throughput.index,
                           columns=throughput.columns)
    efficiency = pd.DataFrame([p[1] for p in pairs], index=throughput.index,
                              columns=throughput.columns)
    return speedup.astype(object), efficiency.astype(object)


def _superlinear(efficiency: pd.DataFrame) -> pd.DataFrame:
    """``True`` where a cell's efficiency is above 100%."""
    return efficiency.apply(lambda col: col.map(lambda v: is_number(v) and v > 100.0))


def _row_key(agg: pd.DataFrame, dims: Sequence[str], position: int) -> tuple[Any, ...]:
    from dlbs.reports.tables import sortable  # the pivot's own rendering of dimension values

    return tuple(sortable(agg[d]).iloc[position] for d in dims)


def _causes(agg: pd.DataFrame, dims: Sequence[str], key: tuple[Any, ...], devices: str) -> str:
    """The facts that differ between the cells of one row, with their values per device count."""
    rows = [i for i in range(len(agg)) if _row_key(agg, dims, i) == key]
    part = agg.iloc[rows]
    found = []
    for column, name in SCALING_FACTS.items():
        if column not in part.columns:
            continue
        values = part[[devices, column]].dropna().drop_duplicates()
        if values[column].nunique() > 1:
            per = ", ".join(f"{v} ({d} {'device' if d == 1 else 'devices'})"
                            for d, v in sorted(values.itertuples(index=False), key=str))
            found.append(f"{name} differ: {per}")
    return "; ".join(found)


def _superlinear_notes(flags: pd.DataFrame, agg: pd.DataFrame, dims: Sequence[str],
                       devices: str) -> list[str]:
    notes = []
    for key, flagged in flags.iterrows():
        if not flagged.any():
            continue
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(str(k) for k in key)
        cause = _causes(agg, dims, key, devices)
        notes.append(f"efficiency above 100% (^) for {label}: "
                     + (f"likely cause: {cause}" if cause else
                        "no difference in threads, batch, precision, CPU, devices or host is "
                        "seen in the logs; check the noise marks and repeat the runs"))
    return notes


def scaling_tables(throughput: Table, agg: pd.DataFrame, dims: Sequence[str],
                   cols: Sequence[str]) -> tuple[list[Table], list[str]]:
    """Speedup and efficiency tables (or none: one device count) and their notes."""
    counts = [c for c in throughput.data.columns if not pd.isna(c)]
    if len(counts) < 2:
        shown = ", ".join(str(c) for c in counts) or "no"
        note = (f"nothing to scale: every experiment ran on the same number of devices "
                f"({shown}); run at least two device counts (e.g. -Vexp.cpu_replicas="
                f"'[1, 2]' or -Vexp.gpus='[\"0\", \"0,1\"]') for speedup and efficiency")
        return [], [note]
    speedup, efficiency = scaling(throughput.data)
    flags = _superlinear(efficiency)
    base_marks = throughput.marks if throughput.marks is not None else \
        pd.DataFrame("", index=efficiency.index, columns=efficiency.columns)
    marks = base_marks.astype(str) + flags.map(lambda f: MARK_SUPERLINEAR if f else "")
    tables = [Table("speedup", "Speedup (x, vs fewest devices)", speedup, throughput.marks),
              Table("efficiency", "Efficiency (%)", efficiency, marks, digits=1)]
    devices = cols[0]
    notes = _superlinear_notes(flags, agg, dims, devices)
    return tables, notes

