"""DLBS's summary builder's ``--report_file``: a JSON of batch times, one profile per row.

DLBS's ``summary_builder.py`` writes, besides the tables it prints, ``{"data": [profile...]}``
where a profile is ``{"m": model title, "hw": {...}, "sw": {"rtm": "", "bsz": batch, "btype":
"weak"|"strong"}, "perf": {"data": {"<devices>": batch time in ms}, "estimates": []}}``: one per
row of a weak-scaling report (``bsz`` the per-device batch) or of a strong-scaling one (``bsz``
the effective batch), and one per cell of an exploration report (``bsz`` the effective batch,
``btype`` ``strong`` and the time under ``"1"``, as DLBS writes them). This module builds the
same from a report's batch-time table (means over repeated runs; failed and missing cells are
left out, as DLBS leaves out what it has no time for). Pure: a ``Report`` in, a dict out.
"""
from __future__ import annotations

from typing import Any

from dlbs.errors import ReportError
from dlbs.reports.frame import is_number
from dlbs.reports.model import Report, Table

#: Report kinds DLBS's summary builder has (ours: regular = DLBS's exploration).
BATCH_TYPES: tuple[str, ...] = ("regular", "weak", "strong")


def _profile(model: Any, batch: Any, scaling: str, times: dict[str, float]) -> dict[str, Any]:
    """DLBS's ``default_json_profile`` with its batch times filled in."""
    return {
        "m": str(model),
        "hw": {"name": "", "pu": "", "n": 1, "cluster": {"sz": 1, "interconnect": ""}},
        "sw": {"rtm": "", "bsz": _plain(batch), "btype": scaling},
        "perf": {"data": times, "estimates": []},
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python one (for JSON); whole floats as ints (a batch of 16)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _devices(label: Any) -> int:
    """The number of devices of a row's device label (``2x gpu`` -> 2)."""
    head = str(label).split("x", 1)[0]
    return int(head) if head.isdigit() else 1


def _time_table(report: Report) -> Table:
    for table in report.tables:
        if table.name == "time":
            return table
    raise ReportError(f"a {report.kind} report has no batch-time table for --report_file")


def summary_json(report: Report) -> dict[str, Any]:
    """DLBS's ``--report_file`` JSON of a ``regular``, ``weak`` or ``strong`` report."""
    if report.kind not in BATCH_TYPES:
        raise ReportError(f"--report_file needs a report of type {', '.join(BATCH_TYPES)}, "
                          f"not {report.kind}")
    table = _time_table(report)
    data = table.data
    profiles = []
    for key, row in data.iterrows():
        levels = key if isinstance(key, tuple) else (key,)
        cells = [(column, value) for column, value in row.items()
                 if is_number(value) and value > 0]
        if report.kind == "regular":
            devices = _devices(levels[1]) if len(levels) > 1 else 1
            profiles += [_profile(levels[0], _plain(column) * devices, "strong",
                                  {"1": float(value)}) for column, value in cells]
        elif cells:
            times = {str(_plain(column)): float(value) for column, value in cells}
            profiles.append(_profile(levels[0], levels[2], report.kind, times))
    return {"data": profiles}
