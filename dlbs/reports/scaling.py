"""Speedup and efficiency tables of the weak/strong reports, and what makes them suspect.

Speedup and efficiency are computed against each row's fewest-devices successful cell. An
efficiency whose 95% interval over runs (ratio of mean throughputs, Welch on the log scale) lies
wholly above 100% is marked ``^`` and explained by the differences the logs show between
the cells of that row (threads per replica, replica batch, CPU, devices, host): more than
linear scaling is nearly always a comparison of unlike runs, e.g. one replica with 2 threads
against two replicas with 1 thread each. A row with results on one device count only (one
count run, or the others failed) has nothing to scale: it is left out of the speedup and
efficiency tables, and a report where no row has two says so instead of printing tables of 1.00. Pure: tables and aggregates in.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from benchstats import ratio_of_means

from dlbs.reports.frame import is_number
from dlbs.reports.model import MARK_SUPERLINEAR, Table, is_missing
from dlbs.reports.pivot import sortable

#: What may explain more-than-linear scaling -> the log keys (or columns) that tell it, the
#: first one an experiment has wins (``hw.num_threads``: logs older than ``exp.num_threads``;
#: ``exp.dtype_used``: the precision actually run, which may differ from the one asked for).
SCALING_FACTS: dict[str, tuple[str, ...]] = {
    "threads per replica": ("exp.num_threads", "hw.num_threads"),
    "replica batch": ("replica_batch",),
    "precision": ("exp.dtype_used", "dtype"),
    "CPU": ("hw.cpu_model",),
    "devices": ("hw.devices",),
    "host": ("hw.hostname",),
}
#: Every log key ``SCALING_FACTS`` reads (the columns a scaling report needs besides its own).
SCALING_KEYS: tuple[str, ...] = tuple(k for keys in SCALING_FACTS.values() for k in keys)
#: Per cell of the throughput table: the standard deviation over runs and the successful runs.
Spread = tuple[pd.DataFrame, pd.DataFrame]


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
    """``True`` where a cell's efficiency is above 100% (its point value)."""
    return efficiency.apply(lambda col: col.map(lambda v: is_number(v) and v > 100.0))


def _cell_interval(row: int, col: Any, data: pd.DataFrame, spread: Spread
                   ) -> tuple[float | None, float | None]:
    """The 95% interval of one cell's efficiency (%): the ratio of its mean throughput to the
    row's fewest-devices cell's, over runs (``benchstats.ratio_of_means``), times base / col."""
    values = data.iloc[row]
    numeric = [c for c, v in values.items() if is_number(v) and v > 0]
    if not numeric or not is_number(values[col]):
        return None, None
    base = min(numeric)
    if col == base:  # 100% by definition: no interval
        return None, None
    std, count = spread

    def stats(c: Any) -> tuple[float, float, int]:
        n, sd = count.iloc[row][c], std.iloc[row][c]
        return (float(values[c]), float(sd) if is_number(sd) else float("nan"),
                int(n) if is_number(n) else 0)

    ratio = ratio_of_means(*stats(col), *stats(base))
    if pd.isna(ratio.ci_low):
        return None, None
    return 100.0 * ratio.ci_low * base / col, 100.0 * ratio.ci_high * base / col


def efficiency_interval(data: pd.DataFrame, spread: Spread
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 95% interval of every efficiency cell (``None`` below two runs on either side)."""
    pairs = [[_cell_interval(r, c, data, spread) for c in data.columns] for r in range(len(data))]
    low = pd.DataFrame([[p[0] for p in row] for row in pairs], index=data.index,
                       columns=data.columns, dtype=object)
    high = pd.DataFrame([[p[1] for p in row] for row in pairs], index=data.index,
                        columns=data.columns, dtype=object)
    return low, high


def _established(low: pd.DataFrame) -> pd.DataFrame:
    """``True`` where the whole interval of the efficiency is above 100%."""
    return low.apply(lambda col: col.map(lambda v: is_number(v) and v > 100.0))


def _row_keys(agg: pd.DataFrame, dims: Sequence[str]) -> list[tuple[Any, ...]]:
    """Each experiment's row key, as the pivot renders dimension values (computed once)."""
    columns = [sortable(agg[d]).tolist() for d in dims]
    return list(zip(*columns)) if columns else [() for _ in range(len(agg))]


def _fact(part: pd.DataFrame, keys: Sequence[str]) -> pd.Series | None:
    """One fact per experiment: the first of ``keys`` it has (``None`` when no key is there)."""
    present = [k for k in keys if k in part.columns]
    if not present:
        return None
    values = part[present[0]].astype(object)
    for key in present[1:]:
        values = values.where(values.notna(), part[key])
    return values.map(_shown)


def _shown(value: Any) -> Any:
    """A fact as shown in a note: a device list (JSON text in the frame) as its distinct names."""
    if isinstance(value, str) and value.startswith("["):
        try:
            names = json.loads(value)
        except ValueError:
            return value
        if isinstance(names, list):
            return ", ".join(dict.fromkeys(str(n) for n in names))
    return None if is_missing(value) else value


def _causes(agg: pd.DataFrame, row_keys: Sequence[tuple[Any, ...]], key: tuple[Any, ...],
            devices: str) -> str:
    """The facts that differ between the cells of one row, with their values per device count."""
    part = agg.iloc[[i for i, k in enumerate(row_keys) if k == key]]
    found, seen = [], set()
    for name, keys in SCALING_FACTS.items():
        values = _fact(part, keys)
        if values is None:
            continue
        pairs = pd.DataFrame({"devices": part[devices], "value": values}).dropna()
        pairs = pairs.drop_duplicates()
        if pairs["value"].nunique() > 1:
            per = ", ".join(f"{v} ({d} {'device' if d == 1 else 'devices'})"
                            for d, v in sorted(pairs.itertuples(index=False),
                                               key=lambda pair: (pair[0], str(pair[1]))))
            if per not in seen:  # a CPU run's device names are its CPU model: said once
                found.append(f"{name} differ: {per}")
                seen.add(per)
    return "; ".join(found)


def _superlinear_notes(flags: pd.DataFrame, agg: pd.DataFrame, dims: Sequence[str],
                       devices: str) -> list[str]:
    notes = []
    row_keys = _row_keys(agg, dims) if flags.to_numpy().any() else []
    for key, flagged in flags.iterrows():
        if not flagged.any():
            continue
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(str(k) for k in key)
        cause = _causes(agg, row_keys, key, devices)
        notes.append(f"efficiency above 100% (^) for {label}: "
                     + (f"likely cause: {cause}" if cause else
                        "no difference in threads, batch, precision, CPU, devices or host is "
                        "seen in the logs; check the noise marks and repeat the runs"))
    return notes


def _count(row: pd.Series, ok: bool) -> int:
    """The device counts of a row with an experiment (any status), or with a result."""
    return sum(is_number(v) if ok else not is_missing(v) for v in row)


def _scalable(data: pd.DataFrame) -> pd.Series:
    """``True`` for the rows with a result at two device counts or more: a row that succeeded
    on one count (the others failed or were not run) has nothing to scale."""
    return data.apply(lambda row: _count(row, ok=True) >= 2, axis=1)


def _nothing_to_scale(data: pd.DataFrame) -> str:
    """Why no row has anything to scale: one device count run at all, one per row, or too few
    that succeeded."""
    counts = [c for c in data.columns if not pd.isna(c)]
    shown = ", ".join(str(c) for c in counts) or "no"
    if len(counts) < 2:
        where = f"every experiment ran on the same number of devices ({shown})"
    elif (data.apply(lambda row: _count(row, ok=False), axis=1) < 2).all():
        where = f"each row ran on one number of devices ({shown} across rows)"
    else:
        where = "no row succeeded on two numbers of devices (see the failed cells above)"
    return (f"nothing to scale: {where}; run at least two device counts (e.g. "
            f"-Vexp.cpu_replicas='[1, 2]' or -Vexp.gpus='[\"0\", \"0,1\"]') for speedup and "
            f"efficiency")


def _row_labels(index: pd.Index) -> str:
    return ", ".join(" / ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in index)


def scaling_tables(throughput: Table, agg: pd.DataFrame, dims: Sequence[str],
                   cols: Sequence[str], spread: Spread | None = None
                   ) -> tuple[list[Table], list[str]]:
    """Speedup and efficiency tables of the rows run on two device counts or more (none when
    no row was: a note says there is nothing to scale), and their notes."""
    scalable = _scalable(throughput.data)
    if not scalable.any():
        return [], [_nothing_to_scale(throughput.data)]
    data = throughput.data[scalable]
    base_marks = (throughput.marks[scalable] if throughput.marks is not None else
                  pd.DataFrame("", index=data.index, columns=data.columns))
    speedup, efficiency = scaling(data)
    if spread is None:  # no run-level spread: no interval, so nothing is established
        spread = (data.map(lambda _: float("nan")), data.map(lambda _: 1))
    ci = efficiency_interval(data, (spread[0][scalable], spread[1][scalable]))
    above = _superlinear(efficiency)
    flags = _established(ci[0])
    marks = base_marks.astype(str) + flags.map(lambda f: MARK_SUPERLINEAR if f else "")
    tables = [Table("speedup", "Speedup (x, vs fewest devices)", speedup, base_marks),
              Table("efficiency", "Efficiency (%)", efficiency, marks, digits=1, ci=ci)]
    notes = _superlinear_notes(flags, agg, dims, cols[0])
    unproven = above & ~flags
    if unproven.to_numpy().any():
        notes.append("efficiency above 100% but not established (its 95% interval over runs "
                     "reaches 100%, or fewer than 2 runs a cell) for "
                     + _row_labels(unproven.index[unproven.any(axis=1)])
                     + ": not marked ^; repeat the runs (exp.repeat >= 3)")
    if not scalable.all():
        notes.append("speedup and efficiency leave out the rows with results on fewer than "
                     "two numbers of devices: " + _row_labels(throughput.data.index[~scalable]))
    return tables, notes
