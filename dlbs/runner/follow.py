"""News from a running experiment's log, shown on the console while it runs.

A serving run writes lines that start ``serve: `` on its stderr, which the launch script sends
to the log's ``.part``: a capacity search one per step as it ends (``serve: trial 1/3 step 2
load 4 requests/s: SLO attainment 95.0% met (goal 90%), 31 s so far``), and warnings (a
saturated load, a time cap reached). A search runs for minutes to an hour; without these the
console says nothing until it ends. :class:`LogFollower` reads what the ``.part`` gained every
``interval`` seconds in a thread (the executor's wait blocks on the process, so it cannot read)
and hands each such line, made safe for a terminal, to a callback (the progress's ``note``).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from dlbs.runner.progress import printable

#: Lines that are news: what ``python/serving`` prints for a person, not a fact.
PREFIX = b"serve: "
#: The longest line shown (a log anyone may write could hold a line of megabytes).
MAX_LINE = 400
#: The most a read takes at once, and the most of one line kept while it is incomplete.
CHUNK = 1 << 16


def shown(line: bytes) -> str:
    """A log's line on one terminal line: decoded, made safe (``progress.printable``), cut to
    :data:`MAX_LINE` characters."""
    text = printable(line.decode("utf-8", "replace"))
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 3] + "..."


class LogFollower:
    """Follows ``path`` from its size at :meth:`start`; calls ``emit`` with each new complete
    line that starts ``serve: `` until :meth:`stop`, which reads what is left."""

    def __init__(self, path: Path, emit: Callable[[str], None], interval: float = 1.0) -> None:
        self.path = path
        self.emit = emit
        self.interval = interval
        self._offset = 0
        self._pending = b""
        self._skipping = False  # inside a line longer than CHUNK: dropped to its end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._offset = self.path.stat().st_size
        except OSError:
            self._offset = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-follower")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._read()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()

    def _read(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                while True:
                    data = log.read(CHUNK)
                    if not data:
                        return
                    self._offset += len(data)
                    self._lines(data)
        except OSError:  # the .part renamed or removed: the run is ending
            return

    def _lines(self, data: bytes) -> None:
        *complete, rest = (self._pending + data).split(b"\n")
        for line in complete:
            if self._skipping:
                self._skipping = False
            elif line.startswith(PREFIX):
                self.emit(shown(line))
        if len(rest) > CHUNK:  # a line this long is no progress line: its start, cut
            if not self._skipping and rest.startswith(PREFIX):
                self.emit(shown(rest))
            rest, self._skipping = b"", True
        self._pending = rest
