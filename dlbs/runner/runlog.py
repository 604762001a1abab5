"""Run logs: their names, their state (for ``exp.rerun``), header and trailer.

A log is written to ``<log>.part`` while its experiment runs and renamed to ``<log>`` only
after the runner has appended its trailer (exit code, duration, final ``results.status``).
So a ``<log>`` file is always complete; a runner that was killed outright (SIGKILL, power
loss) leaves only ``<log>.part``, whose name says it is incomplete. Ctrl-C and SIGTERM are
handled: the trailer then says ``results.status="interrupted"`` and the log is renamed.

Rerun policy (``exp.rerun``), deciding what a second run of the same plan does:

- ``never``: skip when a complete log exists, whatever its status (a failure or OOM is a
  result); run when there is none or only an incomplete/interrupted one (so a stopped sweep
  resumes where it left off and nothing that finished runs twice).
- ``onfail``: skip only when a complete log says ``ok``; re-run failures and incomplete logs.
- ``always``: run every time (the new log replaces the old one when it is complete).

A log at ``exp.log_file`` that no dlbs runner wrote (DLBS's own logs, or a log of
``benchmarks.py --log_file`` alone: no runner header ``exp.runner_start_time`` and no trailer)
is complete, judged as the log parser judges it (``judge_without_runner``: a positive
``results.time``/``results.throughput`` is ``ok``, DLBS's ``exp.status`` ``skipped``/``failure``
count, anything else failed). So ``never`` skips it, as DLBS's experimenter did, and never
overwrites it. A log with our runner's header and no trailer is incomplete (a killed run).
"""
from __future__ import annotations

import enum
import os
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from pytorch_benchmarks.facts import facts_text, format_fact, iter_facts
from safeio import UnsafeFileError, append_whole, open_for_read

from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.logs.parser import (
    FAILURE_STATUS,
    OK_STATUS,
    RUNNER_HEADER_KEY,
    TRAILER_KEY,
    parse_log,
)

PART_SUFFIX = ".part"
#: Statuses of a complete log whose experiment did not get to run to its end, so it runs again
#: under every ``exp.rerun`` policy (and never replaces a complete older log):
#: ``interrupted`` (Ctrl-C, SIGTERM) and ``pending_timeout`` (a Slurm job that waited in the
#: queue past ``slurm.queue_timeout`` and was cancelled before it started) and ``preempted``
#: (Slurm took its nodes for a job of higher priority and did not requeue it).
RERUN_STATUSES = ("interrupted", "pending_timeout", "preempted")
RERUN_POLICIES = ("never", "onfail", "always")
TAIL_BYTES = 256 * 1024
#: The short tail read first (see :func:`read_tail_facts`).
SHORT_TAIL = 4 * 1024


class LogState(enum.Enum):
    """What a previous run left for an experiment."""

    MISSING = "missing"
    INCOMPLETE = "incomplete"
    OK = "ok"
    FAILED = "failed"


def part_file(log_file: str | Path) -> Path:
    """The file a running experiment writes to (renamed to ``log_file`` when complete)."""
    return Path(f"{log_file}{PART_SUFFIX}")


def read_tail_facts(path: Path, max_bytes: int = TAIL_BYTES) -> dict[str, Any]:
    """Facts in the last ``max_bytes`` of ``path`` (the trailer is always there).

    The last :data:`SHORT_TAIL` bytes are read first: they hold our trailer, which is written
    last and begins with ``results.exit_code``; when it is there only the trailer's lines
    are parsed, so a complete log costs a few lines to judge (``status`` over thousands of
    logs). Without a trailer there, the facts of the whole ``max_bytes`` tail are returned. A line cut by the start of
    a tail is dropped, so that its end is never read as a fact."""
    size = os.path.getsize(path)
    offset = max(0, size - min(SHORT_TAIL, max_bytes))
    text = _text_from(path, offset)
    start = text.rfind(f"\n__{TRAILER_KEY}__")
    if start >= 0:  # the trailer: its first line and what follows it
        return dict(iter_facts(text[start + 1:].splitlines()))
    if offset == 0:
        return dict(iter_facts(text.splitlines()))
    return _tail_facts(path, max(0, size - max_bytes))


def _tail_facts(path: Path, offset: int) -> dict[str, Any]:
    lines = _text_from(path, offset).splitlines()
    return dict(iter_facts(lines[1:] if offset > 0 else lines))


def classify_log(path: Path) -> tuple[LogState, str]:
    """The state of an existing log and its ``results.status`` (``""`` when it has none).

    A log with our trailer is complete unless interrupted. Without the trailer: a log with our
    runner's header is incomplete (a killed run); any other log (DLBS's, ``benchmarks.py
    --log_file`` alone) is complete, ok or failed as the log parser reads it. Raises
    ``OSError`` when it cannot be read.
    """
    facts = read_tail_facts(path)
    status = facts.get("results.status")
    if TRAILER_KEY in facts:
        if status in RERUN_STATUSES:
            return LogState.INCOMPLETE, str(status)
        return (LogState.OK if status == "ok" else LogState.FAILED), str(status or "")
    parsed = parse_log(path)
    if parsed.error is not None and parsed.error.startswith(f"{path}: cannot read log:"):
        raise OSError(parsed.error)
    record = parsed.record or {}
    if RUNNER_HEADER_KEY in record:
        return LogState.INCOMPLETE, str(status or "")
    if not record:  # not a log at all (empty, no facts): failed, as DLBS has no time in it
        return LogState.FAILED, FAILURE_STATUS
    status = record.get("results.status")
    return (LogState.OK if status == OK_STATUS else LogState.FAILED), str(status or "")


def log_state(log_file: str | Path) -> LogState:
    """Classify what a previous run left for ``log_file``."""
    path = Path(log_file)
    if not os.path.lexists(path):  # a dangling link planted there is refused, not "missing"
        return LogState.INCOMPLETE if os.path.lexists(part_file(path)) else LogState.MISSING
    try:
        return classify_log(path)[0]
    except UnsafeFileError:
        raise  # planted: that experiment is refused, the sweep goes on
    except OSError as err:
        raise RunError(f"cannot read the log {path} (to decide exp.rerun): "
                       f"{err.strerror or err}") from None


def rerun_decision(exp: Experiment) -> tuple[bool, str]:
    """Return ``(run, reason)`` for ``exp`` given its log and ``exp.rerun``."""
    policy = exp.run.rerun
    if policy not in RERUN_POLICIES:
        raise RunError(f"exp.rerun is '{policy}'; use one of {', '.join(RERUN_POLICIES)}")
    state = log_state(exp.log_file)
    if policy == "always" or state in (LogState.MISSING, LogState.INCOMPLETE):
        return True, state.value
    if policy == "onfail" and state is LogState.FAILED:
        return True, "failed before (exp.rerun=onfail)"
    return False, f"log exists ({state.value}; exp.rerun={policy})"


def write_facts_to(stream: IO[str], facts: Iterable[tuple[str, Any]]) -> None:
    """Write ``facts`` as log lines and flush (nothing is left in a buffer if we crash)."""
    stream.write("".join(format_fact(key, value) + "\n" for key, value in facts))
    stream.flush()


def append_facts(path: Path, facts: Iterable[tuple[str, Any]]) -> None:
    """Append ``facts`` to the existing ``path`` whole or not at all (``append_whole``: a disk
    that fills leaves no trailer cut in the middle), on a line of their own even when the
    process's output ended in the middle of one. Raises ``OSError``."""
    with os.fdopen(open_for_read(path), "rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size:
            stream.seek(size - 1)
        newline = "\n" if size and stream.read(1) != b"\n" else ""
    append_whole(path, newline + facts_text(facts), create=False)


def read_output_facts(path: Path, offset: int) -> dict[str, Any]:
    """Facts the launched process wrote: everything in ``path`` after byte ``offset``."""
    return _facts_from(path, offset)


def _facts_from(path: Path, offset: int) -> dict[str, Any]:
    """The facts in ``path`` from byte ``offset`` on (last occurrence wins)."""
    return dict(iter_facts(_text_from(path, offset).splitlines()))


def _text_from(path: Path, offset: int) -> str:
    """The text of ``path`` from byte ``offset`` on; a link or a FIFO planted at a log's name
    is refused (``UnsafeFileError``), never read through."""
    with os.fdopen(open_for_read(path), "rb") as stream:
        stream.seek(offset)
        return stream.read().decode("utf-8", errors="replace")


def last_output_line(path: Path, offset: int) -> str:
    """The last non-empty, non-fact line the process printed (a hint for ``results.error``)."""
    lines = _text_from(path, max(offset, os.path.getsize(path) - 4096)).splitlines()
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith("__"):
            return text[:300]
    return ""


def output_tail(path: Path, offset: int, max_chars: int) -> str:
    """The last ``max_chars`` bytes (about) of what the process printed after ``offset``."""
    return _text_from(path, max(offset, os.path.getsize(path) - max_chars))


def final_status(output: Mapping[str, Any], exit_code: int | None,
                 stopped: str | None) -> tuple[str, str | None]:
    """Decide ``results.status`` and ``results.error`` of an experiment.

    ``stopped`` is ``"timeout"`` or ``"interrupted"`` when the runner stopped the process.
    """
    reported = output.get("results.status")
    if stopped is not None:
        return stopped, None
    if exit_code == 0 and reported == "ok":
        return "ok", None
    if exit_code == 0:
        if reported:
            return str(reported), None
        return "failure", "the benchmark exited with 0 but wrote no results.status"
    if reported and reported != "ok":
        return str(reported), None
    return "failure", describe_exit(exit_code)


def describe_exit(exit_code: int | None) -> str:
    """``the launcher exited with code 3`` / ``the launcher was killed by SIGKILL``."""
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"the launcher was killed by {name}"
    return f"the launcher exited with code {exit_code}"


def finish_log(log_file: str | Path) -> None:
    """Rename the complete ``<log>.part`` to ``<log>`` (atomic on one file system)."""
    os.replace(part_file(log_file), log_file)
