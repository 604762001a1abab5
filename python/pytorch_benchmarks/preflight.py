"""Everything the benchmark would refuse for a command line, found without running it.

Responsibility: one function, :func:`preflight`, that ``experimenter validate`` (and ``run``,
before its first experiment) calls on the flags each experiment's launch script would pass:
the benchmark's own parse (:func:`pytorch_benchmarks.options.parse_quietly`: argparse's
types, choices and bounds) and its own checks (:mod:`pytorch_benchmarks.checks`), with the
model's metadata read from the zoo's sources (:mod:`pytorch_benchmarks.models._zoo.metadata`).
No torch, no side effects (no fact, no folder, no exit); never imports ``dlbs``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pytorch_benchmarks import checks
from pytorch_benchmarks.checks import Refusal
from pytorch_benchmarks.models._zoo.metadata import model_metadata
from pytorch_benchmarks.models.names import PACKAGE_DIR, unknown_model_message
from pytorch_benchmarks.options import parse_quietly, subject
from pytorch_benchmarks.plan.memory_plan import gb_text
from pytorch_benchmarks.runtime import device_memory

__all__ = ["gb_text", "memory_plan", "preflight"]


def preflight(argv: Sequence[str], world_size: int = 1, torchrun: bool = False,
              models_dir: Path | None = PACKAGE_DIR, host: bool = False,
              local_ranks: int = 0, detect_memory: bool = False) -> list[Refusal]:
    """What ``benchmarks.py argv`` would refuse when started ``world_size`` times (by
    torchrun when ``torchrun``; ``local_ranks`` of them on one node, 0: all): a usage error
    alone (nothing else can be known then), else every refusal of the flag and model checks
    (the model's only when ``models_dir``, the zoo the experiment runs, is known and holds the
    model), and of the host checks when ``host`` (this is the host that runs it). With
    ``detect_memory`` too, a memory plan is judged against this host's device when
    ``--device_memory_gb`` is 0."""
    spec, usage = parse_quietly(argv)
    if spec is None:
        return [usage] if usage is not None else []
    about = replace(subject(spec, world_size, torchrun), local_ranks=local_ranks)
    if host and detect_memory and not about.device_memory_gb and not about.forward_only:
        found_memory = device_memory.of_host(spec.device.device, local_ranks or world_size)
        if found_memory is not None:
            about = replace(about, detected_memory_gb=found_memory.gb,
                            detected_memory=found_memory.source)
    # the model's name is checked against the zoo the experiment runs (not known: not checked)
    found = [r for r in checks.find_refusals(about, None, "flags") if r.check != "unknown_model"]
    if models_dir is not None:
        unknown = unknown_model_message(spec.model.name, models_dir)
        if unknown is not None:
            return [Refusal("unknown_model", checks.CHECKS["unknown_model"].flags, unknown),
                    *found]
        meta = model_metadata(spec.model.name, spec.model.config, models_dir)
        found += checks.find_refusals(about, meta, "model")
    if host:
        found += checks.find_refusals(about, None, "host")
    return found


def memory_plan(argv: Sequence[str], world_size: int = 1, torchrun: bool = False,
                models_dir: Path | None = PACKAGE_DIR, local_ranks: int = 0
                ) -> dict[str, int] | None:
    """The memory plan of one rank of ``benchmarks.py argv`` (bytes by part, and the peak:
    :mod:`pytorch_benchmarks.plan.memory_plan`), for a Llama's training step; None for
    anything else (inference, another model, a usage error, ``--batch_size max``). No torch."""
    from pytorch_benchmarks.plan.memory_plan import plan_of

    spec, _usage = parse_quietly(argv)
    if spec is None or models_dir is None or spec.run.forward_only:
        return None
    meta = model_metadata(spec.model.name, spec.model.config, models_dir)
    found = plan_of(replace(subject(spec, world_size, torchrun), local_ranks=local_ranks),
                    meta)
    return None if found is None else found.parts()
