"""The benchmark's user-facing error.

Responsibility: :class:`BenchmarkError`, whose message is the whole story (what is wrong and
what to do); the run reports it as ``results.status=failure`` with that one line and no
traceback. Every folder may raise it (data's :class:`~pytorch_benchmarks.data.errors.DatasetError`
is one); standard library only.
"""
from __future__ import annotations


class BenchmarkError(Exception):
    """A user-facing error: the message says what is wrong and what to do (status failure)."""


class StopRequested(Exception):
    """A stop signal (SIGUSR1, SIGTERM) ended the run at a boundary: status ``interrupted``.

    ``signal`` names it; ``times`` are the timed iterations completed (seconds, combined over
    the ranks; empty when it came before timing), of ``planned`` timed iterations."""

    def __init__(self, signal: str, times: list[float] | None = None, planned: int = 0) -> None:
        self.signal = signal
        self.times = list(times or [])
        self.planned = planned
        if self.times:
            where = f"after {len(self.times)} of {planned} timed iterations (partial results)"
        else:
            where = "before timing"
        super().__init__(f"stopped by {signal} {where}")
