"""Aggregate repeated runs of one experiment (same ``identity``) into one row of statistics.

For ``time`` (ms) and ``throughput`` (samples/s) of the successful runs: count, mean, median,
standard deviation and the 95% confidence interval of the mean time (Student t); the
throughput's interval is samples / the time's bounds, so it is never negative (a time interval
reaching 0, e.g. two runs far apart, leaves the time no lower and the throughput no upper
bound: NaN). An experiment is
*noisy* when the coefficient of variation (std / mean) of its throughput over runs is above the
threshold; with a single run, the iteration-level ``results.time_std / results.time`` is used
instead. An experiment with no successful run carries the status of its last failed run;
one with a successful run that found no steady state is ``unsteady``; ``runs_steady`` counts
the successful runs that found one (NaN when the logs do not say). One with a successful run
made on a busy machine (``results.other_cpu_share``, the CPU time other processes took during
the timed window over the window's CPU capacity, above :data:`BUSY_THRESHOLD`) is ``busy``;
``runs_busy`` counts those runs (NaN when no run says). One with a successful run whose
training loss or inference outputs were not finite is ``not_finite`` (``runs_not_finite``
counts them). The other figures a run
logged (tokens/s, MFU, memory, latency: ``figures``) get the same statistics, as
``<log key>_mean`` and so on, over the successful runs that logged them.
Pure: frame in, frame out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from benchstats import t_critical

from dlbs.reports.figures import FIGURE_KEYS
from dlbs.reports.frame import MAX_BATCH_BOUND, UNUSABLE, UNUSABLE_WHY
from dlbs.reports.model import BUSY_THRESHOLD

#: Default noise threshold: coefficient of variation above 5% marks a measurement noisy.
NOISE_THRESHOLD = 0.05
METRICS: tuple[str, ...] = ("time", "throughput")
#: Columns that vary between runs of one experiment and are not carried to the aggregate.
PER_RUN: tuple[str, ...] = ("time", "throughput", "time_std", "time_data", "status", "error",
                            "steady_state", "other_cpu_share", "loss_finite", "output_finite", "numerics",
                            UNUSABLE, UNUSABLE_WHY, MAX_BATCH_BOUND)


def _margin(std: pd.Series, count: pd.Series) -> pd.Series:
    """Half-width of the confidence interval of the mean; NaN below two runs."""
    crit = count.map(lambda n: t_critical(n - 1) if n >= 2 else np.nan)
    return crit * std / np.sqrt(count)


def _metric_stats(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    grouped = ok.groupby("identity", sort=False)[metric]
    stats = grouped.agg(["count", "mean", "median", "std"])
    margin = _margin(stats["std"], stats["count"])
    stats["ci_low"], stats["ci_high"] = stats["mean"] - margin, stats["mean"] + margin
    return stats.drop(columns="count").add_prefix(f"{metric}_")


def _throughput_interval(ok: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """The throughput interval from the time interval: throughput is samples / mean time, so
    its bounds are samples / the time's bounds (never negative). A time interval reaching 0 or
    below (two runs far apart) has no lower bound, and the throughput none above: NaN."""
    samples = (ok["throughput"] * ok["time"] / 1000.0).groupby(ok["identity"], sort=False)
    per = samples.median().reindex(stats.index)
    # the point with its interval: samples / the mean time, the estimand (the mean of the
    # runs' throughputs is a different figure, above it by about CV^2, and can fall outside
    # an interval drawn from the time's); the median likewise
    stats["throughput_mean"] = 1000.0 * per / stats["time_mean"]
    stats["throughput_median"] = 1000.0 * per / stats["time_median"]
    low = stats["time_ci_low"].where(stats["time_ci_low"] > 0)
    stats["time_ci_low"] = low
    stats["throughput_ci_low"] = 1000.0 * per / stats["time_ci_high"]
    stats["throughput_ci_high"] = 1000.0 * per / low
    return stats


def _cv(ok: pd.DataFrame, stats: pd.DataFrame, runs_ok: pd.Series) -> pd.Series:
    # the spread of the runs' throughputs over their own mean (the point shown is samples /
    # mean time, a slightly smaller figure)
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
    stats = pd.concat([_metric_stats(ok, m) for m in [*METRICS, *figures]], axis=1)
    stats = _throughput_interval(ok, stats)
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
    """Successful runs that reached a steady state; NaN where no run says (older logs)."""
    said = ok["steady_state"].map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
    known = ok.loc[said]
    steady = known["steady_state"].astype(bool).groupby(known["identity"], sort=False).sum()
    return steady.astype(float)
