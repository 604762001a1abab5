"""The max-batch probes: one short real run at a batch, and whether it fit.

Responsibility: build and run a probe's workload (:func:`probe_step`), in this process on a GPU
(:class:`InProcessProber`: out of memory is the answer, everything freed after) or in a forked
child within a memory budget on a CPU (:class:`ForkProber`: the child's limit from
:mod:`.limits`, its outcome on a pipe, killed at the search's time limit), and what a compiled
search needs (:func:`dynamic_graphs`, :func:`reset_compiler`). Which batch to probe is
:mod:`.searches`'; what a failure means is the benchmark's ``classify``. torch is imported
only inside the functions that run a probe: the children are forked before this process has
run any torch computation (see the package's doc).
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.run.maxbatch import limits
from pytorch_benchmarks.run.maxbatch.searches import Probe
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import ModelSpec, Spec

#: Untimed and timed steps of one probe (two steps: training's optimizer state exists from the
#: first step on, so the second one has the whole footprint).
PROBE_WARMUP, PROBE_STEPS = 1, 1
#: What a probe's outcome costs to report: the child's message on its pipe (bytes at most).
_MESSAGE_LIMIT = 1 << 16

Classify = Callable[[BaseException], str]
NearEdge = Callable[[BaseException], bool]
Describe = Callable[[BaseException], str]
Step = Callable[[int], float]


def preload(model: ModelSpec) -> None:
    """Import what every probe needs once, in the parent (a child would import it again for
    each probe, under its budget): the workload's modules, the model's entry and the
    optimizer (whose first construction imports ``torch._dynamo``, seconds). Runs no torch
    computation (see the package's doc)."""
    import torch

    from pytorch_benchmarks.data import synthetic  # noqa: F401
    from pytorch_benchmarks.models import get_model_info
    from pytorch_benchmarks.run import workload  # noqa: F401 - the models, runners and data
    from pytorch_benchmarks.run.phases import make_optimizer

    get_model_info(model.name, model.config)
    make_optimizer(torch.nn.Linear(1, 1, bias=False))


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
    compiler's graphs stay (the dynamic part of
    :func:`~pytorch_benchmarks.run.maxbatch.searches.compiled_search`)."""
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
    """Probes in forked children, each in a memory budget (a CPU): see the package's doc."""

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
            which, old, name = limits.limit_memory(self.budget)
        except BaseException as exc:  # noqa: BLE001 - reported as the run's failure
            _write(write_fd, {"status": "failure", "reason": self.describe(exc)})
            return
        message: dict[str, Any]
        try:
            self.step(batch)
            message = {"status": "ok"}
        except BaseException as exc:  # noqa: BLE001 - out of memory is an answer
            limits.set_limit(which, old)  # room to describe the error
            message = {"status": self.classify(exc), "reason": self.describe(exc)}
        limits.set_limit(which, old)
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
    """Kill the child ``pid`` and reap it (gone already: nothing to do)."""
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
    """Write ``message`` as JSON to the pipe ``fd``, cut to what the parent reads."""
    data = json.dumps(message).encode("utf-8")[:_MESSAGE_LIMIT - 1]
    while data:
        data = data[os.write(fd, data):]
