"""The benchmark on one screen, for a person at a terminal.

Responsibility: what ``benchmarks.py`` shows when its stdout is a terminal and the facts go
elsewhere (``--facts auto`` with a terminal, ``--log_file``): one line saying what runs, one
progress line rewritten in place (``\\r``, at most every :data:`REDRAW_S` seconds so that it
costs the timed loop nothing measurable: a clock read per iteration), and a short result block
(throughput with its 95% interval or the reason it is withheld, TTFT/TPOT with generation,
iteration time, memory, MFU where known, a busy machine or a run that is not steady, the
warnings, where the facts went). It decides nothing about the run and computes no statistics:
every figure is a fact the run wrote (the interval is ``results.time_ci95`` turned into
samples/s). Standard library only.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

#: Seconds between two redraws of the progress line.
REDRAW_S = 0.2
#: A run is on a busy machine above this ``results.other_cpu_share``: the reports' threshold
#: (``dlbs.reports.model.BUSY_THRESHOLD``; this package never imports dlbs, a test checks
#: that they agree).
BUSY_SHARE = 0.10


def _num(value: Any, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            not math.isfinite(value):
        return "n/a"
    text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


class Console:
    """The human view on ``stream`` (a terminal)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.steps = 0
        self.expected = 0
        self.started = 0.0
        self._drawn = 0.0
        self._width = 0

    def announce(self, text: str) -> None:
        """Say what runs (one line)."""
        self._write(f"{text}\n")

    def begin(self, expected: int) -> None:
        """The iterations about to run (warm-up and timed; more with a precision target)."""
        self.steps, self.expected, self.started = 0, expected, time.monotonic()
        self._drawn = 0.0

    def step(self) -> None:
        """One iteration ended (as the host saw it): redraw when it is time."""
        self.steps += 1
        now = time.monotonic()
        if now - self._drawn >= REDRAW_S:
            self._drawn = now
            self._progress(now - self.started)

    def _progress(self, elapsed: float) -> None:
        of = f"/{self.expected}" if self.expected >= self.steps else ""
        line = f"  running: iteration {self.steps}{of}, {elapsed:.1f} s"
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self._write(f"\r{line}{pad}")

    def clear(self) -> None:
        """Remove the progress line (before the result block or an error)."""
        if self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    def result(self, lines: Sequence[str]) -> None:
        """Print the result block."""
        self.clear()
        self._write("".join(f"{line}\n" for line in lines))

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a terminal that went away: the facts are what matters


def withheld_reason(results: Mapping[str, Any]) -> str:
    """Why the run has no interval of its mean, in a few words: ``results.ci_withheld``, "not
    steady" when ``results.steady_state`` is false (facts written before that key carried an
    interval beside it), else "too few iterations" (the only reason before)."""
    reason = results.get("results.ci_withheld")
    if isinstance(reason, str) and reason:
        return reason
    return "not steady" if results.get("results.steady_state") is False else \
        "too few iterations"


def has_interval(results: Mapping[str, Any]) -> bool:
    """Whether ``results.time_ci95`` is an interval to show (two positive numbers, and the
    window steady)."""
    ci = results.get("results.time_ci95")
    return isinstance(ci, list) and len(ci) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in ci) \
        and results.get("results.steady_state") is not False


def throughput_interval(results: Mapping[str, Any], samples: int) -> str:
    """``(95% CI 47.1-49.3)`` from ``results.time_ci95`` (ms per iteration of ``samples``),
    or ``(95% CI n/a: REASON)``."""
    ci = results.get("results.time_ci95")
    if not has_interval(results) or not isinstance(ci, list):
        return f"(95% CI n/a: {withheld_reason(results)})"
    low, high = (samples * 1000.0 / ci[1], samples * 1000.0 / ci[0])
    return f"(95% CI {_num(low)}-{_num(high)})"


def busy_share(results: Mapping[str, Any]) -> float | None:
    """``results.other_cpu_share`` when it is above :data:`BUSY_SHARE`, else ``None``."""
    share = results.get("results.other_cpu_share")
    if isinstance(share, (int, float)) and not isinstance(share, bool) and share > BUSY_SHARE:
        return float(share)
    return None


def state_lines(results: Mapping[str, Any]) -> list[str]:
    """The flags that say the figures are not the code's steady speed alone: a busy machine
    (``results.other_cpu_share`` above :data:`BUSY_SHARE`, with the load average) and a
    window that is not steady (``results.steady_state=false``)."""
    lines = []
    share = busy_share(results)
    if share is not None:
        load = results.get("results.load_avg_before")
        at = (f" (load {load[0]:.1f})" if isinstance(load, list) and load
              and isinstance(load[0], (int, float)) else "")
        lines.append(f"  state       busy machine: other processes took {100 * share:.0f}% of "
                     f"the CPUs during the timed window{at}; these figures are not the code's "
                     "speed alone")
    if results.get("results.steady_state") is False:
        lines.append("  state       not steady: the iteration times kept changing "
                     "(results.steady_state=false); the mean is that of a moving window")
    return lines


def _generation_line(results: Mapping[str, Any]) -> str:
    return (f"              TTFT p50 {_num(results.get('results.ttft_p50'), 'ms')} (p99 "
            f"{_num(results.get('results.ttft_p99'))}), TPOT p50 "
            f"{_num(results.get('results.tpot_p50'), 'ms')} (p99 "
            f"{_num(results.get('results.tpot_p99'))})")


def result_lines(title: str, results: Mapping[str, Any], samples: int,
                 warnings: Sequence[str], facts_where: str) -> list[str]:
    """The result block: what ran, throughput with its interval (or why none), tokens and
    TTFT/TPOT with generation, time, memory, MFU, the machine's and the window's state,
    warnings, and where the facts went."""
    lines = [title,
             (f"  throughput  {_num(results.get('results.throughput'), 'samples/s')} "
             f"{throughput_interval(results, samples)}")]
    for key, label in (("results.tokens_per_second", "tokens/s"),
                       ("results.output_tokens_per_second", "generated tokens/s")):
        if key in results:
            lines.append(f"              {_num(results[key], label)}")
    if "results.ttft_p50" in results or "results.tpot_p50" in results:
        lines.append(_generation_line(results))
    lines.append(f"  time        {_num(results.get('results.time'), 'ms/iteration')} (p50 "
                 f"{_num(results.get('results.time_p50'))}, p90 "
                 f"{_num(results.get('results.time_p90'))}; "
                 f"{results.get('results.num_batches_done', '?')} timed)")
    memory = results.get("results.peak_memory_mb")
    if memory is not None:
        scope = results.get("results.peak_memory_scope")
        reserved = results.get("results.peak_memory_reserved_mb")  # GPUs: the allocator's
        lines.append(f"  memory      peak {_num(memory, 'MiB')}"
                     + (f" allocated, {_num(reserved, 'MiB')} reserved"
                        if reserved is not None else "")
                     + (f" ({scope})" if scope else ""))
    mfu = results.get("results.mfu")
    lines.append(f"  MFU         {100 * mfu:.1f}%" if isinstance(mfu, (int, float))
                 else "  MFU         n/a (see the warnings)" if "results.tflops" in results
                 else "  MFU         n/a")
    lines += state_lines(results)
    lines += [f"  warning     {w}" for w in warnings]
    lines.append(f"  facts       {facts_where}")
    return lines
