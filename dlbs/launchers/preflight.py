"""Ask the benchmark what it would refuse of an experiment, before anything runs.

``validate`` (and ``run`` before its first experiment) passes each experiment's
``benchmarks.py`` flags, exactly as the launch script would (:func:`benchmark_flags`), to the
benchmark's own torch-free checks (:func:`pytorch_benchmarks.preflight.preflight`): the same
functions the benchmark calls when it runs, not a copy of them. Each refusal is named by the
parameters whose flags it concerns (``exp.seq_len`` for ``--seq_len``). Experiments that
pass the same flags are checked once (a sweep of repeats or of log folders costs one check).
Nothing is run, no file is written.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pytorch_benchmarks.preflight import preflight

from dlbs.experiment import Experiment, ExperimentLike
from dlbs.launchers.benchmark import (
    FLAG_PARAMS,
    NONZERO_FLAG_PARAMS,
    NOT_DEFAULT_FLAG_PARAMS,
    benchmark_flags,
    num_replicas,
)
from dlbs.launchers.torchrun import launches_torchrun, num_nodes

#: The parameters behind the flags the launcher computes (and behind ``WORLD_SIZE``).
COMPUTED_FLAGS: dict[str, tuple[str, ...]] = {
    "--forward_only": ("exp.phase",),
    "--num_gpus": ("exp.gpus",),
    "--device": ("exp.gpus", "exp.device_type"),
    "--max_batch_time": ("exp.max_batch_time",),
    "--num_threads": ("exp.cpu_threads",),
    "--data_dir": ("exp.data_dir",),
    "WORLD_SIZE": ("exp.num_replicas",),
}


def flag_parameters() -> dict[str, tuple[str, ...]]:
    """``benchmarks.py`` flag -> the parameters it is made of."""
    table: dict[str, tuple[str, ...]] = {
        flag: (name,) for flag, name in (*FLAG_PARAMS, *NONZERO_FLAG_PARAMS)}
    table.update((flag, (name,)) for flag, name, _default in NOT_DEFAULT_FLAG_PARAMS)
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
              host: bool) -> tuple[str, ...]:
    """The refusals of one distinct command line, as problem lines (cached: a sweep's
    experiments that differ only in their log folder or repeat are checked once)."""
    return tuple(f"{_named(r.flags, argv, world)}: {r.message} (the benchmark's check "
                 f"'{r.check}')"
                 for r in preflight(argv, world, torchrun, models_dir, host))


def benchmark_refusals(source: ExperimentLike, models_dir: Path | None,
                       host: bool) -> list[str]:
    """What ``benchmarks.py`` would refuse of ``exp``: one line each, naming the experiment's
    id and the parameters; ``models_dir`` is the zoo it runs (None: not on this host), ``host``
    whether this host runs it (then its data folder must exist here)."""
    exp = Experiment.of(source)
    argv = tuple(benchmark_flags(exp))
    nodes, local = num_nodes(exp), num_replicas(exp)
    world, torchrun = nodes * local, launches_torchrun(exp)
    lines = _refusals(argv, world, torchrun, models_dir, host)
    where = f"exp.id {exp.id}: " if exp.id else ""
    return [f"{where}{line}" for line in lines]
