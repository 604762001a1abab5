"""The contract between the sweep and its executors: a :class:`Job` handed over, the
:class:`Ending` it came to, and the :class:`Executor` protocol.

Responsibility: these three types only, so that the sweep (``core``) and every executor
(``local``, ``dlbs.slurm``) import them from here and never each other's modules the other way:
``core`` chooses the local executor by default, and the executors know nothing of ``core``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dlbs.experiment import Experiment
from dlbs.runner import runlog


@dataclass
class Job:
    """One experiment handed to an executor: its log's ``.part`` already has the header.

    ``exp`` is the experiment's dict as the log's header holds it; ``view`` its typed
    :class:`~dlbs.experiment.Experiment`, which executors read: the one the runner made when it
    took the experiment up (``made``), else made here once."""

    index: int
    exp: Mapping[str, Any]
    log_file: Path
    offset: int = 0
    script: Path | None = None
    started: float = field(default_factory=time.monotonic)
    handle: Any = None  # the executor's own record (a job id...)
    made: InitVar[Experiment | None] = None
    view: Experiment = field(init=False, repr=False, compare=False)

    def __post_init__(self, made: Experiment | None) -> None:
        self.view = made if made is not None else Experiment.of(self.exp)

    @property
    def part(self) -> Path:
        """The file the job writes to until its trailer is written."""
        return runlog.part_file(self.log_file)


@dataclass
class Ending:
    """How a job ended, as its executor saw it.

    ``stopped`` names a stop decided outside the benchmark (``timeout``, ``interrupted``, or a
    scheduler's verdict such as ``cancelled``/``node_failure``): it is the final status.
    ``facts`` go into the trailer; ``duration`` replaces the runner's own clock when set.
    ``warning`` is a line for the run summary about a job that needs a second look whatever
    its status (e.g. Slurm requeued it).
    """

    exit_code: int | None
    stopped: str | None = None
    facts: list[tuple[str, Any]] = field(default_factory=list)
    duration: float | None = None
    error: str | None = None
    warning: str | None = None
    #: Stopped before anything of it ran (a Slurm job still queued, or never submitted, when
    #: the sweep was interrupted): no log is written, it counts as not started, and the next
    #: run of the plan runs it.
    not_started: bool = False


class Executor(Protocol):
    """Where jobs run (``dlbs.runner.local``, ``dlbs.slurm.executor``): every ability the sweep
    uses is a member here, so it never asks an executor what it can do."""

    #: The scheduler's name (``exp.scheduler``): ``local``, ``slurm``.
    name: str
    #: Jobs in flight at most: the sweep waits for one to end before starting more.
    capacity: int
    #: Submit and return: nobody waits for the jobs (``--detach``); the sweep records each as
    #: ``submitted`` (or ``in_flight`` when adopted) instead of waiting for its end.
    detached: bool
    #: Jobs handed to ``start`` are held back and submitted together by ``flush`` (Slurm job
    #: arrays); with ``detached``, the sweep records them as submitted only after ``flush``.
    deferred: bool

    def attach_note(self, note: Callable[[int, str], None]) -> None:
        """Tell news about a job while it waits (a pending reason, a requeue) to ``note``,
        called with the experiment's index and one line; an executor without such news
        keeps it unused."""

    def recover(self, index: int, exp: Experiment) -> tuple[Job, Ending | None] | None:
        """A job of ``exp`` that a previous runner left: ``(job, None)`` when it still runs
        (now tracked), ``(job, ending)`` when it has ended; None when there is none."""

    def start(self, job: Job) -> None:
        """Start ``job`` (raises ``DLBSError`` when it cannot); a ``deferred`` executor only
        takes it over, to be submitted by ``flush``."""

    def flush(self) -> list[tuple[Job, Ending]]:
        """Every job has been handed over: submit those held back (``deferred``); return the
        jobs that could not be submitted, each with its ending (the others are in flight).
        Nothing held back: an empty list."""

    def wait(self) -> list[tuple[Job, Ending]]:
        """Block until at least one job in flight ends; return those that ended."""

    def stop(self, reason: str) -> None:
        """Stop every job in flight (called from a signal handler: must not block long)."""

    def close(self) -> None:
        """The sweep is over (nothing in flight): release what the executor holds."""
