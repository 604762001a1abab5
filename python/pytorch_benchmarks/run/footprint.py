"""What a model's state needs in memory before it runs, and a refusal when a device cannot hold
it (the first part of the memory plan of the issue "Sharded LLM training").

The state of one process: the weights, and in training their gradients and the optimiser's
state (SGD's momentum: one more copy; AdamW's two moments: two) and, under DDP, its gradient buckets (one more copy of
the gradients). The model is built on the meta device to count it: no memory, milliseconds
even for a 70B model. Activations, the workspace of kernels and the allocator's slack come on
top, so this is a floor: a run it refuses cannot fit; a run it lets through may still run out
of memory (and fails as it did before, with the device's words).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pytorch_benchmarks.errors import BenchmarkError


@dataclass(frozen=True)
class Footprint:
    """The state of one process in bytes, by part."""

    parameters: int
    weights: int
    gradients: int
    optimizer: int
    buckets: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.buckets


#: Optimizer states per trained weight, each of the weight's dtype (SGD's momentum; AdamW's
#: first and second moments).
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}
#: How a refusal names an optimizer's state.
OPTIMIZER_STATE_NAMES = {"sgd": "SGD momentum", "adamw": "AdamW moments"}


def footprint(model: nn.Module, training: bool, ddp: bool = False,
              shards: int = 1, optimizer: str = "sgd") -> Footprint:
    """The state of ``model`` (built anywhere, the meta device included) in one process:
    weights at their own dtype; in training a gradient and the optimizer's states per weight
    (``OPTIMIZER_STATES``: SGD's momentum, AdamW's two moments), and DDP's
    buckets (a copy of the gradients) under torchrun; ``shards``: FSDP's shard group, over
    which weights, gradients and momentum are split (FSDP has no buckets; what it gathers
    for a unit's forward and backward comes on top, with the activations). Tied weights
    count once."""
    unique = {id(p): p for p in model.parameters()}.values()
    count = sum(p.numel() for p in unique)
    weights = -(-sum(p.numel() * p.element_size() for p in unique) // shards)
    trained = -(-sum(p.numel() * p.element_size() for p in unique if p.requires_grad)
                // shards)
    gradients = trained if training else 0
    return Footprint(parameters=count, weights=weights, gradients=gradients,
                     optimizer=trained * OPTIMIZER_STATES[optimizer] if training else 0,
                     buckets=trained if training and ddp and shards == 1 else 0)


def available_bytes(device: torch.device, meminfo: str = "/proc/meminfo") -> int | None:
    """What the device can still hold: a GPU's free memory (``torch.cuda.mem_get_info``), the
    host's ``MemAvailable`` for the CPU; None when it cannot be read (then nothing is
    refused)."""
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError, AttributeError):
            return None
        return int(free)
    if device.type != "cpu":
        return None
    try:
        text = Path(meminfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def refusal(name: str, need: Footprint, device: torch.device, free: int | None,
            training: bool, sharing: int = 1, sharded: bool = False,
            optimizer: str = "sgd") -> str | None:
    """Why ``need`` cannot run on ``device`` with ``free`` bytes, or None."""
    if free is None or need.total <= free:
        return None
    parts = [f"weights {_gb(need.weights)}"]
    if training:
        parts += [f"gradients {_gb(need.gradients)}",
                  f"{OPTIMIZER_STATE_NAMES[optimizer]} {_gb(need.optimizer)}"]
        if need.buckets:
            parts.append(f"DDP buckets {_gb(need.buckets)}")
    where = "free on the GPU" if device.type == "cuda" else "available on this host"
    where += "" if sharing <= 1 else f" for each of its {sharing} processes"
    advice = "a smaller model or --model_config with fewer layers"
    if training and need.weights <= free:
        advice = "inference (--forward_only), " + advice
    if training:
        advice = ("shard it over more ranks, " if sharded else
                  "shard it over ranks (--parallelism fsdp under torchrun), ") + advice
    return (f"model '{name}' ({need.parameters / 1e9:.2f} B parameters) needs at least "
            f"{_gb(need.total)} before any activation ({', '.join(parts)}), more than the "
            f"{_gb(free)} {where} ({device}); {advice}")


def check_fits(name: str, meta_model: nn.Module, device: torch.device, training: bool,
               ddp: bool = False, free: int | None = None, sharing: int = 1,
               shards: int = 1, sharded: bool = False, optimizer: str = "sgd") -> Footprint:
    """The footprint of ``meta_model``; :class:`BenchmarkError` when ``device`` cannot hold
    it (``free``: the bytes it can hold, read from the device when None; ``sharing``: the
    processes of this run that hold a copy in that memory, e.g. torchrun's ranks on one
    host's CPU)."""
    need = footprint(meta_model, training, ddp, shards, optimizer)
    if free is None:
        free = available_bytes(device)
    if free is not None and sharing > 1:
        free //= sharing
    problem = refusal(name, need, device, free, training, sharing, sharded, optimizer)
    if problem:
        raise BenchmarkError(problem)
    return need


def meta_model(build: Callable[[], nn.Module]) -> nn.Module | None:
    """``build()`` on the meta device (shapes, no storage); None for a model that cannot be
    built there (one that reads its weights' values while it is made): nothing is checked."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:  # noqa: BLE001 - any failure only means: not checked here
        return None
