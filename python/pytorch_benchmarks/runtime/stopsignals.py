"""Stop signals: SIGUSR1 (Slurm's ``--signal=B:USR1@120`` warning before the time limit or at
preemption, forwarded by the batch script) and SIGTERM (preemption; torchrun's shutdown) end
a run cleanly at its next boundary instead of killing it without a fact.

Responsibility: install, in the main thread only, handlers that do nothing but record which
signal came first, and put the previous handlers back afterwards. The run polls
:attr:`StopSignals.name` at its boundaries (between build stages, at every warm-up and timed
iteration) and decides there; a handler that raised would land anywhere, half-way through a
step or a fact being written. SIGINT is not handled here: Ctrl-C still raises
``KeyboardInterrupt`` at once, as before.

A forked child (a DataLoader worker) inherits the handler and only sets its own copy of the
flag: the parent stops at its next boundary and closes the workers as after any run.

Standard library only: it is installed before torch is imported (an import takes seconds).
It writes no fact and stops nothing itself.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, final

#: The signals that stop a run at its next boundary, by name.
STOP_SIGNALS = ("SIGUSR1", "SIGTERM")


@final
class StopSignals:
    """``with StopSignals() as stops:`` handles :data:`STOP_SIGNALS` while the block runs;
    ``stops.name`` is the first one caught (``None`` until then)."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._catch)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        for number, previous in self._previous.items():
            # None: a handler set outside Python, which cannot be put back: the default
            signal.signal(number, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    def _catch(self, signum: int, frame: FrameType | None) -> None:
        """The handler: remember the first signal, nothing else (no I/O, no raise)."""
        if not self.signum:
            self.signum = signum

    @property
    def name(self) -> str | None:
        """``SIGUSR1``/``SIGTERM`` once one was caught, else ``None``."""
        return signal.Signals(self.signum).name if self.signum else None


def signal_name(number: int) -> str | None:
    """The name of signal ``number`` (``None`` for 0: no signal)."""
    return signal.Signals(number).name if number else None
