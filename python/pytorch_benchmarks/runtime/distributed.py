"""Running under torchrun: process group, DistributedDataParallel, and a clean exit.

Responsibility: read ``RANK/LOCAL_RANK/WORLD_SIZE`` from the environment (torchrun sets
them), start the process group (gloo on CPU, nccl on GPU), wrap the model, combine the ranks'
iteration times, and end the worker without the abort-at-exit flake. Nothing here times or
reports; without torchrun every function is a no-op.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from torch import nn

from pytorch_benchmarks.errors import BenchmarkError


@dataclass(frozen=True)
class DistContext:
    """This process's place among the replicas (one process, rank 0, when not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    enabled: bool = False
    local_world_size: int = 1
    one_log: bool = False  # every node's output goes to one log (DLBS_LOG_PER=job)

    @property
    def is_main(self) -> bool:
        """Rank 0 of the whole job."""
        return self.rank == 0

    @property
    def writes_log(self) -> bool:
        """Who writes facts: the first process of each node, to that node's log (one log per
        node, as in a run by hand; the times are all-reduced, so every node logs the same
        results, and its own host facts). When all nodes share one log (a Slurm job:
        ``DLBS_LOG_PER=job``), rank 0 alone."""
        return self.rank == 0 if self.one_log else self.local_rank == 0


def detect(environ: dict[str, str] | None = None) -> DistContext:
    """The context torchrun describes in the environment (``LOCAL_RANK`` marks a launch)."""
    env = os.environ if environ is None else environ
    if "LOCAL_RANK" not in env or "WORLD_SIZE" not in env:
        return DistContext()
    return DistContext(rank=int(env.get("RANK", env["LOCAL_RANK"])),
                       local_rank=int(env["LOCAL_RANK"]),
                       world_size=int(env["WORLD_SIZE"]), enabled=True,
                       local_world_size=int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])),
                       one_log=env.get("DLBS_LOG_PER") == "job")


def init(ctx: DistContext, device: torch.device) -> None:
    """Join the process group: nccl for GPUs, gloo for CPUs."""
    if ctx.enabled and not dist.is_initialized():
        if device.type == "cuda":  # device_id: NCCL binds the communicator to this GPU now
            dist.init_process_group(backend="nccl", rank=ctx.rank, world_size=ctx.world_size,
                                    device_id=device)
        else:
            dist.init_process_group(backend="gloo", rank=ctx.rank, world_size=ctx.world_size)


@dataclass(frozen=True)
class Sharding:
    """How the ranks share the model (``--parallelism``, ``--dp_shard``, ``--tp_degree``) and
    the precision of the sharded parameters (``param_dtype``: None keeps float32)."""

    parallelism: str = "ddp"
    dp_shard: int = 0
    param_dtype: torch.dtype | None = None
    tp_degree: int = 0
    compile_blocks: bool = False  # --compile under FSDP2: each block, before it is sharded


def wrap(model: nn.Module, ctx: DistContext, device: torch.device,
         sharding: Sharding | None = None) -> tuple[nn.Module, dict[str, object]]:
    """The model as the ranks run it, and the facts that say how: DistributedDataParallel
    (``ddp``), or FSDP2 (``fully_shard`` on each transformer block, then on the root) over a
    1-D mesh of every rank (``fsdp``) or a 2-D mesh, replicated across groups of ``dp_shard``
    ranks and sharded within them (``hsdp``), or sharded across groups of ``tp_degree``
    consecutive ranks that split each block by tensor parallelism (``fsdp_tp``, mesh
    ``(shard, tp)``). ``model`` unchanged when not distributed. The steps are torchtitan's,
    in its order: :func:`apply_tp`, :func:`apply_compile`, :func:`apply_fsdp`."""
    sharding = sharding or Sharding()
    if not ctx.enabled:
        return model, {}
    if sharding.parallelism == "ddp":
        return apply_ddp(model, ctx, device)
    layout: dict[str, object] = {}
    if sharding.parallelism == "fsdp_tp":
        mesh, shape = apply_tp(model, ctx, device, sharding)
        layout["exp.tp_degree"] = shape[1]
    else:
        mesh, shape = data_mesh(ctx, device, sharding)
    if sharding.compile_blocks:
        layout["exp.compiled_blocks"] = apply_compile(model)
    apply_fsdp(model, mesh, sharding.param_dtype)
    precision = "float32" if sharding.param_dtype is None else \
        str(sharding.param_dtype).removeprefix("torch.")
    return model, {"exp.parallelism": sharding.parallelism, "exp.mesh_shape": list(shape),
                   **layout,
                   "exp.mixed_precision": f"parameters {precision}, gradient reduction "
                                          "float32"}


def apply_ddp(model: nn.Module, ctx: DistContext, device: torch.device
              ) -> tuple[nn.Module, dict[str, object]]:
    """DistributedDataParallel over every rank, and its facts."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids), {
        "exp.parallelism": "ddp", "exp.mesh_shape": [ctx.world_size]}


def data_mesh(ctx: DistContext, device: torch.device, sharding: Sharding
              ) -> tuple[Any, tuple[int, ...]]:
    """The mesh FSDP2 shards over, and its shape: every rank (``fsdp``), or groups that
    replicate across and shard within (``hsdp``: ``(replicate, shard)``)."""
    from torch.distributed.device_mesh import init_device_mesh

    if sharding.parallelism == "hsdp":
        group = shard_group(sharding.parallelism, sharding.dp_shard, ctx)
        shape: tuple[int, ...] = (ctx.world_size // group, group)
        return init_device_mesh(device.type, shape,
                                mesh_dim_names=("replicate", "shard")), shape
    shape = (ctx.world_size,)
    return init_device_mesh(device.type, shape, mesh_dim_names=("shard",)), shape


def apply_tp(model: nn.Module, ctx: DistContext, device: torch.device, sharding: Sharding
             ) -> tuple[Any, tuple[int, ...]]:
    """Split each transformer block by tensor parallelism over groups of ``tp_degree``
    consecutive ranks (``fsdp_tp``); the mesh FSDP2 then shards over (``shard``) and the
    2-D mesh's shape ``(shard, tp)``."""
    from torch.distributed.device_mesh import init_device_mesh

    from pytorch_benchmarks.runtime import tensor_parallel

    tp = tp_group(sharding.parallelism, sharding.tp_degree, ctx)
    blocks = list(block_list(model) or ())
    why = tensor_parallel.problem(blocks, tp)  # the checks judged its registration
    if why:
        raise BenchmarkError(f"--parallelism fsdp_tp cannot split this model: {why}")
    shape = (ctx.world_size // tp, tp)
    grid = init_device_mesh(device.type, shape, mesh_dim_names=("shard", "tp"))
    tensor_parallel.parallelize(blocks, grid["tp"])
    return grid["shard"], shape


def apply_fsdp(model: nn.Module, mesh: Any, param_dtype: torch.dtype | None) -> None:
    """FSDP2: ``fully_shard`` each shard unit (a transformer block), then the root, with
    parameters in ``param_dtype`` (None: their own) and gradients reduced in float32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in shard_units(model):
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)


def shard_group(parallelism: str, dp_shard: int, ctx: DistContext) -> int:
    """The ranks one copy of the state is split over: every rank (fsdp), a group of
    ``dp_shard`` (hsdp; 0: the ranks of one node), none (ddp, or not under torchrun)."""
    if not ctx.enabled or parallelism == "ddp":
        return 1
    if parallelism == "hsdp":
        return dp_shard or ctx.local_world_size
    return ctx.world_size  # fsdp; fsdp_tp: a block's state over every rank (dp x tp)


def tp_group(parallelism: str, tp_degree: int, ctx: DistContext) -> int:
    """The ranks one tensor-parallel group splits each block over: ``tp_degree`` (0: the
    ranks of one node) under fsdp_tp, else 1 (no tensor parallelism)."""
    if not ctx.enabled or parallelism != "fsdp_tp":
        return 1
    return tp_degree or ctx.local_world_size


def data_rank(ctx: DistContext, tp: int) -> tuple[int, int]:
    """This rank's place among the data-parallel replicas, and their count: the ranks of a
    tensor-parallel group (``tp`` consecutive ranks) are one replica and read one batch."""
    if not ctx.enabled:
        return 0, 1
    return ctx.rank // tp, ctx.world_size // tp


def apply_compile(model: nn.Module) -> int:
    """``torch.compile`` each block of a transformer's block list in place, before it is
    sharded, as torchtitan does (a model without one: the whole model is its one block,
    compiled by the caller); how many."""
    found = block_list(model)
    if found is None:
        return 0
    for index, block in enumerate(list(found)):
        found[index] = torch.compile(block)  # type: ignore[assignment]
    return len(found)


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The modules FSDP2 shards one by one before the root (each one's parameters gathered
    for its own forward and backward only): a transformer's blocks, its ``layers``,
    ``blocks`` or ``h`` (a ModuleList or Sequential), leaving out any block that shares a
    parameter with the rest of the model (FSDP2 would untie it). A model without such a
    list is one unit, the root: all its parameters are gathered at once."""
    found = block_list(model)
    return [] if found is None else [block for block in found if not _shares(block, model)]


def builds_sharded(model_type: type) -> bool:
    """Whether a model of this class can be built on the meta device and materialised
    sharded (it has ``init_weights``: every value it starts from, given again in place)."""
    return callable(getattr(model_type, "init_weights", None))


def materialise(model: nn.Module, device: torch.device) -> None:
    """Give a model built on the meta device and wrapped (FSDP2, tensor parallel) storage on
    ``device`` for the part each rank holds, then its starting values (``init_weights``).
    Parameters tied on the meta device stay tied (``to_empty`` gives each holder its own)."""
    ties = _ties(model)
    model.to_empty(device=device)
    for holder, attr, owner, owner_attr in ties:
        setattr(holder, attr, getattr(owner, owner_attr))
    model.init_weights()  # type: ignore[operator]  # builds_sharded said it has one


def _ties(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module, str]]:
    """Each parameter held by a second module: (that module, its name there, the first
    holder, its name there)."""
    first: dict[int, tuple[nn.Module, str]] = {}
    ties = []
    for _, module in model.named_modules(remove_duplicate=False):
        for attr, param in module.named_parameters(recurse=False):
            if id(param) in first and first[id(param)] != (module, attr):
                ties.append((module, attr, *first[id(param)]))
            first.setdefault(id(param), (module, attr))
    return ties


def block_list(model: nn.Module) -> nn.ModuleList | nn.Sequential | None:
    """A transformer's list of blocks: its ``layers``, ``blocks`` or ``h`` (a non-empty
    ModuleList or Sequential); None for a model without one."""
    for name in ("layers", "blocks", "h"):
        found = getattr(model, name, None)
        if isinstance(found, (nn.ModuleList, nn.Sequential)) and len(found):
            return found
    return None


def _shares(block: nn.Module, model: nn.Module) -> bool:
    """Whether a parameter of ``block`` is also held by a module outside it (tied weights)."""
    within = {id(m) for m in block.modules()}
    outside = {id(p) for _, module in model.named_modules(remove_duplicate=False)
               if id(module) not in within for p in module.parameters(recurse=False)}
    return any(id(p) in outside for p in block.parameters())


def slowest(times_s: list[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Per-iteration maximum over the ranks: an iteration ends when its slowest rank ends."""
    if not ctx.enabled:
        return times_s
    dev = device if device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor(times_s, dtype=torch.float64, device=dev)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def agree_signal(signum: int, ctx: DistContext, device: torch.device) -> int:
    """The largest signal number any rank has caught (0: none), on every rank.

    Called at every iteration boundary of a distributed run, so that all ranks stop after the
    same iteration: a rank that stopped alone would leave the others waiting in DDP's
    gradient all-reduce or in :func:`slowest`. A no-op outside a process group."""
    if not ctx.enabled or not dist.is_initialized():
        return signum
    dev = device if device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([signum], dtype=torch.int32, device=dev)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def finish(ctx: DistContext, code: int) -> NoReturn:
    """End a torchrun worker: on success wait for all ranks, leave the group, flush, exit.

    ``os._exit`` skips interpreter teardown, which sometimes aborts ("terminate called without
    an active exception") after ``destroy_process_group``. On failure the other ranks may be
    stuck in a collective, so skip the barrier: torchrun stops them when this worker exits.
    """
    if dist.is_initialized() and code == 0:
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
