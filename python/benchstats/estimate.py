"""The one estimator of a configuration's value and interval over its runs: every output that
turns a configuration's runs into one number with an interval (the folder report, compare,
history, regressions, the page, the charts) takes it from here.

**The geometric mean of the runs' values, with a Student t interval on their logarithms**
(``exp(mean(log x) +- t(n-1, 0.975) * sd(log x) / sqrt(n))``). Why this one, for throughput
and batch time:

- a run's throughput is samples / time, and its noise is multiplicative (a slower machine, a
  busier session scale it), so the log is the scale on which runs spread symmetrically; the
  interval's ends are ``value * exp(+-h)``, always positive and finite: plausible values of
  the quantity (an arithmetic t interval of the mean batch time, inverted into throughput,
  gave 3.72, 4.71, 8.34 samples/s the upper end 73.5, 9x the best run, and no upper end at
  all when the time's interval reached 0);
- it is the same estimator for throughput and time: the geometric mean of batch / time is
  batch / the geometric mean of the times, and the interval inverts likewise, so a table of
  time and one of throughput never disagree;
- comparisons (:func:`benchstats.welch_log_ratio`) are ratios of these same geometric means.

The mean and variance of the logs come from their exact sums (:class:`LogSums`: the count, sum
and sum of squares as integers) rounded once, so the value is the same to the last digit
whatever the order of the runs and whether the sums were kept at each ingest (the database's
``points.log_sums``) or made from all the runs at once (a folder of logs).
Pure: numbers in, numbers out.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from benchstats.tdist import CONFIDENCE, t_critical

__all__ = ["ESTIMATOR", "ESTIMATOR_LEGEND", "MIN_RUNS_FOR_INTERVAL", "OPEN_END", "OPEN_FACTOR", "OPEN_LEGEND",
           "Estimate", "LogSums", "estimate_of_sums", "estimate_runs", "log_sums",
           "one_run_throughput_interval", "shown_ends"]

#: The estimator's name, as outputs state it.
ESTIMATOR = "geometric mean over runs"
#: One line that every output's legend carries: the estimator's name and method.
ESTIMATOR_LEGEND = (f"{ESTIMATOR}, its 95% interval Student t on the mean of the runs' "
                    "logarithms, exponentiated (one run: its own interval over iterations, "
                    "where logged; two runs: none, as Student's t on one degree of freedom "
                    "(12.7) puts its ends far beyond any run: run three or more)")
#: An interval's end more than this factor from its value (an upper end above
#: ``OPEN_FACTOR * value``, a lower end below ``value / OPEN_FACTOR``) is shown open, never as
#: a number, and sets no chart's axis: no output prints it. Why: one run's interval comes from
#: the arithmetic t interval of its mean batch time (``results.time_ci95``) turned into
#: throughput by inversion; where that time interval's lower end is near 0 (heavy-tailed
#: iterations) the throughput's upper end is no plausible throughput (a run of 6.64 samples/s
#: printed 3.33 - 829.19; at 50 iterations with heavy-tailed noise 30% of such intervals
#: reached beyond 3x). The factor is the one the report's charts drew arrows from before it
#: was the rule of every output. On the log scale the rule is symmetric, so a one-run time
#: interval's open lower end is its throughput's open upper end.
OPEN_FACTOR = 3.0
#: An open end where an output has a place for that end alone (a column ``ci_high``): a word,
#: never a number.
OPEN_END = "open"
#: The legend line of open ends, for every output that shows one.
OPEN_LEGEND = (f"an interval's end more than {OPEN_FACTOR:g}x from its value is shown open, "
               "not as a number ('open' in a column of one end; in an interval's text, "
               "'>= low': no upper bound, '<= high': no lower bound, 'open': neither): its "
               "runs or, for one run, its iterations are too few or too noisy to bound it")
#: The fewest runs whose interval is given. With two, the t quantile on one degree of freedom
#: is 12.7 (4.3 on two): runs of 3.72 and 8.34 samples/s gave [0.033, 940.6], ends no run
#: comes near. Such an interval covers as it says, but no one can read it as throughput; two
#: runs keep their value and standard error (the database's tests weigh points by it).
MIN_RUNS_FOR_INTERVAL = 3


@dataclass(frozen=True)
class Estimate:
    """A configuration's value over ``n`` runs, its interval (NaN below
    :data:`MIN_RUNS_FOR_INTERVAL` runs) and its standard error (``value * sd(log) / sqrt(n)``,
    NaN below two runs)."""

    value: float
    low: float
    high: float
    se: float
    n: int


@dataclass(frozen=True)
class LogSums:
    """The exact count, sum and sum of squares of log values: each log (a double, ``p / 2**j``)
    is added as an integer at the scale ``2**-scale`` (``total``) and its square at
    ``2**-(2 * scale)`` (``squares``); the scale grows to the finest log added. Sums of doubles
    in floating point depend on their order; these do not."""

    count: int = 0
    scale: int = 0
    total: int = 0
    squares: int = 0

    def plus(self, logs: Iterable[float]) -> LogSums:
        """These sums and ``logs`` (finite)."""
        count, scale, total, squares = self.count, self.scale, self.total, self.squares
        for log in logs:
            numerator, denominator = log.as_integer_ratio()
            bits = denominator.bit_length() - 1  # a power of two
            if bits > scale:
                total <<= bits - scale
                squares <<= 2 * (bits - scale)
                scale = bits
            total += numerator << (scale - bits)
            squares += (numerator * numerator) << (2 * (scale - bits))
            count += 1
        return LogSums(count, scale, total, squares)

    def merged(self, other: LogSums) -> LogSums:
        """The sums of both sets of logs."""
        scale = max(self.scale, other.scale)
        return LogSums(self.count + other.count, scale,
                       (self.total << (scale - self.scale)) + (other.total << (scale - other.scale)),
                       (self.squares << 2 * (scale - self.scale))
                       + (other.squares << 2 * (scale - other.scale)))

    def mean_and_variance(self) -> tuple[float, float]:
        """The mean and the sample variance (``n - 1``) of the logs, each rounded once (an
        integer over an integer divides correctly rounded in Python); two or more logs."""
        n, unit = self.count, 1 << self.scale
        variance_numerator = n * self.squares - self.total * self.total  # >= 0, exactly
        return self.total / (n * unit), variance_numerator / (n * (n - 1) * unit * unit)

    def text(self) -> str:
        """The sums as the database's ``points.log_sums`` column keeps them (hexadecimal)."""
        return f"{self.count}:{self.scale}:{self.total:x}:{self.squares:x}"

    @classmethod
    def parse(cls, text: str) -> LogSums:
        """:meth:`text` read back."""
        count, scale, total, squares = text.split(":")
        return cls(int(count), int(scale), int(total, 16), int(squares, 16))


def log_sums(values: Iterable[float]) -> LogSums:
    """The exact sums of the logs of ``values`` (each finite and > 0)."""
    return LogSums().plus(math.log(v) for v in values)


def estimate_of_sums(sums: LogSums, confidence: float = CONFIDENCE) -> Estimate:
    """The estimate from the exact sums of the runs' log values: the geometric mean, its
    t interval on the log scale and its standard error; two runs: no interval
    (:data:`MIN_RUNS_FOR_INTERVAL`); one run: its value, NaN elsewhere; no run: all NaN."""
    n, nan = sums.count, math.nan
    if n == 0:
        return Estimate(nan, nan, nan, nan, 0)
    if n == 1:
        return Estimate(math.exp(sums.total / (1 << sums.scale)), nan, nan, nan, 1)
    centre, variance = sums.mean_and_variance()
    se_log = math.sqrt(variance) / math.sqrt(n)
    value = math.exp(centre)
    if n < MIN_RUNS_FOR_INTERVAL:
        return Estimate(value, nan, nan, value * se_log, n)
    half = t_critical(n - 1, confidence) * se_log
    return Estimate(value, math.exp(centre - half), math.exp(centre + half), value * se_log, n)


def one_run_throughput_interval(throughput: float, time: float, time_low: float,
                                time_high: float) -> tuple[float, float]:
    """One run's throughput interval from its batch time's interval over iterations: samples
    / the time's bounds (``throughput * time`` is the run's samples); NaN without a positive
    time interval."""
    if not (time > 0 and 0 < time_low <= time_high and math.isfinite(time_high)):
        return math.nan, math.nan
    return throughput * time / time_high, throughput * time / time_low


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def shown_ends(value: float, low: float, high: float
               ) -> tuple[float | None, float | None] | None:
    """The interval ``[low, high]`` of ``value`` as every output shows it
    (:data:`OPEN_FACTOR`): ``None`` where there is no interval (both ends NaN, or no positive
    value), else ``(low, high)`` with ``None`` for an open end (beyond the factor, or not
    finite: a time interval that reached 0 leaves its throughput no upper end)."""
    if not (_finite(value) and value > 0) or not (_finite(low) or _finite(high)):
        return None
    low_open = not _finite(low) or low * OPEN_FACTOR < value
    high_open = not _finite(high) or high > OPEN_FACTOR * value
    return (None if low_open else float(low)), (None if high_open else float(high))


def estimate_runs(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The estimate of a configuration's runs' values (each finite and > 0); see the module."""
    if len(values) == 1:  # the value itself (exp(log v) can differ from v in its last digit)
        return Estimate(float(values[0]), math.nan, math.nan, math.nan, 1)
    return estimate_of_sums(log_sums(values), confidence)
