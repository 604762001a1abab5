"""Where the benchmark's facts and warnings go: stdout, an appended ``--log_file``, or nowhere
(``--facts none``, or a terminal with ``--facts auto``: then a person reads
:mod:`pytorch_benchmarks.output.display`'s view instead).

Responsibility: one object that writes ``__key__=json`` facts (through
:mod:`pytorch_benchmarks.facts`, the only writer) and warning lines. Only rank 0 writes facts
under torchrun; warnings go to stderr from every rank so a problem on any rank is visible,
except an ignored flag, which rank 0 alone says (every rank would say the same words).
At the end of a successful run rank 0 prints a short human summary to stderr
(:func:`summary_line`): stdout carries nothing but facts. It never decides what a fact means.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

from safeio import UnsafeFileError, append_whole

from pytorch_benchmarks.facts import facts_text, write_facts
from pytorch_benchmarks.output.display import Console, busy_share, has_interval, withheld_reason


def same_on_every_rank(message: str) -> bool:
    """Whether a warning says a flag is ignored (``--tp_degree 2 ignored: ...``): decided from
    the command line alone, so every rank would say the same words."""
    flag, _, rest = message.partition(" ignored")
    return message.startswith("--") and bool(rest) and " " not in flag.split(" ", 1)[-1]


class Reporter:
    """Writes facts (rank 0 only) and warnings (a stderr line plus the ``exp.warnings`` fact)."""

    def __init__(self, log_file: str | None = None, enabled: bool = True,
                 destination: str = "", console: Console | None = None) -> None:
        #: ``log``, ``stdout`` or ``none`` (``options.facts_destination``); by default the
        #: log file when given, else stdout (what a launcher captures).
        self.destination = destination or ("log" if log_file else "stdout")
        self.log_file = log_file if self.destination == "log" else None
        self.enabled = enabled
        #: The human view when a person reads stdout (warnings wait for its result block).
        self.console = console
        self.warnings: list[str] = []
        #: Why ``log_file`` could not be appended to (facts then go to stdout, and the run
        #: exits with an error: ``benchmarks.run``), else ``None``.
        self.log_error: str | None = None
        #: The error that stdout failed with (no fact is written there again), else ``None``;
        #: ``guard_stdout`` says it in one line at the end.
        self.stdout_error: OSError | None = None

    def facts(self, facts: Mapping[str, Any], force: bool = False) -> None:
        """Write ``facts`` now (flushed); ``force`` writes even when not rank 0 (failures)."""
        if not (self.enabled or force) or not facts or self.destination == "none":
            return
        if self.log_file:
            try:  # never through a link, FIFO or hard link planted at its name; whole lines
                # or nothing (a disk that fills cuts off no fact in the middle)
                append_whole(self.log_file, facts_text(facts))
                return
            except OSError as err:  # the failure must still be written somewhere: stdout
                why = err.strerror if isinstance(err, UnsafeFileError) else err
                self.log_error = f"cannot append to --log_file {self.log_file}: {why}"
                self.log_file = None
        if self.stdout_error is not None or sys.stdout is None:
            return
        try:
            write_facts(facts, sys.stdout)
        except OSError as err:  # >/dev/full, a reader gone: the run stops (see benchmarks.run)
            self.stdout_error = err

    def warn(self, message: str) -> None:
        """State a fallback or an ignored flag: a ``WARNING:`` line and the full warning list.
        An ignored flag is said by rank 0 alone: it follows from the command line, the same on
        every rank (8 ranks printed ``--tp_degree 2 ignored`` 8 times); a fallback may be one
        rank's own, so every rank says it."""
        self.warnings.append(message)
        said_by_this_rank = self.enabled or not same_on_every_rank(message)
        if self.console is None and said_by_this_rank:  # else said once, in the result block
            print(f"WARNING: {message}", file=sys.stderr, flush=True)
        self.facts({"exp.warnings": self.warnings})

    def summary(self, line: str) -> None:
        """Print the human summary of a run to stderr (rank 0 only; never a fact)."""
        if self.enabled:
            print(line, file=sys.stderr, flush=True)


#: How :func:`summary_line` names a runner's phase.
PHASE_WORDS = {"data": "input pipeline"}


def _num(value: Any) -> str:
    """A number for people: one decimal from 10 on, else three significant digits."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def summary_line(model: str, phase: str, batch: int, replicas: int, device: str, dtype: str,
                 results: Mapping[str, Any]) -> str:
    """One line, e.g. ``alexnet training, batch 16 x 1 replica, cpu float32: 48.2
    samples/s, 331.9 ms/iteration (p50 330.1, p90 340.2; CI95 +-2.1%)``; without an
    interval ``CI95 n/a: REASON`` (``results.ci_withheld``), and ``; busy machine`` /
    ``; not steady`` at the end when the run says so."""
    precision = results.get("results.precision")
    spread = (f"CI95 +-{100 * precision:.1f}%" if isinstance(precision, (int, float))
              and has_interval(results) else f"CI95 n/a: {withheld_reason(results)}")
    share = busy_share(results)
    flags = (f"; busy machine: others took {100 * share:.0f}% of the CPUs"
             if share is not None else "")
    if results.get("results.steady_state") is False and "not steady" not in spread:
        flags += "; not steady"
    return (f"{model} {PHASE_WORDS.get(phase, phase)}, batch {batch} x {replicas} "
            f"replica{'s' if replicas != 1 else ''}, {device} {dtype}: "
            f"{_num(results.get('results.throughput'))} samples/s, {_tokens(results)}"
            f"{_num(results.get('results.time'))} ms/iteration "
            f"(p50 {_num(results.get('results.time_p50'))}, "
            f"p90 {_num(results.get('results.time_p90'))}; {spread}){flags}")


def _tokens(results: Mapping[str, Any]) -> str:
    """``1234.5 tokens/s, `` for token models; with generation the generated tokens/s and
    the TTFT and TPOT medians; nothing for other models."""
    if "results.output_tokens_per_second" in results:
        return (f"{_num(results['results.output_tokens_per_second'])} generated tokens/s "
                f"(TTFT p50 {_num(results.get('results.ttft_p50'))} ms, "
                f"TPOT p50 {_num(results.get('results.tpot_p50'))} ms), ")
    if "results.tokens_per_second" in results:
        return f"{_num(results['results.tokens_per_second'])} tokens/s, "
    return ""
