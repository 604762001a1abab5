"""What a failed torchrun said, in one line: which rank failed first and how, or that nobody
came to the rendezvous.

torchrun ends a failed job with the summary of ``ChildFailedError`` (its last lines are a row of
``=``, which is all a "last output line" would give)::

    Failures:
    [1]:
      time      : 2026-11-23_16:55:29
      host      : node1
      rank      : 0 (local_rank: 0)
      exitcode  : -15 (pid: 15949)  (SIGTERM)
      error_file: <N/A>
      traceback : Signal 15 (SIGTERM) received by PID 15949
    ----------
    Root Cause (first observed failure):
    [0]:
      ...
      rank      : 1 (local_rank: 1)
      exitcode  : -9 (pid: 15950)  (SIGKILL)
      traceback : Signal 9 (SIGKILL) received by PID 15950

Every such block in the text is read (a Slurm job's log holds every node's agent; ``srun
--label`` prefixes are ignored) and its failures ordered by time, so the first failure leads;
torchrun's timestamps are whole seconds, so within one second a rank killed by a signal leads
(a rank that exits with a code then is usually its peer that lost the connection), then torchrun's
own root cause. A
rendezvous that timed out (``DistStoreError: Timed out after N seconds waiting for clients``
on rank 0, ``DistNetworkError: The client socket has timed out ... trying to connect to (HOST,
PORT)`` on the others) is named with its address instead.

Pure text processing: no files, no processes, so that every executor (local, Slurm) can use it.
"""
from __future__ import annotations

import re
import signal
from dataclasses import dataclass

#: How much of a failed experiment's output is searched (the summary is at its end).
TAIL_CHARS = 64 * 1024
#: The longest detail (an exception's line) kept from a worker's traceback.
DETAIL_CHARS = 200

_LABEL = re.compile(r"^\d+: ")  # srun --label
_ENTRY = re.compile(r"^\[\d+\]:\s*$")
_FIELD = re.compile(r"^\s+(time|host|rank|exitcode|error_file|traceback)\s*:\s?(.*)$")
_RANK = re.compile(r"(-?\d+)\s*\(local_rank:\s*(-?\d+)\)")
_EXITCODE = re.compile(r"(-?\d+)")
_SIGNAL_TEXT = re.compile(r"^Signal \d+ \(\w+\) received by PID \d+$")
_NO_DETAIL = ("To enable traceback see", "<N/A>", "<NO_OTHER_FAILURES>")
_STORE_TIMEOUT = re.compile(r"Timed out after (\d+) seconds waiting for clients\. "
                            r"(\d+)/(\d+) clients joined")
_CLIENT_TIMEOUT = re.compile(r"client socket has timed out after (\d+)ms while trying to "
                             r"connect to \(([^,\s]+), (\d+)\)")
_RENDEZVOUS_ERROR = re.compile(r"\b(?:RendezvousTimeoutError|RendezvousConnectionError|"
                               r"DistStoreError|DistNetworkError)\b:?\s*(.*)")


@dataclass
class WorkerFailure:
    """One failed worker of a torchrun summary."""

    rank: int | None = None
    local_rank: int | None = None
    exitcode: int | None = None
    host: str = ""
    time: str = ""
    root_cause: bool = False
    detail: str = ""  # the last line of its traceback (an exception), when torchrun had one

    def how(self) -> str:
        """``killed by SIGKILL`` / ``exited with code 1: ValueError: ...``."""
        if self.exitcode is None:
            return "failed"
        if self.exitcode < 0:
            return f"killed by {signal_name(-self.exitcode)}"
        return f"exited with code {self.exitcode}" + (f": {self.detail}" if self.detail else "")

    def describe(self) -> str:
        """``rank 1 killed by SIGKILL``."""
        who = f"rank {self.rank}" if self.rank is not None else "a worker"
        return f"{who} {self.how()}"


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 70`` for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def parse_failures(text: str) -> list[WorkerFailure]:
    """The workers of every torchrun failure summary in ``text``, the first failure first
    (see the module's doc); one entry per rank."""
    found: list[WorkerFailure] = []
    root = False
    current: WorkerFailure | None = None
    in_traceback = False
    for raw in text.splitlines():
        line = _LABEL.sub("", raw, count=1)
        if line.startswith("Root Cause"):
            root, current, in_traceback = True, None, False
        elif line.startswith("Failures:"):
            root, current, in_traceback = False, None, False
        elif _ENTRY.match(line):
            current, in_traceback = WorkerFailure(root_cause=root), False
            found.append(current)
        elif current is not None and (field := _FIELD.match(line)):
            in_traceback = _set_field(current, field.group(1), field.group(2).strip())
        elif current is not None and in_traceback and line.startswith("  ") and line.strip():
            _add_detail(current, line.strip())
        elif line.strip():
            current, in_traceback = None, False
    # An entry is torchrun's only with its rank and exit code (``[0]:`` alone is anyone's).
    return _ordered([f for f in found if f.rank is not None and f.exitcode is not None])


def _set_field(failure: WorkerFailure, name: str, value: str) -> bool:
    """Set one field of ``failure``; True when it starts the traceback (continued below)."""
    if name == "rank" and (match := _RANK.match(value)):
        failure.rank, failure.local_rank = int(match.group(1)), int(match.group(2))
    elif name == "exitcode" and (match := _EXITCODE.match(value)):
        failure.exitcode = int(match.group(1))
    elif name in ("host", "time"):
        setattr(failure, name, value)
    elif name == "traceback":
        _add_detail(failure, value)
        return True
    return False


def _add_detail(failure: WorkerFailure, text: str) -> None:
    """Keep the last line of a worker's traceback: the exception (signals are in exitcode)."""
    if text and not text.startswith(_NO_DETAIL) and not _SIGNAL_TEXT.match(text):
        failure.detail = text[:DETAIL_CHARS]


#: Signals by which torchrun (or a scheduler) stops the ranks left after a failure.
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def _weight(failure: WorkerFailure) -> int:
    """Within one second (torchrun's timestamps have no finer grain, and it names the lowest
    rank of a tie its root cause): a death by a signal first, then an exit with a code (often
    a peer's "connection closed"), then a rank stopped (SIGTERM)."""
    code = failure.exitcode
    if code is not None and code < 0:
        return 2 if -code in _STOP_SIGNALS else 0
    return 1


def _ordered(found: list[WorkerFailure]) -> list[WorkerFailure]:
    """By time, a tie broken by :func:`_weight` then torchrun's root cause; a rank named twice
    (two summaries) once, at its first place in that order."""
    order = sorted(enumerate(found), key=lambda item: (
        item[1].time, _weight(item[1]), not item[1].root_cause, item[0]))
    seen: set[object] = set()
    ordered = []
    for _, failure in order:
        key = failure.rank if failure.rank is not None else id(failure)
        if key not in seen:
            seen.add(key)
            ordered.append(failure)
    return ordered


def failure_line(text: str) -> str | None:
    """``torchrun: rank 1 killed by SIGKILL (the first failure); 1 other rank stopped by
    torchrun``, or None when ``text`` holds no torchrun failure summary."""
    failures = parse_failures(text)
    if not failures:
        return None
    first, others = failures[0], failures[1:]
    line = f"torchrun: {first.describe()}"
    if others:
        line += " (the first failure)"
    stopped = [f for f in others if _weight(f) == 2]
    listed = [f.describe() for f in others if f not in stopped]
    if listed:
        more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
        line += "; also " + ", ".join(listed[:3]) + more
    if stopped:
        count = len(stopped)
        line += f"; {count} other rank{'s' if count > 1 else ''} stopped by torchrun"
    return line


def rendezvous_timeout_line(text: str, where: str = "",
                            timeout: int | None = None) -> str | None:
    """One line for a rendezvous that timed out (nobody joined rank 0, or rank 0 could not be
    reached), naming the address (``where``, else the one in the message) and the limit
    (``timeout``, else torch's figure); None otherwise."""
    if match := _STORE_TIMEOUT.search(text):
        joined, total = int(match.group(2)), int(match.group(3))
        place = f" at {where}" if where else ""
        return (f"the rendezvous{place} timed out after {_limit(timeout, int(match.group(1)))}: "
                f"{joined} of {total} nodes joined; start the other nodes' runs with the same "
                "rendezvous, or raise exp.rendezvous_timeout")
    if match := _CLIENT_TIMEOUT.search(text):
        address = where or f"{match.group(2)}:{match.group(3)}"
        return (f"could not reach the rendezvous at {address} within "
                f"{_limit(timeout, int(match.group(1)) / 1000)}: is the rank-0 node's run "
                "started, and is its address reachable from this node?")
    return None


def _limit(timeout: int | None, measured: float) -> str:
    """``5 s (exp.rendezvous_timeout)``, or torch's own figure when the limit is unknown."""
    return f"{timeout} s (exp.rendezvous_timeout)" if timeout else f"{measured:g} s"


def rendezvous_error_line(text: str, where: str = "") -> str | None:
    """Any other rendezvous error torch raised (refused, reset, a c10d rendezvous timeout)."""
    matches = list(_RENDEZVOUS_ERROR.finditer(text))
    if not matches:
        return None
    place = f" at {where}" if where else ""
    return f"the rendezvous{place} failed: {matches[-1].group(0).strip()[:DETAIL_CHARS]}"


#: The exit code of a benchmark rank that stopped cleanly on a stop signal (SIGUSR1, SIGTERM),
#: with its partial facts (``benchmarks.py``'s ``EXIT_INTERRUPTED``; the runner never imports
#: the benchmark, so the contract is written here).
CLEAN_STOP_EXIT = 130


def crashed_first(text: str) -> WorkerFailure | None:
    """The rank whose failure came first in torchrun's summary when it did not stop cleanly
    (killed by a signal, or exited with a code other than :data:`CLEAN_STOP_EXIT`); None when
    there is no summary or the first rank to end stopped cleanly. torchrun sends SIGTERM to
    the surviving ranks when one dies, so their ``interrupted`` is a symptom of this crash."""
    first = parse_failures(text)[:1]
    if not first or first[0].exitcode in (None, CLEAN_STOP_EXIT):
        return None
    return first[0]


def rank_error(text: str, rank: int | None) -> str | None:
    """The ``error: rank N: ...`` line the benchmark printed for ``rank`` (its own reason:
    what another rank logged is often a symptom of it), without ``error:``; None without."""
    if rank is None:
        return None
    found = re.findall(rf"error: (rank {rank}: [^\n]+)", text)
    return found[-1].strip() if found else None


def launcher_failure(text: str, where: str = "", timeout: int | None = None) -> str | None:
    """The one line of a failed torchrun's output: a rendezvous that timed out, else the rank
    that failed first, else another rendezvous error; None when ``text`` holds none of them."""
    return (rendezvous_timeout_line(text, where, timeout) or failure_line(text)
            or rendezvous_error_line(text, where))
