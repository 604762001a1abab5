"""Ask the benchmark what it would refuse of an experiment, before anything runs.

``validate`` (and ``run`` before its first experiment) passes each experiment's
``benchmarks.py`` flags, exactly as the launch script would (:func:`benchmark_flags`), to the
benchmark's own torch-free checks (:func:`pytorch_benchmarks.preflight.preflight`): the same
functions the benchmark calls when it runs, not a copy of them. Each refusal is named by the
parameters whose flags it concerns (``exp.seq_len`` for ``--seq_len``). Experiments that
pass the same flags are checked once (a sweep of repeats or of log folders costs one check).
Nothing is run, no file is written. The memory plan of a rank (a Llama's training step:
:func:`pytorch_benchmarks.preflight.memory_plan`) comes from the same place, for ``validate``
and ``print --format table`` to show.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from pytorch_benchmarks.preflight import gb_text, memory_plan, preflight

from dlbs.experiment import Experiment
from dlbs.launchers.benchmark import benchmark_flags, num_replicas, pairs, serve_flags
from dlbs.launchers.torchrun import launches_torchrun, num_nodes
from dlbs.params import catalogue

#: The parameters behind the flags the launcher makes of several, or of none of its own (and
#: behind ``WORLD_SIZE``): declared with them in config/*.json (``computed_flags``); every
#: other flag is one parameter's (its ``flag``).
COMPUTED_FLAGS: dict[str, tuple[str, ...]] = catalogue.computed_flags()


def flag_parameters() -> dict[str, tuple[str, ...]]:
    """``benchmarks.py`` flag -> the parameters it is made of."""
    table: dict[str, tuple[str, ...]] = {flag: (name,) for flag, name in pairs("benchmark")}
    table.update(COMPUTED_FLAGS)
    return table


def _named(flags: tuple[str, ...], argv: tuple[str, ...], world: int) -> str:
    """``exp.seq_len=2000 (--seq_len)``-like names of the parameters behind ``flags`` that the
    experiment sets (a flag the launch script leaves out is the benchmark's default)."""
    table, parts = flag_parameters(), []
    for flag in flags:
        if flag == "WORLD_SIZE":
            if world > 1:
                parts.append(f"exp.num_replicas={world} (torchrun's WORLD_SIZE)")
            continue
        if flag not in argv:
            continue
        value = argv[argv.index(flag) + 1] if argv.index(flag) + 1 < len(argv) else ""
        names = "/".join(table.get(flag, ()) or ("(no parameter)",))
        parts.append(f"{names}={value} ({flag})")
    return ", ".join(parts) or "the benchmark's defaults"


@lru_cache(maxsize=4096)
def _refusals(argv: tuple[str, ...], world: int, torchrun: bool, models_dir: Path | None,
              host: bool, local: int, detect: bool) -> tuple[str, ...]:
    """The refusals of one distinct command line, as problem lines (cached: a sweep's
    experiments that differ only in their log folder or repeat are checked once)."""
    return tuple(f"{_named(r.flags, argv, world)}: {r.message} (the benchmark's check "
                 f"'{r.check}')"
                 for r in preflight(argv, world, torchrun, models_dir, host, local, detect))


def benchmark_refusals(exp: Experiment, models_dir: Path | None,
                       host: bool) -> list[str]:
    """What ``benchmarks.py`` would refuse of ``exp``: one line each, naming the experiment's
    id and the parameters; ``models_dir`` is the zoo it runs (None: not on this host), ``host``
    whether this host runs it (then its data folder must exist here, and a memory plan without
    ``exp.device_memory_gb`` is judged against this host's device, unless the experiment is
    only simulated: ``exp.status=simulate`` prints what another host would run)."""
    argv = tuple(benchmark_flags(exp))
    nodes, local = num_nodes(exp), num_replicas(exp)
    world, torchrun = nodes * local, launches_torchrun(exp)
    lines = _refusals(argv, world, torchrun, models_dir, host, local,
                      host and exp.status != "simulate")
    where = f"exp.id {exp.id}: " if exp.id else ""
    return [f"{where}{line}" for line in lines]


#: The benchmark's check that refuses a memory plan above the device's memory.
MEMORY_CHECK = "memory_plan_fits"


def memory_refusals(exp: Experiment) -> list[str]:
    """The refusal of ``exp``'s memory plan against its ``exp.device_memory_gb`` (none when
    it fits or has no limit), in ``validate``'s words; no other check, and no device
    detected: an experiment without that limit is not checked at all."""
    if not exp.placement.device_memory_gb:
        return []
    return [line for line in benchmark_refusals(exp, zoo_folder(exp), False)
            if line.endswith(f"(the benchmark's check '{MEMORY_CHECK}')")]


@lru_cache(maxsize=4096)
def _plan(argv: tuple[str, ...], world: int, torchrun: bool, models_dir: Path | None,
          local: int) -> tuple[tuple[str, int], ...] | None:
    found = memory_plan(argv, world, torchrun, models_dir, local)
    return None if found is None else tuple(found.items())


def benchmark_memory_plan(exp: Experiment) -> dict[str, int] | None:
    """The memory plan of one rank of ``exp`` (bytes: weights, gradients, optimizer,
    activations, buffers, peak), as ``benchmarks.py`` computes it before it runs
    (``--device_memory_gb`` is judged against its peak), from the zoo the experiment runs
    (:func:`zoo_folder`); None when the benchmark has none for it (not a Llama's training
    step)."""
    argv = tuple(benchmark_flags(exp))
    found = _plan(argv, num_nodes(exp) * num_replicas(exp), launches_torchrun(exp),
                  zoo_folder(exp), num_replicas(exp))
    return None if found is None else dict(found)


#: The parts of a memory plan, in the order they are shown.
PLAN_PARTS = ("weights", "gradients", "optimizer", "activations", "buffers", "peak")


def plan_text(plan: Mapping[str, int]) -> str:
    """A memory plan in one line of GB (1e9 bytes): ``weights 4.0, ..., peak 45.2 GB``."""
    return ", ".join(f"{part} {gb_text(plan[part])}" for part in PLAN_PARTS) + " GB"


#: What a memory plan's figures are, said once under them.
PLAN_NOTE = ("note: memory plans are in GB of 10^9 bytes and count what the model holds; on a "
             "GPU the allocator's slack, kernel workspaces and NCCL buffers come on top: a floor")


def plan_lines(experiments: Sequence[Experiment]) -> list[str]:
    """One line per distinct memory plan of a rank among ``experiments``, naming the
    experiments that have it (by their index), then :data:`PLAN_NOTE` (none: no line)."""
    by_plan: dict[str, list[int]] = {}
    for index, exp in enumerate(experiments):
        found = benchmark_memory_plan(exp)
        if found is not None:
            by_plan.setdefault(plan_text(found), []).append(index)
    lines = [f"memory plan of one rank: {text} (experiment{'s' if len(where) > 1 else ''} "
             f"{_indices(where)})" for text, where in by_plan.items()]
    return [*lines, PLAN_NOTE] if lines else []


def _indices(where: list[int]) -> str:
    shown = ", ".join(str(i) for i in where[:8])
    return shown + (f" and {len(where) - 8} more" if len(where) > 8 else "")


def serve_refusals(exp: Experiment) -> list[str]:
    """What the load client (``exp.phase=serve``) would refuse of the experiment's
    ``serve.*`` parameters, from its own checks (nothing is sent): one line each."""
    from serving.loadgen import refusals

    where = f"exp.id {exp.id}: " if exp.id else ""
    return [f"{where}{line}" for line in refusals(serve_flags(exp))]


def zoo_folder(exp: Experiment) -> Path | None:
    """The ``models/`` folder of the benchmark code the experiment will run, when it is on
    this host (``runtime.code_dir`` is what a container gets mounted); None otherwise."""
    base = exp.code_dir if exp.in_container else exp.bench_path
    folder = Path(base) / "pytorch_benchmarks" / "models"
    return folder if base and folder.is_dir() else None
