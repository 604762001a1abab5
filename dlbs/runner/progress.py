"""Show a sweep's progress: a tqdm bar on a terminal, plain lines otherwise, and a JSON file.

The JSON file (``--progress-file``) is rewritten after every change through a temporary file
and ``os.replace``, so a reader never sees half of it. Its keys: ``state`` (running, finished,
interrupted, refused, error: the runner stopped on an error), ``total``, ``done`` (finished ok), ``failed``, ``skipped``,
``simulated``, ``submitted`` (Slurm jobs left running by ``--detach``), ``in_flight`` (jobs an
earlier ``--detach`` left running, found again by a later ``--detach``: not submitted again),
``left``, ``current``
(index, model, settings, log_file of the running experiment, the latest started when several
run, or null; ``settings``: ``key=value`` of every parameter that varies over the sweep, so that
threads 1 and 2 do not look alike (``varying_keys``); ``note``: its latest news, such as a Slurm job's pending reason), ``elapsed_s``, ``eta_s`` (null until one experiment has run), ``started_at``,
``updated_at``, ``history`` (the last 20 experiments dealt with: index, model, settings, log_file, status, duration_s,
ended_at; model and log_file are null for those skipped without starting).
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from safeio import atomic_write_text

from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.experiment.groups import Workload
from dlbs.params import identity
from dlbs.runner.provenance import utc_now


def printable(text: str) -> str:
    """``text`` on one line, safe for a terminal: text read from a log anyone may have written
    (a status's reason, a serving run's news) could break the line or drive the terminal with
    its escape sequences (ESC, bidi controls); whitespace is collapsed, the rest escaped
    (``\\x1b``)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in " ".join(text.split()))


def format_seconds(seconds: float | None) -> str:
    """``H:MM:SS`` (``?`` when unknown)."""
    if seconds is None:
        return "?"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


HISTORY = 20
#: Keys a progress line never names: the bookkeeping of ``dlbs.params.identity`` (a run's
#: place, ids, paths, times, plumbing: the one definition ``report --compare`` reads too) and
#: the model (always shown).
BOOKKEEPING: frozenset[str] = identity.BOOKKEEPING | {Workload.parameter("model")}


def varying_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The parameters (``exp.*``, ``pytorch.*``...) whose value differs between ``rows`` (the
    experiments' dicts of a sweep, ``Experiment.raw``; a log's facts for ``dlbs db``), less the
    model (always shown) and bookkeeping: what a progress line must name."""
    keys = sorted({k for e in rows for k in e} - BOOKKEEPING)
    return [k for k in keys
            if len({json.dumps(e.get(k), sort_keys=True, default=str) for e in rows}) > 1]


def settings_text(values: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``exp.cpu_threads=2, exp.dtype=bfloat16``: the values of ``keys`` in ``values`` (an
    experiment's ``raw`` dict, or a log's facts)."""
    return ", ".join(f"{k}={_value(values.get(k))}" for k in keys)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class Progress:
    """Counts of a sweep, shown as it changes."""

    def __init__(self, total: int, progress_file: str | None = None,
                 stream: IO[str] | None = None, bar: bool | None = None,
                 varying: Sequence[str] = ()) -> None:
        self.total, self.stream = total, stream or sys.stderr
        self.varying = list(varying)  # parameters named beside the model (``varying_keys``)
        self.path = Path(progress_file) if progress_file else None
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "simulated": 0, "submitted": 0,
                       "in_flight": 0}
        self.current: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []  # the last HISTORY finished experiments
        self._running: dict[int, dict[str, Any]] = {}  # started, not finished (Slurm: several)
        self.state, self.started_at = "running", utc_now()
        self._t0, self._run_time, self._runs = time.monotonic(), 0.0, 0
        use_bar = self.stream.isatty() if bar is None else bar
        self._bar = self._make_bar() if use_bar else None
        self._file_warned = False
        try:
            self._write_file()
        except OSError as err:  # before anything ran: say so and stop
            raise RunError(f"cannot write the progress file {self.path}: "
                           f"{err.strerror or err}") from None

    def _make_bar(self) -> Any:
        from tqdm import tqdm
        return tqdm(total=self.total, file=self.stream, unit="exp", dynamic_ncols=True,
                    leave=True)

    @property
    def left(self) -> int:
        """Experiments not yet dealt with."""
        return self.total - sum(self.counts.values())

    def eta(self) -> float | None:
        """Seconds left: mean duration of the experiments run so far times those left."""
        return None if not self._runs else self._run_time / self._runs * self.left

    def start(self, index: int, exp: Experiment) -> None:
        """An experiment starts running."""
        settings = settings_text(exp.raw, self.varying)
        self.current = {"index": index, "model": exp.model, "settings": settings,
                        "log_file": exp.log_file}
        self._running[index] = self.current
        model = exp.model + (f" [{settings}]" if settings else "")
        label = f"{model} ({Path(exp.log_file).name})"
        if self._bar is not None:
            self._bar.set_description_str(model)
        else:
            self._line(f"[{index + 1}/{self.total}] start {label}")
        self._update_file()

    def finish(self, index: int, status: str, duration: float | None = None,
               measured: str = "") -> None:
        """An experiment ended (``status`` ok or a failure), was skipped or simulated;
        ``measured``: its headline figure and marks (``4.71 samples/s, busy 87%``)."""
        key = {"ok": "done", "skipped": "skipped", "simulated": "simulated",
               "submitted": "submitted", "in_flight": "in_flight"}.get(status, "failed")
        self.counts[key] += 1
        running = self._running.pop(index, {})
        self.history = [*self.history[-(HISTORY - 1):], {
            "index": index, "model": running.get("model"), "settings": running.get("settings"),
            "log_file": running.get("log_file"),
            "status": status, "duration_s": None if duration is None else round(duration, 3),
            "ended_at": utc_now()}]
        if duration is not None:
            self._run_time, self._runs = self._run_time + duration, self._runs + 1
        self.current = list(self._running.values())[-1] if self._running else None
        if self._bar is not None:
            self._bar.set_postfix(done=self.counts["done"], failed=self.counts["failed"],
                                  left=self.left, refresh=False)
            self._bar.update(1)
        elif key in ("done", "failed", "submitted", "in_flight"):
            took = f" in {duration:.1f} s" if duration is not None else ""
            took += f": {measured}" if measured else ""
            shown = "already in flight" if status == "in_flight" else status
            self._line(f"[{index + 1}/{self.total}] {shown}{took} | {self._summary()}")
        self._update_file()

    def drop(self, index: int) -> None:
        """An experiment started but stopped before anything of it ran: it is left (not
        started) again."""
        self._running.pop(index, None)
        self.current = list(self._running.values())[-1] if self._running else None
        self._update_file()

    def note(self, index: int, text: str) -> None:
        """News of a running experiment (a Slurm job's pending reason): one line on the stream
        (above the bar), and ``note`` of its entry in ``current``."""
        running = self._running.get(index)
        if running is not None:
            running["note"] = text
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self._line(text)
        self._update_file()

    def close(self, state: str) -> None:
        """The sweep ended: ``finished`` or ``interrupted``."""
        self.state = state
        if self._bar is not None:
            self._bar.close()
        self._update_file()

    def _summary(self) -> str:
        elapsed = time.monotonic() - self._t0
        return (f"done {self.counts['done']} failed {self.counts['failed']} "
                f"skipped {self.counts['skipped']} left {self.left} | elapsed "
                f"{format_seconds(elapsed)} eta {format_seconds(self.eta())}")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def snapshot(self) -> dict[str, Any]:
        """The progress as the JSON file holds it."""
        eta = self.eta()
        return {"state": self.state, "total": self.total, **self.counts, "left": self.left,
                "current": self.current, "history": self.history,
                "elapsed_s": round(time.monotonic() - self._t0, 3),
                "eta_s": None if eta is None else round(eta, 3),
                "started_at": self.started_at, "updated_at": utc_now()}

    def _write_file(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh temporary name (never a guessable one) renamed over the file; a link planted
        # at the file's name is refused. A full disk leaves no half-written temporary behind.
        atomic_write_text(self.path, json.dumps(self.snapshot(), indent=1) + "\n")

    def _update_file(self) -> None:
        """Rewrite the file during the sweep; a failure warns once and never stops the sweep."""
        try:
            self._write_file()
        except OSError as err:
            if not self._file_warned:
                self._file_warned = True
                self._line(f"warning: cannot write the progress file {self.path}: "
                           f"{err.strerror or err}")


class SafeStream:
    """A text stream whose writes never raise: a terminal that went away (EIO after a hang-up)
    or a closed pipe (EPIPE) ends the output, not the sweep. Everything that matters is in
    the logs and the progress file; the terminal only shows it."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream, self.broken = stream, False

    def write(self, text: str) -> int:
        """Write ``text``; after the first failure, drop it."""
        if not self.broken:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):  # ValueError: the stream was closed
                self.broken = True
        return len(text)

    def flush(self) -> None:
        """Flush; a failure only marks the stream broken."""
        if not self.broken:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        """Whether the stream is a terminal that still answers."""
        try:
            return not self.broken and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def tolerant_output() -> Iterator[None]:
    """``sys.stdout``/``sys.stderr`` as :class:`SafeStream` for the duration (and for the
    interpreter's final flush, which would otherwise turn a lost terminal into exit code 120)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        broken = any(isinstance(s, SafeStream) and s.broken for s in (sys.stdout, sys.stderr))
        if not broken:
            sys.stdout, sys.stderr = saved
