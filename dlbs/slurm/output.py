"""What a Slurm job's output says about how it went: which task failed first, and why; which
node failed; where each attempt of a requeued job begins.

The job's output is the log's ``.part`` after the runner's header (``sbatch --output``): the
batch script's, ``srun``'s and every task's output, interleaved as they were written, without
labels (``srun -l`` would prefix the benchmark's fact lines too). What is read here:

- ``srun: error: NODE: task N: Exited with exit code C`` (or the name of a signal, as
  ``strsignal`` gives it: ``Killed``, ``Segmentation fault``...): srun's word on each task.
  The first such line is the task that failed first; with ``--kill-on-bad-exit`` the others
  are then stopped by srun (their ``Terminated``, exit 143, is a consequence, never the cause).
- torchrun's ``Root Cause (first observed failure)`` block, printed by the launcher on the
  failing node: the global rank and its exit code or signal. The block printed before srun's
  first failure line, on the failing node when its ``host`` says so, is taken.
- ``srun: error: Node failure on NODE``: the node whose failure ended the job.
- ``dlbs-slurm-attempt: job=J restart=R ...``: the first line of each attempt, written by the
  batch script (``scripts/launchers/slurm.sbatch.j2``); a job that Slurm requeued has several.

Nothing here runs a command. The one status decided here is that of a failed multi-node job
(:func:`first_failure`); ``dlbs.slurm.endings`` decides the others.
"""
from __future__ import annotations

import itertools
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from safeio import atomic_write_bytes, open_for_read

from dlbs.logs.parser import MAX_LOG_BYTES
from dlbs.runner import runlog
from dlbs.runner.job import Job

#: How much of the end of a job's output is read to find why it failed.
TAIL_BYTES = 1 << 20
#: The most of a job's output read to set earlier attempts aside (a larger one is left whole):
#: the most of a log the parser reads.
ATTEMPTS_MAX_BYTES = MAX_LOG_BYTES
ATTEMPT_PREFIX = b"dlbs-slurm-attempt: "
ATTEMPT_MARK = re.compile(rb"^dlbs-slurm-attempt: job=\d+ restart=(\d+)\b[^\n]*$", re.MULTILINE)
SRUN_TASK = re.compile(r"^srun: error: (?P<node>[^\s:]+): tasks? (?P<tasks>[0-9][0-9,\-]*): "
                       r"(?P<what>.+?)\s*$")
NODE_FAILURE = re.compile(r"^srun: error: Node failure on (?P<node>\S+)")
EXIT_TEXT = re.compile(r"^Exited with exit code (\d+)$")
ROOT_CAUSE = "Root Cause (first observed failure):"
FIELD = re.compile(r"^\s*(time|host|rank|exitcode|error_file|traceback)\s*:\s*(.*?)\s*$")


def _signal_names() -> dict[str, str]:
    """``strsignal`` text -> signal name (``Killed`` -> ``SIGKILL``), as srun prints them."""
    names: dict[str, str] = {}
    for sig in signal.Signals:
        text = signal.strsignal(sig)
        if text and not sig.name.startswith("SIG_"):
            names.setdefault(text, sig.name)
    return names


SIGNAL_TEXT = _signal_names()


@dataclass
class TaskFailure:
    """The first task srun saw fail: its task id, node, and how it ended."""

    task: int
    node: str
    exit_code: int | None = None
    signal_name: str = ""  # SIGKILL...; srun's own words when they are not a known signal
    rank: int | None = None  # torchrun's global rank of the root cause, when it said so
    rank_exit: int | None = None
    rank_signal: str = ""

    def how(self) -> str:
        """``exited with code 3`` / ``was killed by SIGKILL`` (torchrun's word first)."""
        if self.rank is not None and (self.rank_signal or self.rank_exit is not None):
            return _how(self.rank_exit, self.rank_signal)
        return _how(self.exit_code, self.signal_name)

    def who(self) -> str:
        """``rank 1 (node n2)``; the Slurm task too when torchrun's rank differs from it."""
        if self.rank is None or self.rank == self.task:
            return f"rank {self.task} (node {self.node})"
        return f"rank {self.rank} (node {self.node}, Slurm task {self.task})"


def _how(code: int | None, sig: str) -> str:
    if sig:
        return f"was killed by {sig}" if sig.startswith("SIG") else f"ended: {sig}"
    return f"exited with code {code}"


#: The batch script's note of ``slurm.signal``'s warning (``scripts/launchers/slurm.sbatch.j2``).
WARNING_MARK = re.compile(r"^dlbs-slurm-signal: (SIG[A-Z0-9]+) at \d+$", re.MULTILINE)


def warning_signal(output: str) -> str | None:
    """The signal Slurm warned the last attempt's batch script with (``SIGUSR1``), or None."""
    attempt = output.rsplit(ATTEMPT_PREFIX.decode(), 1)[-1]
    match = WARNING_MARK.search(attempt)
    return match.group(1) if match else None


def read_tail(path: Path, offset: int, limit: int = TAIL_BYTES) -> str:
    """The text of ``path`` after ``offset``, at most its last ``limit`` bytes ("" if gone)."""
    try:
        with os.fdopen(open_for_read(path), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            stream.seek(max(offset, size - limit))
            return stream.read(limit).decode("utf-8", errors="replace")
    except OSError:  # gone, or refused: a link or a FIFO put in its place
        return ""


def first_task_failure(text: str) -> TaskFailure | None:
    """The first task srun reported as failed in ``text``, with torchrun's root cause when a
    block of it belongs to that task; None when srun reported no failed task."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = SRUN_TASK.match(line)
        if match is None:
            continue
        failure = _task_failure(match)
        cause = _root_cause_before(lines[:index], failure.node)
        if cause is not None:
            failure.rank, failure.rank_exit, failure.rank_signal = cause
        return failure
    return None


def _task_failure(match: re.Match[str]) -> TaskFailure:
    first = int(re.split(r"[,\-]", match.group("tasks"))[0])
    what = match.group("what").removesuffix(" (core dumped)")
    code = EXIT_TEXT.match(what)
    if code:
        return TaskFailure(first, match.group("node"), exit_code=int(code.group(1)))
    return TaskFailure(first, match.group("node"), signal_name=SIGNAL_TEXT.get(what, what))


def _root_cause_before(lines: list[str], node: str) -> tuple[int, int | None, str] | None:
    """torchrun's root cause (rank, exit code, signal) among ``lines``: the block whose host is
    ``node`` when one is, else the first block."""
    blocks = [_root_cause(lines, i + 1) for i, line in enumerate(lines) if line.strip() == ROOT_CAUSE]
    found = [b for b in blocks if b is not None]
    if not found:
        return None
    on_node = [b for b in found if b[0] == node]
    _host, rank, code, sig = (on_node or found)[0]
    return rank, code, sig


def _root_cause(lines: list[str], start: int) -> tuple[str, int, int | None, str] | None:
    """The host, rank, exit code and signal of the block starting at ``lines[start]``."""
    fields: dict[str, str] = {}
    for line in lines[start:start + 12]:
        match = FIELD.match(line)
        if match:
            fields.setdefault(match.group(1), match.group(2))
        elif line.startswith("===") and fields:
            break
    rank = re.match(r"^(\d+)", fields.get("rank", ""))
    code = re.match(r"^(-?\d+)", fields.get("exitcode", ""))
    if rank is None or code is None:
        return None
    value = int(code.group(1))
    sig = ""
    if value < 0:
        try:
            sig = signal.Signals(-value).name
        except ValueError:
            sig = f"signal {-value}"
    return fields.get("host", ""), int(rank.group(1)), (None if value < 0 else value), sig


def failed_node(text: str) -> str:
    """The node srun reported as failed (``Node failure on n2``), or ""."""
    for line in text.splitlines():
        match = NODE_FAILURE.match(line)
        if match:
            return match.group("node")
    return ""


def attempt_starts(data: bytes) -> list[tuple[int, int]]:
    """(offset, restart) of each attempt's first line in ``data`` (a job's output)."""
    return [(match.start(), int(match.group(1))) for match in ATTEMPT_MARK.finditer(data)]


@dataclass
class Attempts:
    """What :func:`set_aside_attempts` did: the side files it wrote, and whether the last
    attempt started (printed its first line): a requeued job can fail to launch again."""

    aside: list[Path]
    last_started: bool = True


def set_aside_attempts(log_file: Path, part: Path, offset: int,
                       restarts: int | None) -> Attempts:
    """Move the output of every attempt but the last from ``part`` (after ``offset``, the
    header) to ``<log>.attempt1``, ``<log>.attempt2``... (numbered from 1: attempt N is restart
    N-1); ``restarts`` is Slurm's count (None when unknown: the last mark is then the last
    attempt).

    Each side file holds one attempt's output as it was written (from its ``dlbs-slurm-attempt``
    line; the first also holds what came before it). ``part`` keeps the header and the last
    attempt's output, or no output when the last attempt never started, so the facts of an
    earlier attempt never mix into the record. Nothing is moved for a job that ran once, or
    whose output is too large to rewrite."""
    try:
        data = _read_part(part, offset + ATTEMPTS_MAX_BYTES)
    except OSError:  # gone, or refused: a link or a FIFO put in its place
        return Attempts([])
    if data is None:
        return Attempts([])
    header, output = data[:offset], data[offset:]
    marks = attempt_starts(output)
    last = restarts if restarts is not None else (marks[-1][1] if marks else 0)
    if last == 0 or not marks:
        return Attempts([])
    kept = max((start for start, restart in marks if restart == last), default=len(output))
    earlier = [(start, restart) for start, restart in marks if start < kept]
    if not earlier:  # the earlier attempts wrote nothing (or before marks existed)
        return Attempts([], last_started=kept < len(output))
    bounds = [0, *[start for start, _ in earlier[1:]], kept]
    aside = []
    for (begin, end), (_, restart) in zip(itertools.pairwise(bounds), earlier, strict=True):
        path = Path(f"{log_file}.attempt{restart + 1}")
        atomic_write_bytes(path, output[begin:end])
        aside.append(path)
    atomic_write_bytes(part, header + output[kept:])
    return Attempts(aside, last_started=kept < len(output))


def _read_part(part: Path, limit: int) -> bytes | None:
    """The whole of ``part``, or None when it holds more than ``limit`` bytes. Opened with
    ``safeio.open_for_read``: a link (never followed) or anything but a regular file (a FIFO
    would block) is refused with an ``OSError``."""
    with os.fdopen(open_for_read(part), "rb") as stream:
        if os.fstat(stream.fileno()).st_size > limit:
            return None
        data = stream.read(limit + 1)
    return data if len(data) <= limit else None


def started_before(part: Path, offset: int) -> bool:
    """Whether a job's batch script has run already (its output, after ``offset`` in
    ``part``, begins with an attempt's first line): a pending job that has is a requeued one.
    A ``part`` that is gone, a link or not a regular file has not (it is never followed and a
    FIFO never blocks: ``safeio.open_for_read``)."""
    try:
        with os.fdopen(open_for_read(part), "rb") as stream:
            stream.seek(offset)
            return stream.read(64).startswith(ATTEMPT_PREFIX)
    except OSError:
        return False


def first_failure(job: Job) -> tuple[str | None, str | None]:
    """(status, error) of a failed multi-node job from its output: the rank srun saw fail first
    and how (torchrun's root cause when it printed one), the benchmark's own error of that rank
    after it. None, None for one node (its own output says it) or when srun named no task.

    The status is the benchmark's when that rank reported one (``oom``...), else ``failure``;
    never ``interrupted``, which the other ranks report when srun stops them."""
    if job.view.num_nodes < 2:
        return None, None
    failure = first_task_failure(read_tail(job.part, job.offset))
    if failure is None:
        return None, None
    reported = runlog.read_output_facts(job.part, job.offset)
    rank = failure.rank if failure.rank is not None else failure.task
    own = str(reported.get("results.error") or "")
    prefix = f"rank {rank}: "
    status, detail = "failure", ""
    if own.startswith(prefix):
        detail = f": {own[len(prefix):]}"
        if str(reported.get("results.status")) not in ("ok", "interrupted", "None"):
            status = str(reported.get("results.status"))
    return status, (f"{failure.who()} {failure.how()} first{detail}; srun then stopped the "
                    "other ranks")
