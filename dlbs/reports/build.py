"""The one entry to the report builders: records and a report kind in, a ``Report`` out.

Checks the user-given columns first, so an unknown ``--rows`` name is a one-line error.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dlbs.errors import ReportError
from dlbs.reports.aggregate import NOISE_THRESHOLD
from dlbs.reports.compare import MIN_CHANGE, compare_report
from dlbs.reports.frame import check_columns, column_of
from dlbs.reports.model import Report
from dlbs.reports.summary import summary_report
from dlbs.reports.tables import pivot_report, standard_report

KINDS: tuple[str, ...] = ("regular", "weak", "strong", "summary")
#: Statistics a pivot can show besides log keys (see ``aggregate``).
STATISTICS: tuple[str, ...] = (
    "runs", "runs_ok", "runs_steady", "cv", "time_median", "time_std", "time_ci_low", "time_ci_high",
    "throughput_median", "throughput_std", "throughput_ci_low", "throughput_ci_high")
Records = Sequence[Mapping[str, Any]]


def build_report(records: Records, kind: str = "regular",
                 pivot: tuple[Sequence[str], Sequence[str], str] | None = None,
                 threshold: float = NOISE_THRESHOLD) -> Report:
    """A ``kind`` report, or the pivot ``(rows, cols, value)`` when given."""
    if not records:
        raise ReportError("no benchmark records to report on (check the inputs and the filter)")
    if pivot is not None:
        rows, cols, value = pivot
        check_columns(rows, records, "--rows")
        check_columns(cols, records, "--cols")
        if value not in STATISTICS:
            check_columns([value], records, "--value")
        _check_distinct(rows, cols)
        return pivot_report(records, rows, cols, value, threshold)
    if kind == "summary":
        return summary_report(records, threshold)
    if kind not in KINDS:
        raise ReportError(f"unknown report type '{kind}'; choose one of {', '.join(KINDS)}")
    return standard_report(records, kind, threshold)


def _check_distinct(rows: Sequence[str], cols: Sequence[str]) -> None:
    """Raise ``ReportError`` when a column is named twice in ``--rows``/``--cols`` (also as
    an alias of itself: ``model`` and ``exp.model``): a pivot cannot use it twice."""
    seen: dict[str, str] = {}
    for option, names in (("--rows", rows), ("--cols", cols)):
        for name in names:
            column = column_of(name)
            if column in seen:
                raise ReportError(f"{option}: column '{name}' is already in {seen[column]}; "
                                  "a column can be used once in --rows and --cols")
            seen[column] = option


def compare_records(base: Records, new: Records, threshold: float = NOISE_THRESHOLD,
                    min_change: float = MIN_CHANGE) -> Report:
    """The comparison of ``new`` against ``base`` (verdicts from ``min_change`` on)."""
    if not base or not new:
        raise ReportError("--compare needs benchmark records on both sides")
    if not 0.0 <= min_change < 1.0:
        raise ReportError(f"--min_change {min_change} must be >= 0 and < 1 (e.g. 0.02 for 2%)")
    return compare_report(base, new, threshold, min_change)
