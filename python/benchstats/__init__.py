"""The statistics both programs use: the benchmark (``pytorch_benchmarks``) and the reports
(``dlbs.reports``).

Owns: the analysis of one series of iteration times (:mod:`.steady`: MSER warm-up, the steady
window, :func:`analyze`; :mod:`.autocorr`: Geyer's interval of the mean, effective sample
size; :mod:`.stationarity`: Schruben's test; :mod:`.robust`: median interval, outliers;
:mod:`.simulate`: the seeded hard cases that prove them), the stop rule's arithmetic
(:mod:`.stopping`: how many more iterations a precision target needs), Student's t
distribution (:mod:`.tdist`), the one estimator of a configuration's value and interval over
its runs (:mod:`.estimate`: the geometric mean, a t interval on the logs) and the statistics
across runs (:mod:`.samples`: summaries, Welch ratios of geometric means, runs for a given
power) and comparisons judged over a table (:mod:`.compare`: Welch or paired log ratios, Yuen's trimmed ones, the band test, Benjamini-Hochberg / Holm),
and the change points of a history of results, each point with its interval
(:mod:`.changepoints`; :mod:`.histories`: the seeded synthetic histories that prove it).

May import: the standard library (and numpy where it helps). Never torch, ``dlbs`` or
``pytorch_benchmarks``: it runs where the benchmark runs, in a container that has torch and the
project's ``python/`` folder, and in ``dlbs``; neither program's statistics live anywhere else.
"""
from __future__ import annotations

from benchstats.changepoints import Change, ChangeSearch, find_changes
from benchstats.compare import (
    CORRECTIONS,
    TRIM,
    Judgement,
    LogDiff,
    band_p_value,
    interval,
    judge,
    paired_log_diff,
    paired_trimmed_log_diff,
    ratio_of_means,
    runs_needed,
    trimmed_log_diff,
    welch_log_diff,
)
from benchstats.estimate import (
    ESTIMATOR,
    ESTIMATOR_LEGEND,
    OPEN_END,
    OPEN_FACTOR,
    OPEN_LEGEND,
    Estimate,
    LogSums,
    estimate_of_sums,
    estimate_runs,
    log_sums,
    one_run_throughput_interval,
    shown_ends,
)
from benchstats.samples import MAX_RUNS, Ratio, Summary, runs_for_power, summarize, welch_log_ratio
from benchstats.steady import Steady, analyze, batch_means_ci, mser, warmup_length
from benchstats.stopping import DEFAULT_MAX_TIME, StopRule, next_for_target, run_until
from benchstats.tdist import CONFIDENCE, incomplete_beta, t_cdf, t_critical, t_quantile

__all__ = [
    "CONFIDENCE",
    "CORRECTIONS",
    "DEFAULT_MAX_TIME",
    "ESTIMATOR",
    "ESTIMATOR_LEGEND",
    "MAX_RUNS",
    "OPEN_END",
    "OPEN_FACTOR",
    "OPEN_LEGEND",
    "TRIM",
    "Change",
    "ChangeSearch",
    "Estimate",
    "Judgement",
    "LogDiff",
    "LogSums",
    "Ratio",
    "Steady",
    "StopRule",
    "Summary",
    "analyze",
    "band_p_value",
    "batch_means_ci",
    "estimate_of_sums",
    "estimate_runs",
    "find_changes",
    "incomplete_beta",
    "interval",
    "judge",
    "log_sums",
    "mser",
    "next_for_target",
    "one_run_throughput_interval",
    "paired_log_diff",
    "paired_trimmed_log_diff",
    "ratio_of_means",
    "run_until",
    "runs_for_power",
    "runs_needed",
    "shown_ends",
    "summarize",
    "t_cdf",
    "t_critical",
    "t_quantile",
    "trimmed_log_diff",
    "warmup_length",
    "welch_log_diff",
    "welch_log_ratio",
]
