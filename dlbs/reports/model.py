"""The data a report is made of: ``Table``s of cells grouped in a ``Report``.

A cell is a number (the value), a string (the status of a failed experiment, e.g. ``oom``, or a
verdict), or ``None`` (no such experiment). ``marks`` holds, per cell, ``*`` for a noisy value
and ``!`` when some repeats of the experiment failed. Renderers (text, markdown, csv, json,
html) and plots read these; nothing here computes or prints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from benchstats import OPEN_END, shown_ends

from dlbs.logs.fact_types import BUSY_THRESHOLD

#: Cell marks and what they mean (shown under each report).
MARK_NOISY = "*"
MARK_PARTIAL = "!"
MARK_UNSTEADY = "~"
MARK_SUPERLINEAR = "^"
MARK_BUSY = "#"
MARK_NOT_FINITE = "x"
MARK_NUMERICS_OFF = "?"
MARK_LOWER_BOUND = "+"
MARK_ABOVE_CORES = ">"
MARK_NOT_JUDGED = "="
MARK_LEGEND: dict[str, str] = {
    MARK_NOISY: "noisy: coefficient of variation above the threshold",
    MARK_PARTIAL: "some repeated runs failed; value from the successful ones",
    MARK_UNSTEADY: "no steady state found in a run: the warm-up may be in the mean; raise "
                   "exp.num_batches or set exp.target_precision",
    MARK_SUPERLINEAR: "efficiency above 100% (its whole 95% interval over runs): more than "
                      "linear scaling; see the note for the "
                      "likely cause",
    MARK_BUSY: f"busy machine: other processes took more than {BUSY_THRESHOLD:.0%} of the "
               "run's CPUs during its timed window (results.other_cpu_share); measure again on "
               "a quiet machine",
    MARK_NOT_JUDGED: "machine state not judged: a run's timed window was under 1 s, too short "
                     "to measure other processes' CPU share (results.other_cpu_share null; or "
                     "/proc was not readable): a busy machine cannot be ruled out; give more "
                     "iterations (exp.num_batches)",
    MARK_ABOVE_CORES: "ranks above cores: a run's ranks x threads exceeded its node's usable "
                      "cores (exp.ranks_above_cores; exp.warnings gives the numbers): the "
                      "threads took turns, so the figure is not the model's speed; lower "
                      "exp.cpu_threads or the ranks per node",
    MARK_NOT_FINITE: "numerics: a run's training loss or inference outputs were not finite "
                     "(results.loss_finite, results.output_finite, results.numerics): a speed "
                     "of a computation that computes nothing useful",
    MARK_NUMERICS_OFF: "numerics off: a run's output differed from its float32 eager reference "
                       "beyond the tolerance of its precision (--check_numerics: "
                       "results.numerics, results.numerics_error): fast, but not computing "
                       "what the model computes",
    MARK_LOWER_BOUND: "max batch found is not the largest batch that fits: the search stopped "
                      "at --max_batch_limit (results.max_batch_capped) or --max_batch_time "
                      "(results.max_batch_timed_out): a lower bound; with --compile on a GPU "
                      "also when the timed run's own graph was not probed at that batch "
                      "(results.max_batch_confirmed false); the run's warnings say which",
}
#: A cell that holds one end of an interval (a summary's ``Throughput CI95 high``) where that
#: end is open (``benchstats.shown_ends``: beyond ``OPEN_FACTOR`` x its value): a word in every
#: format, never a number.
OPEN_CELL = OPEN_END
#: How a failed cell is shown, by status (any other status is shown as it is).
STATUS_TEXT: dict[str, str] = {"failure": "failed"}


@dataclass
class Table:
    """One table: ``data`` (object cells), optional ``marks`` of the same shape, a title.

    ``name`` is a stable machine name (``time``, ``throughput``, ``speedup``, ``efficiency``,
    ``experiments``, ``comparison``); ``digits`` is the number of decimals shown for floats.
    """

    name: str
    title: str
    data: pd.DataFrame
    marks: pd.DataFrame | None = None
    digits: int = 2
    #: 95% CI (low, high) of each cell over repeated runs, same shape; for error bars.
    ci: tuple[pd.DataFrame, pd.DataFrame] | None = None
    #: Decimals of each column, where they differ by column (MFU %, MiB, ms); else ``digits``.
    column_digits: tuple[int, ...] | None = None
    #: Confidence level of the table's intervals (``ci``, or a comparison's ``CI low``/``CI
    #: high`` columns, adjusted for the cells judged together); charts draw and name these.
    confidence: float = 0.95
    #: Columns whose marks CSV writes as columns of their own, by header (a comparison's
    #: ``Verdict marks``); CSV leaves every other mark out, its cells plain data.
    csv_marks: dict[str, str] = field(default_factory=dict)
    #: Text cells are intervals (``low - high``) of numbers, not the statuses of failed
    #: experiments: shown as numbers, with their marks.
    intervals: bool = False
    #: Cells that are a configuration's value by ``benchstats.estimate`` (every cell: True;
    #: else the columns named): JSON and CSV give them and their intervals' ends at full
    #: precision, the digits ``dlbs history`` gives the same runs (other cells: 6 decimals).
    exact: bool | tuple[Any, ...] = False

    def is_exact(self, col: int) -> bool:
        """True where column ``col``'s numbers are given at full precision (:attr:`exact`)."""
        if isinstance(self.exact, bool):
            return self.exact
        return self.data.columns[col] in self.exact

    def mark(self, row: int, col: int) -> str:
        """The mark of a cell ('' when none)."""
        return "" if self.marks is None else str(self.marks.iat[row, col] or "")

    def digits_of(self, col: int) -> int:
        """Decimals shown for the floats of column ``col``."""
        return self.digits if self.column_digits is None else self.column_digits[col]


@dataclass
class Report:
    """A titled list of tables, with notes shown under them and the kind it was made by."""

    kind: str
    title: str
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    #: Where and how it was measured (``dlbs.reports.provenance``); ``None``: not recorded.
    provenance: dict[str, Any] | None = None
    #: A comparison's parameters that differ between its sides, shown above its tables
    #: (``dlbs.reports.differences``); ``None`` for a report that compares nothing.
    differences: list[dict[str, Any]] | None = None
    #: Lines for stderr, not part of the report: each run left out of every statistic for an
    #: unusable measurement, by its log (the note counts them).
    warnings: list[str] = field(default_factory=list)
    #: Each model's name as a row shows it (``ResNet-18``) -> the ``exp.model`` it was run as
    #: (``resnet18``), where one: what chart files are named by (``throughput_resnet18.png``).
    model_names: dict[str, str] = field(default_factory=dict)


def is_missing(value: Any) -> bool:
    """True for an empty cell (no experiment): ``None`` or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_cell(value: Any, digits: int, mark: str = "") -> str:
    """Text of one cell: a float with ``digits`` decimals, a status, or ``-`` when empty."""
    if is_missing(value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{mark}"
    if isinstance(value, str):
        return STATUS_TEXT.get(value, value) + mark
    return f"{value}{mark}"


def json_cell(value: Any, exact: bool = False) -> Any:
    """A cell as JSON and CSV give it: floats rounded to 6 decimals, or at full precision
    where ``exact`` (a configuration's value by ``benchstats.estimate`` and its interval's
    ends: the digits ``dlbs history`` gives the same runs); NaN as ``null``."""
    if is_missing(value):
        return None
    if isinstance(value, float):
        return value if exact else round(value, 6)
    if hasattr(value, "item"):  # numpy scalar
        return json_cell(value.item(), exact)
    return value


def end_cell(end: float | None, exact: bool = False) -> Any:
    """One shown end of an interval (``cell_ends``) as JSON and CSV give it: the number
    (:func:`json_cell`), or :data:`OPEN_CELL` for an open end, as ``dlbs history`` writes it;
    ``null`` is kept for no interval at all."""
    return OPEN_CELL if end is None else json_cell(float(end), exact)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and not pd.isna(value)


def cell_ends(value: Any, low: Any, high: Any) -> tuple[float | None, float | None] | None:
    """A cell's interval as shown (``benchstats.shown_ends``): None where the cell has no
    number or no interval, else its ends with None for an open one."""
    if not (_number(value) and (_number(low) or _number(high))):
        return None
    nan = math.nan
    return shown_ends(float(value), float(low) if _number(low) else nan,
                      float(high) if _number(high) else nan)


def interval_text(ends: tuple[float | None, float | None], digits: int = 2) -> str:
    """An interval's text: ``low - high``; ``>= low`` with no upper bound, ``<= high`` with
    no lower bound, :data:`OPEN_CELL` with neither."""
    low, high = ends
    if low is not None and high is not None:
        return f"{low:.{digits}f} - {high:.{digits}f}"
    if low is not None:
        return f">= {low:.{digits}f}"
    return f"<= {high:.{digits}f}" if high is not None else OPEN_CELL


def has_open_end(table: Table) -> bool:
    """True when a cell of ``table`` has an interval with an open end (the legend says so)."""
    if table.ci is None:
        return False
    low, high = table.ci
    return any((ends := cell_ends(table.data.iat[r, c], low.iat[r, c], high.iat[r, c]))
               is not None and None in ends
               for r in range(low.shape[0]) for c in range(low.shape[1]))


def formatted(table: Table) -> pd.DataFrame:
    """The table's cells as display strings (marks appended)."""
    data = table.data
    text = [[format_cell(data.iat[r, c], table.digits_of(c), table.mark(r, c))
             for c in range(data.shape[1])] for r in range(data.shape[0])]
    return pd.DataFrame(text, index=data.index, columns=data.columns)


def legend(reports_tables: list[Table]) -> list[str]:
    """Lines explaining the marks used in ``reports_tables``."""
    used: set[str] = set()
    for table in reports_tables:
        if table.marks is not None:
            used.update(ch for cell in table.marks.to_numpy().ravel() for ch in str(cell or ""))
    return [f"{mark} {text}" for mark, text in MARK_LEGEND.items() if mark in used]
