"""``--batch_size max`` for one run: the probers chosen, the search run, what it found said.

Responsibility: from the spec, the probers (:mod:`.probers`) and their memory limit
(:mod:`.limits`), the search (:mod:`.searches`), and what it found as the ``exp.max_batch_*``
and ``results.max_batch*`` facts, one stderr line a probe and the warnings of a lower bound;
the batch it returns is then timed as any other. It decides no batch itself and reads no
``/proc`` file itself.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytorch_benchmarks import checks
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.run.maxbatch import limits, probers, searches
from pytorch_benchmarks.run.maxbatch.probers import Classify, Describe, NearEdge
from pytorch_benchmarks.run.maxbatch.searches import Probe, Search
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import Spec


class NoBatchFits(BenchmarkError, MemoryError):
    """Batch 1 does not fit: a ``MemoryError``, so the run's status is ``oom``."""


@dataclass
class _Probers:
    """The probers of one search and their budget: ``probe`` (eager on a GPU, forked on a
    CPU), ``dynamic`` (a compiled search's first part on a GPU; None: one search), the budget
    in MiB (None: the whole GPU), how it is enforced, and what undoes it."""

    probe: probers.InProcessProber | probers.ForkProber
    dynamic: probers.InProcessProber | None
    budget_mb: float | None
    enforced_by: str
    restore: Callable[[], None]


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
    probers.preload(spec.model)
    bounds = spec.max_batch
    start = time.perf_counter()
    chosen = _choose_probers(spec, ctx, classify, describe, near_edge)
    facts({"exp.max_batch_limit": bounds.limit, "exp.max_batch_budget_mb": chosen.budget_mb,
           "exp.max_batch_memory_limit": chosen.enforced_by, "exp.max_batch_time": bounds.time})
    seen = _shown(facts)
    try:
        found = (searches.compiled_search(chosen.dynamic, chosen.probe, bounds.limit, seen,
                                          bounds.time, clock, reset=probers.reset_compiler)
                 if chosen.dynamic is not None
                 else searches.search(chosen.probe, bounds.limit, seen, bounds.time, clock))
    finally:
        chosen.restore()
    if isinstance(chosen.probe, probers.ForkProber) and \
            chosen.probe.enforced_by not in (None, chosen.enforced_by):
        facts({"exp.max_batch_memory_limit": chosen.probe.enforced_by})
    _write_results(found, facts, time.perf_counter() - start)
    if found.max_batch == 0:
        budget_text = (f"{chosen.budget_mb} MiB" if chosen.budget_mb is not None
                       else "the GPU's memory")
        raise NoBatchFits(f"--batch_size max: batch 1 does not fit in {budget_text} "
                          f"({found.probes[0].reason})")
    _warn_of_lower_bounds(found, bounds.time, warn)
    return found.max_batch


def _choose_probers(spec: Spec, ctx: DistContext, classify: Classify, describe: Describe,
                    near_edge: NearEdge | None) -> _Probers:
    """In this process on a GPU (a compiled search adds the dynamic-graph prober), in forked
    children within :func:`~.limits.cpu_budget` on a CPU. The probes call
    :func:`.probers.probe_step` through its module, where a test replaces it."""
    def step(batch: int) -> float:
        return probers.probe_step(spec, ctx, batch)

    def dynamic_step(batch: int) -> float:
        with probers.dynamic_graphs():
            return probers.probe_step(spec, ctx, batch)

    budget_mb_flag = spec.max_batch.memory_budget_mb
    if spec.device.device == "gpu":
        budget_mb, enforced_by, restore = limits.gpu_budget(budget_mb_flag,
                                                            spec.device.num_gpus)
        dynamic = None
        if spec.device.compile and not spec.run.generate:  # --generate runs eager
            dynamic = probers.InProcessProber(dynamic_step, classify, describe,
                                              probers.cuda_free, near_edge)
        return _Probers(probers.InProcessProber(step, classify, describe,
                                                probers.cuda_cleanup, near_edge),
                        dynamic, budget_mb, enforced_by, restore)
    budget = limits.cpu_budget(budget_mb_flag)
    return _Probers(probers.ForkProber(step, budget, classify, describe), None,
                    round(budget / limits.MIB, 1), "rlimit_data", limits.nothing)


def _shown(facts: Callable[[dict], None]) -> Callable[[Probe], None]:
    """What tells of each probe as it ends: ``results.max_batch_probes`` (every probe so far)
    and one stderr line."""
    probes: list[dict[str, Any]] = []

    def seen(outcome: Probe) -> None:
        probes.append(outcome.fact())
        facts({"results.max_batch_probes": probes})
        verdict = "fits" if outcome.fits else (
            f"does not fit ({outcome.reason})" if outcome.fits is False else outcome.reason)
        graph = f" ({outcome.graph} graph)" if outcome.graph else ""
        print(f"max batch: batch {outcome.batch}{graph} {verdict} [{outcome.seconds:.1f} s]",
              file=sys.stderr, flush=True)
    return seen


def _write_results(found: Search, facts: Callable[[dict], None], seconds: float) -> None:
    """The ``results.max_batch*`` facts of the search ``found`` that took ``seconds``."""
    facts({"results.max_batch": found.max_batch, "results.max_batch_capped": found.capped,
           "results.max_batch_timed_out": found.timed_out,
           "results.max_batch_confirmed": found.confirmed,
           "results.max_batch_seconds": round(seconds, 3)})
    if found.dynamic_max_batch is not None:
        facts({"results.max_batch_dynamic": found.dynamic_max_batch})


def _warn_of_lower_bounds(found: Search, time_limit: float, warn: Callable[[str], None]) -> None:
    """A warning for each way ``found`` is not the edge: an unconfirmed dynamic edge, a
    time-out's lower bound, ``--max_batch_limit``'s lower bound."""
    if not found.confirmed:  # not a lower bound: the dynamic graph's edge
        warn(f"--batch_size max: batch {found.max_batch} fit with the search's dynamic-batch "
             "graph, but --max_batch_time ended the search before the static graph the timed "
             "run compiles was probed at it (results.max_batch_confirmed false): the timed run "
             "may run out of memory; raise --max_batch_time")
    elif found.timed_out:
        warn(searches.time_out_warning(found, time_limit))
    if found.capped:
        warn(f"--batch_size max: batch {found.max_batch} (--max_batch_limit) still fits, so "
             "results.max_batch is a lower bound of the largest batch; raise --max_batch_limit "
             "to search further")
