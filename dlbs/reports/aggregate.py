"""Aggregate repeated runs of one experiment (same ``identity``) into one row of statistics.

For ``time`` (ms), ``throughput`` (samples/s) and tokens/s of the successful runs: count,
median, standard deviation, and the configuration's value (``_mean``) with its 95% interval
(``_ci_low``, ``_ci_high``) by the one estimator of :mod:`benchstats.estimate` (the geometric
mean over runs, a Student t interval on the logs: the ends are always positive and finite,
and the time's are the throughput's inverted), the same numbers ``dlbs history`` gives the
same runs. An experiment is
*noisy* when the coefficient of variation (std / mean) of its throughput over runs is above the
threshold; with a single run, the iteration-level ``results.time_std / results.time`` is used
instead. An experiment with no successful run carries the status of its last failed run;
one with a successful run that found no steady state is ``unsteady``; ``runs_steady`` counts
the successful runs that found one (NaN when the logs do not say). One with a successful run
made on a busy machine (``results.other_cpu_share``, the CPU time other processes took during
the timed window over the window's CPU capacity, above :data:`BUSY_THRESHOLD`) is ``busy``;
``runs_busy`` counts those runs (NaN when no run says). One with a successful run whose
ranks x threads exceeded its node's usable cores (``exp.ranks_above_cores``) is
``above_cores``; ``runs_above_cores`` counts those runs (NaN when no run says). One with a
successful run whose machine state was not judged (``results.other_cpu_share`` logged null)
is ``not_judged``; ``runs_not_judged`` counts those runs (NaN when no run logged it). One with a
successful run whose
training loss or inference outputs were not finite is ``not_finite`` (``runs_not_finite``
counts them). The other figures a run
logged (tokens/s, MFU, memory, latency: ``figures``) get the same statistics, as
``<log key>_mean`` and so on, over the successful runs that logged them.
Pure: frame in, frame out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from benchstats import estimate_runs, one_run_throughput_interval, t_critical

from dlbs.reports.figures import FIGURE_KEYS, TOKENS
from dlbs.reports.frame import (
    ABOVE_CORES,
    MAX_BATCH_BOUND,
    NOT_JUDGED,
    TIME_CI,
    UNUSABLE,
    UNUSABLE_WHY,
)
from dlbs.reports.model import BUSY_THRESHOLD

#: Default noise threshold: coefficient of variation above 5% marks a measurement noisy.
NOISE_THRESHOLD = 0.05
METRICS: tuple[str, ...] = ("time", "throughput")
#: The columns that are values of a configuration, estimated by the one estimator
#: (``benchstats.estimate``): batch time, throughput and tokens/s.
VALUES: tuple[str, ...] = (*METRICS, TOKENS)
#: Columns that vary between runs of one experiment and are not carried to the aggregate.
PER_RUN: tuple[str, ...] = ("time", "throughput", "time_std", "time_data", "status", "error",
                            "steady_state", "other_cpu_share", "loss_finite", "output_finite", "numerics",
                            TIME_CI, UNUSABLE, UNUSABLE_WHY, MAX_BATCH_BOUND, ABOVE_CORES,
                            NOT_JUDGED)


def _margin(std: pd.Series, count: pd.Series) -> pd.Series:
    """Half-width of the confidence interval of the mean; NaN below two runs."""
    crit = count.map(lambda n: t_critical(n - 1) if n >= 2 else np.nan)
    return crit * std / np.sqrt(count)


def _metric_stats(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A figure's arithmetic mean, median, std and the t interval of its mean (the figures
    that are no value of the configuration: MFU, memory, latency...)."""
    grouped = ok.groupby("identity", sort=False)[metric]
    stats = grouped.agg(["count", "mean", "median", "std"])
    margin = _margin(stats["std"], stats["count"])
    stats["ci_low"], stats["ci_high"] = stats["mean"] - margin, stats["mean"] + margin
    return stats.drop(columns="count").add_prefix(f"{metric}_")


def _estimated(values: pd.Series) -> tuple[float, float, float]:
    """The one estimator (``benchstats.estimate``) of one experiment's runs' values: its
    value and interval; NaN where a value is not > 0 (no geometric mean of it)."""
    usable = values.dropna()
    if usable.empty or (usable <= 0).any():
        return np.nan, np.nan, np.nan
    found = estimate_runs([float(v) for v in usable])
    return found.value, found.low, found.high


def _one_run_interval(run: pd.Series, metric: str) -> tuple[float, float]:
    """A configuration of one run: the run's own interval over iterations (``results.time_ci95``;
    throughput: samples / its bounds), as ``dlbs history`` shows it; NaN where not logged."""
    interval = run.get(TIME_CI)
    if not isinstance(interval, tuple) or metric not in METRICS:
        return np.nan, np.nan
    if metric == "time":
        return interval
    return one_run_throughput_interval(float(run["throughput"]), float(run["time"]), *interval)


def _single_runs(ok: pd.DataFrame, stats: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``stats`` with each one-run experiment's interval its run's own."""
    if TIME_CI not in ok.columns:
        return stats
    counts = ok.groupby("identity", sort=False)[metric].count()
    for identity in counts.index[counts == 1]:
        runs = ok[(ok["identity"] == identity) & ok[metric].notna()]
        stats.loc[identity, ["ci_low", "ci_high"]] = _one_run_interval(runs.iloc[0], metric)
    return stats


def _value_stats(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A value of the configuration (batch time, throughput, tokens/s): ``_mean`` and its
    interval are the one estimator's (the geometric mean over runs, a t interval on the logs:
    ends always positive and finite, the time's and the throughput's the inverse of each
    other); the median and std are the runs' own."""
    grouped = ok.groupby("identity", sort=False)[metric]
    stats = grouped.agg(["median", "std"])
    found = pd.DataFrame([_estimated(values) for _, values in grouped], index=stats.index,
                         columns=["mean", "ci_low", "ci_high"], dtype=float)
    stats = stats.join(found)
    stats = _single_runs(ok, stats, metric)
    return stats[["mean", "median", "std", "ci_low", "ci_high"]].add_prefix(f"{metric}_")


def _cv(ok: pd.DataFrame, stats: pd.DataFrame, runs_ok: pd.Series) -> pd.Series:
    # the spread of the runs' throughputs over their own arithmetic mean (the value shown is
    # their geometric mean, a slightly smaller figure)
    over_runs = stats["throughput_std"] / ok.groupby("identity", sort=False)["throughput"].mean()
    within = (ok["time_std"] / ok["time"]).groupby(ok["identity"], sort=False).mean()
    return over_runs.where(runs_ok.reindex(over_runs.index) >= 2, within.reindex(over_runs.index))


def _failure_status(frame: pd.DataFrame) -> pd.DataFrame:
    failed = frame[frame["status"] != "ok"].groupby("identity", sort=False)
    return pd.DataFrame({"failed_status": failed["status"].last(),
                         "error": failed["error"].last()})


def aggregate(frame: pd.DataFrame, threshold: float = NOISE_THRESHOLD) -> pd.DataFrame:
    """One row per experiment: its descriptive columns plus run counts and statistics."""
    groups = frame.groupby("identity", sort=False)
    descr = groups[[c for c in frame.columns if c not in PER_RUN and c != "identity"]].first()
    ok = frame[(frame["status"] == "ok") & frame["throughput"].notna()]
    runs_ok = ok.groupby("identity", sort=False).size()
    figures = [key for key in FIGURE_KEYS if key in frame.columns]
    values = [*METRICS, *(key for key in figures if key in VALUES)]
    stats = pd.concat([_value_stats(ok, m) for m in values]
                      + [_metric_stats(ok, m) for m in figures if m not in VALUES], axis=1)
    out = descr.join(groups.size().rename("runs")).join(runs_ok.rename("runs_ok"))
    out["runs_ok"] = out["runs_ok"].fillna(0).astype(int)
    out = out.join(stats).join(_failure_status(frame))
    out["cv"] = _cv(ok, stats, runs_ok).reindex(out.index)
    out["noisy"] = out["cv"] > threshold
    out["status"] = out["failed_status"].where(out["runs_ok"] == 0, "ok")
    out["partial"] = (out["runs_ok"] > 0) & (out["runs_ok"] < out["runs"])
    out["unsteady"] = _unsteady(ok).reindex(out.index).fillna(False).astype(bool)
    out["runs_steady"] = _steady_runs(ok).reindex(out.index)
    out["runs_busy"] = _busy_runs(ok).reindex(out.index)
    out["busy"] = out["runs_busy"].fillna(0) > 0
    out["runs_above_cores"] = _above_cores_runs(ok).reindex(out.index)
    out["above_cores"] = out["runs_above_cores"].fillna(0) > 0
    out["runs_not_judged"] = _not_judged_runs(ok).reindex(out.index)
    out["not_judged"] = out["runs_not_judged"].fillna(0) > 0
    out["runs_not_finite"] = _not_finite_runs(ok).reindex(out.index)
    out["not_finite"] = out["runs_not_finite"].fillna(0) > 0
    out["runs_numerics_off"] = _numerics_off_runs(ok).reindex(out.index)
    out["numerics_off"] = out["runs_numerics_off"].fillna(0) > 0
    if MAX_BATCH_BOUND in ok.columns:  # a successful run's batch found is a lower bound
        bound = ok[MAX_BATCH_BOUND].eq(True).groupby(ok["identity"], sort=False).any()
        out[MAX_BATCH_BOUND] = bound.reindex(out.index, fill_value=False)
    out = out.join(_left_out_runs(frame))
    return out.drop(columns="failed_status")


def _left_out_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, its runs logged ok but left out for an unusable measurement (the
    measurements, and why with the log, as tuples; ``frame.left_out`` reads them): an
    experiment's note and warnings survive the aggregation."""
    if UNUSABLE not in frame.columns:
        return pd.DataFrame(index=pd.Index([], name="identity"), columns=[UNUSABLE, UNUSABLE_WHY])
    bad = frame[frame[UNUSABLE].notna()].groupby("identity", sort=False)
    return pd.DataFrame({UNUSABLE: bad[UNUSABLE].agg(tuple), UNUSABLE_WHY: bad[UNUSABLE_WHY].agg(tuple)})


def _busy_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs whose timed window shared its CPUs with other work above
    :data:`BUSY_THRESHOLD`; NaN where no run logged the share (older logs, short windows)."""
    share = pd.to_numeric(ok["other_cpu_share"], errors="coerce")
    known = ok.loc[share.notna()]
    busy = (share[share.notna()] > BUSY_THRESHOLD).groupby(known["identity"], sort=False).sum()
    return busy.astype(float)


def _flagged_runs(ok: pd.DataFrame, column: str) -> pd.Series:
    """Per experiment, its successful runs whose boolean ``column`` is true, counted over the
    runs that logged it; NaN (absent) where none did."""
    if column not in ok.columns:
        return pd.Series(dtype=float)
    said = ok[column].map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
    known = ok.loc[said]
    return known[column].astype(bool).groupby(known["identity"], sort=False).sum().astype(float)


def _above_cores_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs whose node ran more threads (ranks x threads) than its usable cores
    (``exp.ranks_above_cores`` true): their threads took turns, so the figure is the
    scheduler's, not the model's. NaN where no run said (logs before the fact)."""
    return _flagged_runs(ok, ABOVE_CORES)


def _not_judged_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs whose machine state was not judged (``results.other_cpu_share`` logged
    null: a timed window under 1 s, or /proc not readable): a busy machine is not ruled out
    for them. NaN where no run logged the key (older logs, DLBS's: nothing was claimed)."""
    return _flagged_runs(ok, NOT_JUDGED)


def _said_false(value: object) -> bool | None:
    """True for a logged ``false``, False for ``true``, None where the run said nothing."""
    if isinstance(value, (bool, np.bool_)):
        return not bool(value)
    return None


def _not_finite_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs whose training loss or inference outputs were not finite
    (``results.loss_finite`` / ``results.output_finite`` false); NaN where no run said (logs
    before these keys, runs of neither kind)."""
    flags = pd.DataFrame({key: ok[key].map(_said_false) if key in ok.columns else None
                          for key in ("loss_finite", "output_finite")}, index=ok.index)
    if "numerics" in ok.columns:  # --check_numerics: the output or its reference not finite
        flags["numerics"] = ok["numerics"].map(
            lambda v: v == "not_finite" if isinstance(v, str) else None)
    said = flags.notna().any(axis=1)
    bad = flags.fillna(False).astype(bool).any(axis=1)[said]
    return bad.groupby(ok.loc[said, "identity"], sort=False).sum().astype(float)


def _numerics_off_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs whose ``--check_numerics`` found the output off its float32 eager
    reference (``results.numerics`` ``off``); NaN where no run was checked."""
    if "numerics" not in ok.columns:
        return pd.Series(dtype=float)
    said = ok["numerics"].map(lambda v: isinstance(v, str)).astype(bool)
    checked = ok.loc[said]
    return (checked["numerics"] == "off").groupby(checked["identity"], sort=False).sum() \
        .astype(float)


def _unsteady(ok: pd.DataFrame) -> pd.Series:
    """Experiments with a successful run that never reached a steady state (the benchmark's
    ``results.steady_state`` is ``false``; logs without the key count as steady)."""
    flags = ok["steady_state"].map(lambda v: v is False)
    return flags.groupby(ok["identity"], sort=False).any()


def _steady_runs(ok: pd.DataFrame) -> pd.Series:
    """Successful runs that reached a steady state; NaN where no run says (older logs, or
    runs too short for the test: ``results.steady_state`` null, issue 58)."""
    said = ok["steady_state"].map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
    known = ok.loc[said]
    steady = known["steady_state"].astype(bool).groupby(known["identity"], sort=False).sum()
    return steady.astype(float)
