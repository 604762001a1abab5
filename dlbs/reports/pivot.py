"""Pivot aggregated experiments into a table: cells and marks of a value by rows x columns.

Responsibility: the one pivot every report table is made with. When experiments that differ in
another input parameter (phase, precision...) would share a cell, that parameter is added to
the rows (:func:`extra_dims`), so no cell ever mixes two experiments; a failed experiment's
cell holds its status, never 0. Dimensions stay numeric where they are (:func:`sortable`).
Pure: frame in, frames out; it imports no other table module (they all import it).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dlbs.params import catalogue
from dlbs.reports.frame import SOURCE, column_of, is_number, label_of
from dlbs.reports.model import (
    MARK_ABOVE_CORES,
    MARK_BUSY,
    MARK_NOISY,
    MARK_NOT_FINITE,
    MARK_NOT_JUDGED,
    MARK_NUMERICS_OFF,
    MARK_PARTIAL,
    MARK_UNSTEADY,
    is_missing,
)

#: Logged facts that are no parameter and shape an experiment's size.
LOGGED_LAYOUT = ("exp.world_size", "exp.num_threads")
#: Identity columns that shape an experiment's size; they vary along a row by design (the
#: processes and, unless given, each replica's threads follow the number of replicas): each
#: parameter's ``roles.layout`` in config/*.json (its frame column), :data:`LOGGED_LAYOUT`,
#: and the records' source.
LAYOUT_COLUMNS: frozenset[str] = frozenset({
    *(column_of(name) for name in catalogue.layout()), *LOGGED_LAYOUT, SOURCE})


def _varies(agg: pd.DataFrame, by: list[str], column: str) -> bool:
    if not by:
        return bool(agg[column].nunique(dropna=False) > 1)
    return bool(agg.groupby(by, dropna=False)[column].nunique(dropna=False).max() > 1)


def extra_dims(agg: pd.DataFrame, rows: Sequence[str], cols: Sequence[str],
               identity: Sequence[str]) -> list[str]:
    """Identity columns to add to ``rows``: a setting (phase, precision...) that varies along a
    row, or a layout column (batch, devices) that would put two experiments in one cell once
    the settings split the rows. Settings are judged first: a layout column that follows from
    a setting (fsdp_tp's effective batch is its groups', fsdp's its ranks') adds no row, or a
    weak-scaling row would hold one device count (its effective batch grows with them)."""
    dims = [*rows]
    candidates = [c for c in identity
                  if c not in dims and c not in cols and agg[c].nunique(dropna=False) > 1]
    # a setting is judged against the rows asked for, not the columns added before it: two
    # that vary together (bfloat16 with channels_last) are both shown
    dims += [c for c in candidates if c not in LAYOUT_COLUMNS and _varies(agg, list(rows), c)]
    for column in (c for c in candidates if c in LAYOUT_COLUMNS):
        if _varies(agg, [*dims, *cols], column):
            dims.append(column)
    added = set(dims[len(rows):])
    return [c for c in identity if c in added]


#: A dimension's value where its runs logged the "off" value or nothing (``OFF_VALUES``):
#: a run without exp.parallelism, or with its default, ran (or planned) DDP.
SHOWN_WHEN_OFF: dict[str, str] = {"exp.parallelism": "ddp", "exp.optimizer": "sgd"}


def sortable(series: pd.Series) -> pd.Series:
    """Keep a numeric dimension numeric (sorted 8 < 16); anything else as text, '-' if empty
    (``SHOWN_WHEN_OFF`` where the dimension says what empty means)."""
    if series.name in SHOWN_WHEN_OFF:
        series = series.where(series.notna(), SHOWN_WHEN_OFF[str(series.name)])
    if series.map(is_number).all():
        return series
    return series.map(_dimension_text)


def _dimension_text(value: Any) -> str:
    """A dimension's value as text; an integral float is an int that an empty cell turned
    into a float (16.0 -> '16')."""
    if is_missing(value):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_marks(agg: pd.DataFrame) -> pd.Series:
    """Each experiment's marks (``*`` noisy, ``!`` failed repeats, ``~`` no steady state,
    ``#`` busy machine, ``=`` machine state not judged, ``>`` ranks above cores, ``x`` numerics not finite, ``?`` numerics off the reference, in that
    order); '' for a failed one. The
    regular, scaling and pivot tables and both sides of a comparison show these."""
    ok = agg["status"] == "ok"
    never = pd.Series(False, index=agg.index)
    return (agg["noisy"] & ok).map({True: MARK_NOISY, False: ""}) + \
        agg["partial"].map({True: MARK_PARTIAL, False: ""}) + \
        (agg["unsteady"] & ok).map({True: MARK_UNSTEADY, False: ""}) + \
        (agg.get("busy", never) & ok).map({True: MARK_BUSY, False: ""}) + \
        (agg.get("not_judged", never) & ok).map({True: MARK_NOT_JUDGED, False: ""}) + \
        (agg.get("above_cores", never) & ok).map({True: MARK_ABOVE_CORES, False: ""}) + \
        (agg.get("not_finite", never) & ok).map({True: MARK_NOT_FINITE, False: ""}) + \
        (agg.get("numerics_off", never) & ok).map({True: MARK_NUMERICS_OFF, False: ""})


def _cells(agg: pd.DataFrame, value: str) -> pd.DataFrame:
    ok = agg["status"] == "ok"
    cell = agg[value].astype(object).where(ok, agg["status"])
    return pd.DataFrame({"cell": cell, "mark": cell_marks(agg)})


def _unstack(frame: pd.DataFrame, dims: list[str], cols: list[str], column: str) -> pd.DataFrame:
    wide = frame.set_index([*dims, *cols])[column].unstack(cols)
    wide = wide.astype(object).where(wide.notna(), None)
    wide.index.names = [label_of(d) for d in dims]
    wide.columns.names = [label_of(c) for c in cols]
    return wide


def pivot(agg: pd.DataFrame, rows: list[str], cols: list[str], value: str,
          identity: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Cells and marks of ``value`` by ``rows`` x ``cols``; also the dimensions added to rows."""
    added = extra_dims(agg, rows, cols, identity)
    dims = [*rows, *added]
    cells = _cells(agg, value)
    for column in [*dims, *cols]:
        cells[column] = sortable(agg[column])
    data = _unstack(cells, dims, cols, "cell")
    marks = _unstack(cells, dims, cols, "mark").reindex_like(data).fillna("")
    return data, marks, added
