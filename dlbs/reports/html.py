"""Render a ``Report`` as one self-contained HTML page (Jinja2), charts embedded as base64 PNG.

The page needs nothing else: styles are inline and images are ``data:`` URIs. Failed cells,
noisy, unsteady and above-100%-efficiency values and comparison verdicts get their own CSS
class. Pure: a report and its charts
in, a string out; Jinja2 autoescaping keeps log values from becoming markup.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import jinja2

from dlbs.reports.differences import difference_lines
from dlbs.reports.model import (
    MARK_ABOVE_CORES,
    MARK_BUSY,
    MARK_NOISY,
    MARK_NOT_FINITE,
    MARK_NOT_JUDGED,
    MARK_NUMERICS_OFF,
    MARK_SUPERLINEAR,
    MARK_UNSTEADY,
    Report,
    Table,
    format_cell,
    is_missing,
)
from dlbs.reports.plots import Chart
from dlbs.reports.provenance import provenance_lines
from dlbs.reports.render import (
    DIFFERENCES_HEADING,
    column_names,
    columns_title,
    level_names,
    row_keys,
)

#: CSS class of text cells; any other text is the status of a failed experiment ("status").
TEXT_CLASSES: dict[str, str] = {
    "faster": "faster", "slower": "slower", "inconclusive": "same",
    "not enough data": "same", "only in base": "same", "only in new": "same",
    "ok": "text", "runs": "text", "iterations": "text"}


#: CSS class of a number by its marks (noisy, no steady state, efficiency above 100%, busy
#: machine, ranks above cores: those two have no style of their own yet, their ``#`` and
#: ``>`` marks are in the text).
MARK_CLASSES: dict[str, str] = {MARK_NOISY: "noisy", MARK_UNSTEADY: "unsteady",
                                MARK_SUPERLINEAR: "superlinear", MARK_BUSY: "busy",
                                MARK_ABOVE_CORES: "above-cores",
                                MARK_NOT_JUDGED: "not-judged",
                                MARK_NOT_FINITE: "not-finite",
                                MARK_NUMERICS_OFF: "numerics-off"}


def _css(value: Any, mark: str, interval: bool = False) -> str:
    """The CSS classes of a cell; ``interval``: a text cell is an interval of numbers."""
    if is_missing(value):
        return "missing"
    if isinstance(value, str) and not interval:
        return TEXT_CLASSES.get(value, "status")
    return " ".join(["num", *(css for m, css in MARK_CLASSES.items() if m in mark)])


def _table_view(table: Table) -> dict[str, Any]:
    rows = []
    for r, key in enumerate(row_keys(table.data.index)):
        cells = []
        for c, value in enumerate(table.data.iloc[r].tolist()):
            mark = table.mark(r, c)
            cells.append({"text": format_cell(value, table.digits_of(c), mark),
                          "css": _css(value, mark, table.intervals)})
        rows.append({"key": [str(k) for k in key], "cells": cells})
    columns = column_names(table)
    return {"title": table.title, "index": level_names(table.data.index),
            "columns_name": columns_title(table), "columns": columns, "rows": rows}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("dlbs.reports", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def to_html(report: Report, charts: Sequence[Chart] = ()) -> str:
    """The report as one HTML page, with ``charts`` embedded."""
    template = _environment().get_template("report.html.j2")
    images = [{"title": c.title, "data": base64.b64encode(c.png).decode("ascii")}
              for c in charts]
    return template.render(title=report.title, tables=[_table_view(t) for t in report.tables],
                           notes=report.notes, charts=images,
                           differences=difference_lines(report.differences),
                           differences_heading=DIFFERENCES_HEADING,
                           provenance=provenance_lines(report.provenance or {}))
