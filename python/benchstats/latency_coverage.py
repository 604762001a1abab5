"""The coverage of latency intervals on simulated queueing servers (:mod:`benchstats.queues`):
the old method (independent draws: Student's t, the order-statistic interval) beside
:mod:`benchstats.dependent`. Shared by ``benchmarks/sim_latency_intervals.py`` and the tests.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchstats.dependent import mean_latency_interval, quantile_latency_interval
from benchstats.quantiles import quantile_interval
from benchstats.queues import SERVERS, Latencies
from benchstats.samples import summarize

METRICS = ("ttft", "tpot", "e2e")
STATISTICS = (("mean", None), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


@dataclass
class Tally:
    """Trials, and for each method the intervals given and those that held the truth."""

    trials: int = 0
    old_printed: int = 0
    old_covered: int = 0
    printed: int = 0
    covered: int = 0
    #: intervals over runs whose lower end is zero or below (no plausible latency)
    old_nonpositive: int = 0

    def old_coverage(self) -> float:
        return self.old_covered / self.old_printed if self.old_printed else math.nan

    def coverage(self) -> float:
        return self.covered / self.printed if self.printed else math.nan


def true_values(server: str, load: float, n: int = 400_000, seed: int = 99
                ) -> dict[tuple[str, str], float]:
    """The stationary value of each statistic: one long run, its first tenth dropped."""
    run = SERVERS[server](n, load, np.random.default_rng(seed))
    out = {}
    for metric in METRICS:
        values = getattr(run, metric)[n // 10:]
        for label, q in STATISTICS:
            out[(metric, label)] = float(values.mean() if q is None else np.quantile(values, q))
    return out


def _old(values: list[float], q: float | None) -> tuple[float, float]:
    if q is None:
        stats = summarize(values)
        return stats.ci_low, stats.ci_high
    found = quantile_interval(values, q)
    return found.low, found.high


def _inside(low: float, high: float, truth: float) -> bool:
    return not math.isnan(low) and low <= truth <= high


def coverage(server: str, load: float, n: int, trials: int, seed: int,
             truth: dict[tuple[str, str], float] | None = None
             ) -> dict[tuple[str, str], Tally]:
    """Per (metric, statistic): how often each method's interval held the true value."""
    simulate: Callable[..., Latencies] = SERVERS[server]
    truth = truth or true_values(server, load)
    rng = np.random.default_rng(seed)
    tallies = {key: Tally() for key in truth}
    for _ in range(trials):
        run = simulate(n, load, rng)
        for metric in METRICS:
            values = getattr(run, metric)
            listed = values.tolist()
            for label, q in STATISTICS:
                tally, target = tallies[(metric, label)], truth[(metric, label)]
                tally.trials += 1
                low, high = _old(listed, q)
                tally.old_printed += not math.isnan(low)
                tally.old_covered += _inside(low, high, target)
                new = mean_latency_interval(values) if q is None else \
                    quantile_latency_interval(values, q)
                if not new.withheld:
                    tally.printed += 1
                    tally.covered += _inside(new.low, new.high, target)
    return tallies


def run_statistics(run: Latencies) -> dict[tuple[str, str], float]:
    """Each (metric, statistic) of one run, as the run's log gives it."""
    out = {}
    for metric in METRICS:
        values = getattr(run, metric)
        for label, q in STATISTICS:
            out[(metric, label)] = float(values.mean() if q is None else np.quantile(values, q))
    return out


@dataclass(frozen=True)
class RepeatTruth:
    """What a repeat of a run gives: per (metric, statistic), the mean and the median over
    many independent runs of the run's statistic."""

    mean: dict[tuple[str, str], float]
    median: dict[tuple[str, str], float]


def repeat_truth(server: str, load: float, n: int, runs: int = 20_000, seed: int = 98
                 ) -> RepeatTruth:
    """What a repeat of a run of ``n`` requests from an empty server gives: the mean and the
    median over ``runs`` independent runs of each run's statistic (the quantities an
    interval over repeated runs is about; not the stationary value, which a short run from an
    empty server does not reach)."""
    simulate: Callable[..., Latencies] = SERVERS[server]
    rng = np.random.default_rng(seed)
    table: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):
        for key, value in run_statistics(simulate(n, load, rng)).items():
            table.setdefault(key, []).append(value)
    return RepeatTruth({key: float(np.mean(v)) for key, v in table.items()},
                       {key: float(np.median(v)) for key, v in table.items()})


def repeat_coverage(server: str, load: float, n: int, repeats: int, trials: int, seed: int,
                    truth: RepeatTruth) -> dict[tuple[str, str], Tally]:
    """Per (metric, statistic), over ``trials`` sets of ``repeats`` independent runs: the old
    interval (Student's t over the runs' values, of their mean; ``old_nonpositive`` counts
    those whose lower end is zero or below, no plausible latency) and the new one
    (:func:`benchstats.quantiles.quantile_interval` of the runs' median: distribution-free,
    given from 6 runs at 95%), each against its own truth."""
    simulate: Callable[..., Latencies] = SERVERS[server]
    rng = np.random.default_rng(seed)
    tallies = {key: Tally() for key in truth.mean}
    for _ in range(trials):
        per_run = [run_statistics(simulate(n, load, rng)) for _ in range(repeats)]
        for key, tally in tallies.items():
            values = [stats[key] for stats in per_run]
            tally.trials += 1
            old = summarize(values)
            tally.old_printed += 1
            tally.old_covered += _inside(old.ci_low, old.ci_high, truth.mean[key])
            tally.old_nonpositive += old.ci_low <= 0
            new = quantile_interval(values, 0.5)
            if not math.isnan(new.low):
                tally.printed += 1
                tally.covered += _inside(new.low, new.high, truth.median[key])
    return tallies
