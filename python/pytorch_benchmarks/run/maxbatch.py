"""``--batch_size max``: the largest batch that fits in memory, found with short real runs.

Responsibility: search the batch and say how (``results.max_batch``, ``results.max_batch_probes``
and the ``exp.max_batch_*`` facts, ``docs/log-format.md``); the benchmark then times the batch
found as it times any other. It never decides what a failure means: the benchmark's
``classify`` says which errors are out-of-memory.

The search (:func:`search`) probes batches 1, 2, 4, ... until one does not fit or
``--max_batch_limit`` is reached (the limit itself is probed when the doubling would pass it),
then bisects between the largest batch that fit and the smallest that did not, so the result
``B`` fits and ``B + 1`` was seen not to (memory is taken to grow with the batch). When the limit
itself fits, ``B`` is the limit, a lower bound: ``results.max_batch_capped`` is true and a
warning says so. When batch 1 does not fit, nothing does: the run ends with status ``oom``.

The search has an overall time limit (``--max_batch_time``, seconds from its start; 0: none).
Batch 1 is always probed to its end (without it there is no answer, and the timed run would
take as long per step); past the limit no further probe starts, and a probe running in a
forked child (a CPU) is killed at the limit and logged with ``"fits": null``. ``B`` is then
the largest batch that fit so far, a lower bound: ``results.max_batch_timed_out`` is true and
a warning says so (a compiled search on a GPU that got no probe of the timed run's own graph
in keeps its dynamic graph's edge instead, not a lower bound: ``results.max_batch_confirmed``
is false, and its warning says so). A probe in this process (a GPU) cannot be stopped: it
ends first.

A probe is the real thing at that batch: the workload is built as for a run (model, optimizer,
data, the phase's step, on the run's device and dtype) and :data:`PROBE_WARMUP` +
:data:`PROBE_STEPS` steps run (training reaches its high-water mark in the second step, once
the optimizer holds its state). "Does not fit" means:

- on a GPU, the step raised CUDA's out-of-memory error, or above batch 1 an error that memory
  running out usually causes near the edge without saying so (``CUBLAS_STATUS_EXECUTION_FAILED``,
  ``CUDNN_STATUS_INTERNAL_ERROR``: the probe's reason says "probably out of memory"; the
  benchmark's ``near_oom`` says which). Probes run in this process and
  everything is freed between them (``gc.collect``, ``torch.cuda.empty_cache``); a
  ``--memory_budget_mb`` caps the probes' share of the device
  (``torch.cuda.set_per_process_memory_fraction``). With ``--compile`` the search has two
  parts (:func:`compiled_search`): one graph with a dynamic batch dimension for the doubling
  and the bisection, then the static graph the timed run compiles, probed at the edge found
  and beside it (the compiler's graphs forgotten, ``torch._dynamo.reset()``, after each):
  a few compiles in all, not one a probe.
- on a CPU, where running a 128 GB host out of memory is no test, the probe ran out of its
  memory budget for real: each probe runs in a forked child process whose ``RLIMIT_DATA`` is its
  data size at the fork plus the budget (the growth of its private writable memory: tensors,
  allocator caches, thread stacks), so an allocation beyond it fails (torch: "can't allocate
  memory"). Garbage is collected before each fork and again in the child before its limit is
  set: memory freed after that would be room beyond the budget (how much, and whether a
  collection falls inside the probe, depends on the parent's history, not on the batch). A child killed by a signal, or that exits before reporting (a thread that could not
  be created), does not fit either, with the reason. Where the kernel does not enforce
  ``RLIMIT_DATA`` on mappings (Linux before 4.7) ``RLIMIT_AS`` (the address space) is used.

The children are forked from the benchmark process before it has run any torch computation:
GNU OpenMP's thread pool does not survive a fork (a child of a process that has used it hangs
in its first parallel region), so the benchmark searches before it builds its own workload.
"""
from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from safeio import read_capped

from pytorch_benchmarks import checks
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import ModelSpec, Spec

#: Untimed and timed steps of one probe (two steps: training's optimizer state exists from the
#: first step on, so the second one has the whole footprint).
PROBE_WARMUP, PROBE_STEPS = 1, 1
#: Share of ``MemAvailable`` that is a CPU probe's budget by default.
CPU_BUDGET_SHARE = 0.5
MIB = 1 << 20
#: What a probe's outcome costs to report: the child's message on its pipe (bytes at most).
_MESSAGE_LIMIT = 1 << 16

Classify = Callable[[BaseException], str]
NearEdge = Callable[[BaseException], bool]
Describe = Callable[[BaseException], str]
Step = Callable[[int], float]
#: A prober: runs one probe at ``batch``, stopping it after ``timeout`` seconds where it can
#: (None: no limit).
Prober = Callable[[int, "float | None"], "Probe"]


class NoBatchFits(BenchmarkError, MemoryError):
    """Batch 1 does not fit: a ``MemoryError``, so the run's status is ``oom``."""


@dataclass
class Probe:
    """One short run at ``batch``: whether it fit (None: stopped at the time limit before it
    could tell), its wall time (s), why not, and, in a compiled search on a GPU, the graph
    it ran (``static``: its own batch's, as the timed run compiles; ``dynamic``: one graph
    for every batch, see :func:`compiled_search`)."""

    batch: int
    fits: bool | None
    seconds: float
    reason: str | None = None
    graph: str | None = None

    def fact(self) -> dict[str, Any]:
        """The probe as an entry of ``results.max_batch_probes``."""
        entry: dict[str, Any] = {"batch": self.batch, "fits": self.fits,
                                 "seconds": round(self.seconds, 3)}
        if self.reason is not None:
            entry["reason"] = self.reason
        if self.graph is not None:
            entry["graph"] = self.graph
        return entry


@dataclass
class Search:
    """The outcome: the largest batch that fit (0: none), whether it is the limit (a lower
    bound), whether the time limit ended the search (a lower bound too), and every probe in
    the order run. A compiled search on a GPU adds the largest batch its dynamic graph fit
    (``dynamic_max_batch``) and whether ``max_batch`` was probed with the timed run's own,
    static graph (``confirmed``: false only when the time limit came first)."""

    max_batch: int
    capped: bool
    probes: list[Probe] = field(default_factory=list)
    timed_out: bool = False
    confirmed: bool = True
    dynamic_max_batch: int | None = None


class _TimeUp(Exception):
    """The search's time limit is over (raised inside the searches only)."""


class _Probing:
    """The probes of a search so far, and its deadline (``clock`` time; None: none): runs a
    probe, keeps it, tells ``seen``; raises :class:`_TimeUp` when no probe may start or one
    was stopped. The first probe of a search is never cut when ``uncut_first``; ``keep``
    (of the probes so far) is seconds before the deadline kept for what comes after."""

    def __init__(self, probe: Prober, seen: Callable[[Probe], None] | None,
                 deadline: float | None, clock: Callable[[], float],
                 uncut_first: bool = True,
                 keep: Callable[[list[Probe]], float] | None = None) -> None:
        self.probe, self.seen, self.deadline, self.clock = probe, seen, deadline, clock
        self.uncut_first, self.keep = uncut_first, keep
        self.probes: list[Probe] = []
        #: The largest batch that fit so far (0: none): what a time-out keeps.
        self.best = 0

    def fits(self, batch: int) -> bool:
        """Probe ``batch``: whether it fit."""
        timeout = None
        if self.deadline is not None and (self.probes or not self.uncut_first):
            kept = self.keep(self.probes) if self.keep is not None else 0.0
            timeout = self.deadline - kept - self.clock()
            if timeout <= 0:
                raise _TimeUp
        outcome = self.probe(batch, timeout)
        self.probes.append(outcome)
        if self.seen is not None:
            self.seen(outcome)
        if outcome.fits is None:
            raise _TimeUp
        if outcome.fits:
            self.best = max(self.best, batch)
        return outcome.fits

    def bisect(self, fit: int, fail: int) -> int:
        """The largest batch that fits between ``fit`` (fits) and ``fail`` (does not; 0: none
        seen), where ``fail`` - ``fit`` > 1 calls for probes."""
        while fail and fail - fit > 1:
            middle = (fit + fail) // 2
            if self.fits(middle):
                fit = middle
            else:
                fail = middle
        return fit


def search(probe: Prober, limit: int, seen: Callable[[Probe], None] | None = None,
           time_limit: float = 0.0, clock: Callable[[], float] = time.monotonic,
           keep: Callable[[list[Probe]], float] | None = None) -> Search:
    """Double from 1 until a probe does not fit or ``limit`` fits, then bisect; ``seen`` is
    told of each probe as it ends. ``time_limit`` > 0: seconds from now after which no probe
    starts and a running one is told to stop (batch 1 always runs to its end); ``keep``: the
    seconds of it kept for what follows the search, from the probes so far."""
    if limit < 1:
        raise ValueError(f"the largest batch to try must be >= 1, got {limit}")
    probing = _Probing(probe, seen, clock() + time_limit if time_limit > 0 else None, clock,
                       keep=keep)
    fit, fail, batch = 0, 0, 1
    try:
        while True:
            if not probing.fits(batch):
                fail = batch
                break
            fit = batch
            if batch >= limit:
                break
            batch = min(batch * 2, limit)
        fit = probing.bisect(fit, fail)
    except _TimeUp:  # the largest batch that fit, the bisection's included
        return Search(max_batch=probing.best, capped=False, probes=probing.probes,
                      timed_out=True)
    return Search(max_batch=fit, capped=fit >= limit, probes=probing.probes)


def search_near(probe: Prober, hint: int, limit: int, floor: int,
                seen: Callable[[Probe], None] | None = None, deadline: float | None = None,
                clock: Callable[[], float] = time.monotonic) -> Search:
    """The largest batch that fits, searched from ``hint`` (expected at or near the edge):
    ``hint`` first, then steps of 1, 2, 4... up while batches fit (to ``limit`` at most) or
    down while they do not (to ``floor``, a batch known to fit, not probed again), then a
    bisection; ``hint`` and ``hint`` + 1 settle an edge the hint had right. ``deadline``
    (``clock`` time): no probe starts past it, the first included; a time-out keeps the
    largest batch that fit so far (``floor`` if none)."""
    if not 1 <= floor <= hint <= limit:
        raise ValueError(f"a search near batch {hint} needs 1 <= floor ({floor}) <= hint <= "
                         f"limit ({limit})")
    probing = _Probing(probe, seen, deadline, clock, uncut_first=False)
    fit, fail, step = floor, 0, 1
    try:
        if hint == floor or probing.fits(hint):
            fit = hint
            while fit < limit:
                batch = min(fit + step, limit)
                if not probing.fits(batch):
                    fail = batch
                    break
                fit, step = batch, step * 2
        else:
            fail = hint
            while fail - step > floor:
                if probing.fits(fail - step):
                    fit = fail - step
                    break
                fail, step = fail - step, step * 2
        fit = probing.bisect(fit, fail)
    except _TimeUp:
        return Search(max_batch=max(floor, probing.best), capped=False, probes=probing.probes,
                      timed_out=True)
    return Search(max_batch=fit, capped=fit >= limit, probes=probing.probes)


def compiled_search(dynamic: Prober, static: Prober, limit: int,
                    seen: Callable[[Probe], None] | None = None, time_limit: float = 0.0,
                    clock: Callable[[], float] = time.monotonic,
                    reset: Callable[[], None] | None = None) -> Search:
    """The search for ``--compile`` on a GPU, in two parts, so that it costs a few compiles
    instead of one a probe (the H100 run compiled resnet50 for 47 s a probe):

    1. :func:`search` with the ``dynamic`` prober, whose probes keep the compiler's graphs:
       batch 1 compiles its static graph (dynamo always specialises a size of 1), batch 2 a
       graph with a dynamic batch dimension that the larger probes reuse;
    2. the compiler's graphs are forgotten (``reset``), then :func:`search_near` the edge
       found, with the ``static`` prober (each probe compiles its own batch's graph, as the
       timed run does, and forgets it): two probes when the dynamic graph had the edge right.

    ``results.max_batch`` is then of the static graph, the one the timed run compiles: it fit,
    and the batch above it did not. Part 1 stops early enough to keep, of ``time_limit``, two
    of batch 1's probes (a static compile and two steps each) for part 2. When part 2 still
    gets no probe in, the result is the dynamic graph's edge, not confirmed (``confirmed``
    false; batch 1's graph is static, so batch 1 is always confirmed). ``dynamic_max_batch``
    is None when no probe ran a dynamic graph (batch 2 did not fit, or the limit is 1)."""
    def labelled(prober: Prober, dynamic_above_1: bool) -> Prober:
        def run(batch: int, timeout: float | None) -> Probe:
            outcome = prober(batch, timeout)
            outcome.graph = "dynamic" if dynamic_above_1 and batch > 1 else "static"
            return outcome
        return run

    def for_part_2(probes: list[Probe]) -> float:
        return 2 * probes[0].seconds if probes else 0.0

    deadline = clock() + time_limit if time_limit > 0 else None
    first = search(labelled(dynamic, True), limit, seen, time_limit, clock, for_part_2)
    (reset or reset_compiler)()
    dynamic_edge = max((p.batch for p in first.probes if p.graph == "dynamic" and p.fits),
                       default=None)
    if first.max_batch == 0:
        return Search(max_batch=0, capped=False, probes=first.probes)
    second = search_near(labelled(static, False), first.max_batch, limit, 1, seen, deadline,
                         clock)
    probes = first.probes + second.probes
    if not second.probes and first.max_batch > 1:  # no time for a static probe
        return Search(max_batch=first.max_batch, capped=False, probes=probes, timed_out=True,
                      confirmed=False, dynamic_max_batch=dynamic_edge)
    return Search(max_batch=second.max_batch, capped=second.capped, probes=probes,
                  timed_out=first.timed_out or second.timed_out,
                  dynamic_max_batch=dynamic_edge)


@contextlib.contextmanager
def dynamic_graphs() -> Iterator[None]:
    """While inside, dynamo makes a size that changes between calls dynamic
    (``automatic_dynamic_shapes``, its default) and raises, instead of running eagerly, past
    64 graphs of one function (``fail_on_recompile_limit_hit``: an eager probe would measure
    eager memory). Settings this torch lacks are left out."""
    import torch._dynamo

    wanted = {"automatic_dynamic_shapes": True, "recompile_limit": 64,
              "fail_on_recompile_limit_hit": True}
    config = torch._dynamo.config
    with config.patch({k: v for k, v in wanted.items() if hasattr(config, k)}):
        yield


def probe_step(spec: Spec, ctx: DistContext, batch: int) -> float:
    """Build the workload of ``spec`` at ``batch`` and run the probe's steps; return the timed
    step's seconds. Raises what the run would raise (out of memory included)."""
    from pytorch_benchmarks.run.timing import timed_loop
    from pytorch_benchmarks.run.workload import build_workload

    probe = spec.with_batch(batch)
    workload = build_workload(probe.model, probe.data, probe.device, probe.run, ctx, _quiet)
    try:
        runner = workload.runner
        assert runner is not None
        with runner.context():
            times = timed_loop(runner.step, PROBE_WARMUP, PROBE_STEPS,
                               runner.setup.synchronizer())
    finally:
        workload.close()
    return times[-1]


def _quiet(message: str) -> None:
    """Probes warn about nothing: the timed run that follows states every warning once."""


class InProcessProber:
    """Probes in this process (a GPU): an out-of-memory error means "does not fit", and so
    does an error ``near_edge`` says memory usually causes, above batch 1 (batch 1 ran
    before any larger probe: such an error there is a fault, the run's); any other error is
    the run's. ``cleanup`` frees what a probe left (``gc``, the CUDA cache, the compiler's
    graphs)."""

    def __init__(self, step: Step, classify: Classify, describe: Describe,
                 cleanup: Callable[[], None], near_edge: NearEdge | None = None) -> None:
        self.step, self.classify, self.describe, self.cleanup = step, classify, describe, cleanup
        self.near_edge = near_edge

    def __call__(self, batch: int, timeout: float | None = None) -> Probe:
        """Probe ``batch`` to its end (``timeout`` is not enforced: a step in this process
        cannot be stopped safely; the search starts no probe past its limit)."""
        start = time.perf_counter()
        reason = None
        try:
            self.step(batch)
        except BaseException as exc:  # out of memory is an answer; anything else is not
            if self.classify(exc) == "oom":
                reason = self.describe(exc)
            elif batch > 1 and self.near_edge is not None and self.near_edge(exc):
                reason = f"probably out of memory: {self.describe(exc)}"
            else:
                raise
        self.cleanup()  # after the except clause: the traceback no longer holds the tensors
        return Probe(batch, reason is None, time.perf_counter() - start, reason)


def cuda_cleanup() -> None:
    """Free what a GPU probe left: the compiler's graphs (:func:`reset_compiler`), unreachable
    tensors, then the allocator's cached blocks."""
    reset_compiler()
    cuda_free()


def cuda_free() -> None:
    """Free a GPU probe's unreachable tensors, then the allocator's cached blocks; the
    compiler's graphs stay (the dynamic part of :func:`compiled_search`)."""
    import torch

    gc.collect()
    torch.cuda.empty_cache()


def reset_compiler() -> None:
    """Forget every graph ``torch.compile`` made (``torch._dynamo.reset()``), when it was
    imported. Without it the next probe's batch (another size, same code) makes dynamo
    recompile with a dynamic batch dimension, or fall back to eager past its recompile limit,
    and the timed run after the search reuses that graph: each probe, and the timed run,
    compile afresh for their own (static) batch, as timm's benchmark does before compiling."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()


class ForkProber:
    """Probes in forked children, each in a memory budget (a CPU): see the module's doc."""

    def __init__(self, step: Step, budget: int, classify: Classify, describe: Describe) -> None:
        self.step, self.budget, self.classify, self.describe = step, budget, classify, describe
        #: How the budget was enforced in the last child: ``rlimit_data`` or ``rlimit_as``.
        self.enforced_by: str | None = None

    def __call__(self, batch: int, timeout: float | None = None) -> Probe:
        """Probe ``batch`` in a child; kill it after ``timeout`` seconds (None: no limit)."""
        sys.stdout.flush()  # a child must not write the parent's buffered output again
        sys.stderr.flush()
        gc.collect()  # garbage is freed here, its finalizers run here, not in the child
        read_fd, write_fd = os.pipe()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(read_fd)
                self._child(write_fd, batch)
            except BaseException:  # noqa: BLE001 - the parent reads the missing message
                code = 70
            os._exit(code)
        os.close(write_fd)
        try:
            message = _read_all(read_fd, timeout)
            if message is None:  # the time limit: the child goes, its answer unknown
                _kill(pid)
                pid = 0
                return Probe(batch, None, time.perf_counter() - start,
                             f"stopped after {timeout:.1f} s, at the search's time limit "
                             "(--max_batch_time)")
            status = os.waitpid(pid, 0)[1]
            pid = 0
        finally:
            os.close(read_fd)
            if pid:  # interrupted while waiting: the child goes too
                _kill(pid)
        return self._outcome(batch, message, status, time.perf_counter() - start)

    def _child(self, write_fd: int, batch: int) -> None:
        """Limit memory, run the probe, write ``{"status", "reason", "limit"}`` as JSON."""
        try:
            which, old, name = limit_memory(self.budget)
        except BaseException as exc:  # noqa: BLE001 - reported as the run's failure
            _write(write_fd, {"status": "failure", "reason": self.describe(exc)})
            return
        message: dict[str, Any]
        try:
            self.step(batch)
            message = {"status": "ok"}
        except BaseException as exc:  # noqa: BLE001 - out of memory is an answer
            _set_limit(which, old)  # room to describe the error
            message = {"status": self.classify(exc), "reason": self.describe(exc)}
        _set_limit(which, old)
        _write(write_fd, {**message, "limit": name})

    def _outcome(self, batch: int, raw: bytes, status: int, seconds: float) -> Probe:
        """The probe from the child's message and exit status."""
        try:
            message = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            message = None
        if not isinstance(message, dict):
            return Probe(batch, False, seconds, _death(status))
        self.enforced_by = message.get("limit") or self.enforced_by
        outcome = message.get("status")
        if outcome == "ok":
            return Probe(batch, True, seconds)
        reason = str(message.get("reason") or "no reason given")
        if outcome == "oom":
            return Probe(batch, False, seconds, reason)
        if outcome == "interrupted":
            raise KeyboardInterrupt
        raise BenchmarkError(f"--batch_size max: the probe of batch {batch} failed (not for "
                             f"memory): {reason}")


def _death(status: int) -> str:
    """Why a child left no message: the signal that killed it, or its exit code."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the probe process was killed by {name} before it reported"
    return (f"the probe process exited with code {os.waitstatus_to_exitcode(status)} before "
            "it reported (its stderr may say why: e.g. a thread that could not be created)")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _read_all(fd: int, timeout: float | None = None) -> bytes | None:
    """Everything until end-of-file; None when ``timeout`` seconds pass first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # At most a day a wait: select refuses a timeout past time_t (--max_batch_time 1e300)
            if not select.select([fd], [], [], min(left, 86400.0))[0]:
                continue
        chunk = os.read(fd, _MESSAGE_LIMIT)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")[:_MESSAGE_LIMIT - 1]
    while data:
        data = data[os.write(fd, data):]


#: The ``/proc`` files read here (without blocking, at most PROC_BYTES: about 1.5 KiB each).
PROC_STATUS, PROC_MEMINFO, PROC_BYTES = "/proc/self/status", "/proc/meminfo", 64 << 10


def _proc_field(path: str, field_name: str) -> int | None:
    """A ``kB`` field of a ``/proc`` file, in bytes; None when the file has none. Raises
    ``OSError`` (a FIFO, a device, too large: :func:`safeio.read_capped`) or ``ValueError``."""
    for line in read_capped(path, PROC_BYTES).decode("ascii", "replace").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return None


def proc_status_bytes(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmData``, ``VmSize``), in bytes."""
    try:
        found = _proc_field(PROC_STATUS, field_name)
    except (OSError, ValueError, IndexError) as err:
        raise BenchmarkError(f"--batch_size max on a CPU cannot read {PROC_STATUS}: "
                             f"{getattr(err, 'strerror', None) or err}") from None
    if found is None:
        raise BenchmarkError(f"{PROC_STATUS} has no {field_name}: --batch_size max on a CPU "
                             "needs Linux")
    return found


#: The limits tried, best first: (resource name, /proc/self/status field it is compared with).
_LIMITS = (("RLIMIT_DATA", "VmData"), ("RLIMIT_AS", "VmSize"))


def limit_memory(budget: int) -> tuple[int, tuple[int, int], str]:
    """Let this process's memory grow by ``budget`` bytes at most: ``RLIMIT_DATA`` (else
    ``RLIMIT_AS``) set to the current size plus ``budget``, checked to be enforced. Returns
    the resource, its previous limits and ``rlimit_data``/``rlimit_as``. Garbage is collected
    first: what the process would free later is not part of its size, else freeing it (a
    collection that happens to fall inside the probe) makes room beyond ``budget``.

    A limit counts mappings, but the C heap reuses its free chunks without mapping anything:
    a process that had freed 293 MiB let a 200 MiB probe "fit" in 64 MiB. So the heap's free
    chunks are first taken (:func:`absorb_free_heap`, never used: the probe is a child that
    exits) while the limit holds the size where it is, and only then is the budget given."""
    import resource

    gc.collect()
    for name, field_name in _LIMITS:
        which = getattr(resource, name)
        old = resource.getrlimit(which)
        malloc_free_bytes(trim=True)  # the free top of the heap is given back, not taken
        size = proc_status_bytes(field_name) + ABSORB_SLACK
        if not _try_limit(which, old, size, 0):
            continue
        absorb_free_heap()  # the slack too: the process ends it near ``size``
        if _try_limit(which, old, size + budget, budget):
            return which, old, name.lower()
    raise BenchmarkError("neither RLIMIT_DATA nor RLIMIT_AS limits memory on this system: "
                         "--batch_size max cannot probe a CPU within a budget; give a batch size")


#: Room to grow while the heap's free chunks are taken (Python may map an arena meanwhile).
ABSORB_SLACK = 4 * MIB


def _try_limit(which: int, old: tuple[int, int], soft: int, room: int) -> bool:
    """Set the soft limit ``soft`` (at most the hard one); True when a mapping of ``room``
    and 64 MiB more is refused, else the old limits are back and False."""
    import resource

    if old[1] != resource.RLIM_INFINITY:
        soft = min(soft, old[1])
    resource.setrlimit(which, (soft, old[1]))
    if _enforced(room):
        return True
    resource.setrlimit(which, old)
    return False


def absorb_free_heap(smallest: int = 4096) -> None:
    """Take what the C allocator (glibc) has free and the room left below the limit, in chunks
    from the largest power of two below its free bytes (at least :data:`ABSORB_SLACK`) down to
    ``smallest``, each size while it is granted; under a limit
    near the current size only free chunks (and what is left below the limit) can grant them.
    Nothing is kept in Python meanwhile (each pointer is dropped): the loop needs no memory of
    its own once the limit is reached. Never freed: call it only in a probe's child."""
    import ctypes

    # From at least the slack down: with no free chunk reported (a heap with none, or a C
    # library without ``mallinfo2``) the slack is still room below the limit that a probe would
    # get beyond its budget (a CI machine found 64 MiB in 64 that way).
    free = max(malloc_free_bytes(), ABSORB_SLACK, smallest)
    malloc = ctypes.CDLL(None).malloc
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    size = 1 << (free.bit_length() - 1)
    try:
        while size >= smallest:
            while malloc(size):
                pass
            size >>= 1
    except MemoryError:  # Python itself found no room: what is taken is taken
        return


def malloc_free_bytes(trim: bool = False) -> int:
    """Bytes free in the C allocator's main arena (glibc ``mallinfo2().fordblks``): mapped,
    so counted by ``VmData``, yet reusable by a probe. 0 where unknown (not glibc). ``trim``:
    first give the free top of the heap back to the system (``malloc_trim(0)``), so that less
    of the budget depends on reusing fragments."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
        if trim:
            libc.malloc_trim(0)
    except (OSError, AttributeError):
        return 0
    mallinfo2.restype = MallInfo2
    return int(mallinfo2().fordblks)


def _enforced(budget: int) -> bool:
    """Whether a private writable mapping of ``budget`` and 64 MiB more is refused (never
    touched, so it costs no memory when it is not)."""
    try:
        mapping = mmap.mmap(-1, budget + 64 * MIB, flags=mmap.MAP_PRIVATE)
    except OSError:
        return True
    mapping.close()
    return False


def _set_limit(which: int, limits: tuple[int, int]) -> None:
    import resource

    resource.setrlimit(which, limits)


def mem_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None when unknown."""
    try:
        return _proc_field(PROC_MEMINFO, "MemAvailable")
    except (OSError, ValueError, IndexError):
        return None


def cpu_budget(budget_mb: float) -> int:
    """A CPU probe's budget in bytes: ``--memory_budget_mb``, else :data:`CPU_BUDGET_SHARE` of
    ``MemAvailable``."""
    if budget_mb > 0:
        return int(budget_mb * MIB)
    try:
        available, why = _proc_field(PROC_MEMINFO, "MemAvailable"), f"not in {PROC_MEMINFO}"
    except (OSError, ValueError, IndexError) as err:
        available = None
        why = f"cannot read {PROC_MEMINFO}: {getattr(err, 'strerror', None) or err}"
    if not available:
        raise BenchmarkError(f"--batch_size max: MemAvailable is unknown ({why}); give "
                             "--memory_budget_mb")
    return int(available * CPU_BUDGET_SHARE)


def preload(model: ModelSpec) -> None:
    """Import what every probe needs once, in the parent (a child would import it again for
    each probe, under its budget): the workload's modules, the model's entry and the
    optimizer (whose first construction imports ``torch._dynamo``, seconds). Runs no torch
    computation (see the module's doc)."""
    import torch

    from pytorch_benchmarks.data import synthetic  # noqa: F401
    from pytorch_benchmarks.models import get_model_info
    from pytorch_benchmarks.run import workload  # noqa: F401 - the models, runners and data
    from pytorch_benchmarks.run.phases import make_optimizer

    get_model_info(model.name, model.config)
    make_optimizer(torch.nn.Linear(1, 1, bias=False))


def find_max_batch(spec: Spec, ctx: DistContext, facts: Callable[[dict], None],
                   warn: Callable[[str], None], classify: Classify,
                   describe: Describe, near_edge: NearEdge | None = None,
                   clock: Callable[[], float] = time.monotonic) -> int:
    """Search the largest batch for ``spec`` (its ``--batch_size`` is ``max``), within the
    limits of ``spec.max_batch``, writing the
    ``exp.max_batch_*`` facts first and the probes as they end; return the batch. Raises
    :class:`NoBatchFits` when batch 1 does not fit."""
    checks.enforce(checks.subject_of(spec.model, spec.data, spec.run, ctx.world_size,
                                     ctx.enabled), None, "flags")  # one process, no torchrun
    preload(spec.model)
    limits = spec.max_batch
    start = time.perf_counter()

    def step(batch: int) -> float:
        return probe_step(spec, ctx, batch)

    def dynamic_step(batch: int) -> float:
        with dynamic_graphs():
            return probe_step(spec, ctx, batch)

    probe: InProcessProber | ForkProber
    dynamic: InProcessProber | None = None
    restore: Callable[[], None] = _nothing
    if spec.device.device == "gpu":
        budget_mb, enforced_by, restore = _gpu_budget(limits.memory_budget_mb,
                                                      spec.device.num_gpus)
        probe = InProcessProber(step, classify, describe, cuda_cleanup, near_edge)
        if spec.device.compile and not spec.run.generate:  # --generate runs eager
            dynamic = InProcessProber(dynamic_step, classify, describe, cuda_free, near_edge)
    else:
        budget = cpu_budget(limits.memory_budget_mb)
        budget_mb, enforced_by = round(budget / MIB, 1), "rlimit_data"
        probe = ForkProber(step, budget, classify, describe)
    facts({"exp.max_batch_limit": limits.limit, "exp.max_batch_budget_mb": budget_mb,
           "exp.max_batch_memory_limit": enforced_by, "exp.max_batch_time": limits.time})
    probes: list[dict[str, Any]] = []

    def seen(outcome: Probe) -> None:
        probes.append(outcome.fact())
        facts({"results.max_batch_probes": probes})
        verdict = "fits" if outcome.fits else (
            f"does not fit ({outcome.reason})" if outcome.fits is False else outcome.reason)
        graph = f" ({outcome.graph} graph)" if outcome.graph else ""
        print(f"max batch: batch {outcome.batch}{graph} {verdict} [{outcome.seconds:.1f} s]",
              file=sys.stderr, flush=True)

    try:
        found = (compiled_search(dynamic, probe, limits.limit, seen, limits.time, clock)
                 if dynamic is not None
                 else search(probe, limits.limit, seen, limits.time, clock))
    finally:
        restore()
    if isinstance(probe, ForkProber) and probe.enforced_by not in (None, enforced_by):
        facts({"exp.max_batch_memory_limit": probe.enforced_by})
    facts({"results.max_batch": found.max_batch, "results.max_batch_capped": found.capped,
           "results.max_batch_timed_out": found.timed_out,
           "results.max_batch_confirmed": found.confirmed,
           "results.max_batch_seconds": round(time.perf_counter() - start, 3)})
    if found.dynamic_max_batch is not None:
        facts({"results.max_batch_dynamic": found.dynamic_max_batch})
    if found.max_batch == 0:
        budget_text = f"{budget_mb} MiB" if budget_mb is not None else "the GPU's memory"
        raise NoBatchFits(f"--batch_size max: batch 1 does not fit in {budget_text} "
                          f"({found.probes[0].reason})")
    if not found.confirmed:  # not a lower bound: the dynamic graph's edge
        warn(f"--batch_size max: batch {found.max_batch} fit with the search's dynamic-batch "
             "graph, but --max_batch_time ended the search before the static graph the timed "
             "run compiles was probed at it (results.max_batch_confirmed false): the timed run "
             "may run out of memory; raise --max_batch_time")
    elif found.timed_out:
        warn(time_out_warning(found, limits.time))
    if found.capped:
        warn(f"--batch_size max: batch {found.max_batch} (--max_batch_limit) still fits, so "
             "results.max_batch is a lower bound of the largest batch; raise --max_batch_limit "
             "to search further")
    return found.max_batch


def time_out_warning(found: Search, time_limit: float) -> str:
    """What a search ended by ``--max_batch_time`` found: a lower bound, and how far up (of
    the graph the timed run runs: not a compiled search's dynamic one)."""
    failed = [p.batch for p in found.probes if p.fits is False and p.graph != "dynamic"]
    above = (f"batch {min(failed)} did not fit" if failed
             else "no larger batch was seen not to fit")
    return (f"--batch_size max: the search stopped at --max_batch_time ({time_limit:g} s) after "
            f"{len(found.probes)} probe{'s' if len(found.probes) != 1 else ''}: results.max_batch {found.max_batch} is the largest "
            f"batch that fit so far, a lower bound ({above}); raise --max_batch_time to search "
            "further")


def _nothing() -> None:
    """Nothing to undo."""


def _gpu_budget(budget_mb: float, num_gpus: int) -> tuple[float | None, str, Callable[[], None]]:
    """``--memory_budget_mb`` on a GPU: the probes' share of the device's memory (the run
    after them has the whole device). Returns the budget in MiB (None: the whole device), how
    it is enforced, and what undoes it."""
    import torch

    if budget_mb <= 0:
        return None, "gpu_memory", _nothing
    devices = range(min(max(1, num_gpus), torch.cuda.device_count()))
    for device in devices:  # the GPUs of this process (DataParallel: each of them)
        total = torch.cuda.get_device_properties(device).total_memory
        fraction = min(1.0, budget_mb * MIB / total)
        torch.cuda.set_per_process_memory_fraction(fraction, device)

    def restore() -> None:
        for device in devices:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
    return round(budget_mb, 1), "gpu_memory_fraction", restore
