"""A background thread that calls a few samplers every ~0.1 s during the timed window.

Responsibility: the thread only; what is sampled is the callers' business. It samples once
when started and once when stopped, so a window shorter than the interval is still seen.
Sampling NVML or a sysfs file every 0.1 s costs microseconds; the timed loop is untouched.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

INTERVAL_S = 0.1


class Poller:
    """Calls each of ``samplers`` at start, every ``interval`` seconds, and at stop."""

    def __init__(self, samplers: Sequence[Callable[[], None]],
                 interval: float = INTERVAL_S) -> None:
        self.samplers = list(samplers)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        for sample in self.samplers:
            sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        """Sample now, then in the background."""
        self._sample()
        if self.samplers:
            self._thread = threading.Thread(target=self._loop, name="dlbs-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then sample a last time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
