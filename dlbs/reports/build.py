"""The one entry to the report builders: records and a report kind in, a ``Report`` out.

Checks the user-given columns first, so an unknown ``--rows`` name is a one-line error.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dlbs.engine.names import did_you_mean
from dlbs.errors import ReportError
from dlbs.reports.aggregate import NOISE_THRESHOLD
from dlbs.reports.compare import compare_by_report, compare_report, split_by
from dlbs.reports.frame import check_columns, column_of
from dlbs.reports.model import Report
from dlbs.reports.serving import is_serving, serving_report
from dlbs.reports.summary import summary_report
from dlbs.reports.tables import pivot_report, standard_report
from dlbs.reports.verdicts import CORRECTION_NAMES, MIN_CHANGE, Policy

KINDS: tuple[str, ...] = ("regular", "weak", "strong", "summary", "serve")
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
    if kind == "serve" or (kind == "regular" and all(map(is_serving, records))):
        served = [r for r in records if is_serving(r)]
        if not served:
            raise ReportError("--type serve: no serving run (exp.phase=serve) among the records")
        return serving_report(served)
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


def check_policy(policy: Policy) -> None:
    """Raise ``ReportError`` for a comparison option out of range."""
    if not 0.0 <= policy.min_change < 1.0:
        raise ReportError(f"--min_change {policy.min_change} must be >= 0 and < 1 (e.g. 0.02 "
                          "for 2%)")
    if not 0.0 < policy.alpha < 1.0:
        raise ReportError(f"--alpha {policy.alpha} must be > 0 and < 1 (e.g. 0.05)")
    if policy.correction not in CORRECTION_NAMES:
        raise ReportError(f"--correction {policy.correction}: choose one of "
                          f"{', '.join(CORRECTION_NAMES)}")
    if policy.session_cv is not None and not 0.0 <= policy.session_cv < 1.0:
        raise ReportError(f"--session_cv {policy.session_cv} must be >= 0 and < 1 (e.g. 0.02 "
                          "for 2%)")


def compare_records(base: Records, new: Records, threshold: float = NOISE_THRESHOLD,
                    min_change: float = MIN_CHANGE, policy: Policy | None = None) -> Report:
    """The comparison of ``new`` against ``base``, measured in separate sessions (verdicts
    judged together under ``policy``; by default ``min_change`` and the defaults)."""
    policy = policy or Policy(min_change=min_change)
    check_policy(policy)
    if not base or not new:
        raise ReportError("--compare needs benchmark records on both sides")
    return compare_report(base, new, threshold, policy=policy)


def compare_by_records(records: Records, param: str, base: str, new: str,
                       threshold: float = NOISE_THRESHOLD, policy: Policy | None = None
                       ) -> Report:
    """``--compare-by PARAM BASE NEW``: two values of one parameter in one session."""
    policy = policy or Policy(apart=False)
    check_policy(policy)
    sides = split_by(records, param, base, new)
    for value, side in zip((base, new), sides):
        if not side:
            seen = sorted({str(r[param]) for r in records if param in r})
            hint = "" if seen else did_you_mean(param, {k for r in records for k in r})
            raise ReportError(f"--compare-by {param}: no record has {param} = {value} (values "
                              f"in the logs: {', '.join(seen) or 'none, the key is missing'})"
                              f"{hint}")
    return compare_by_report(records, param, base, new, threshold, policy)
