"""Assemble one benchmark from its spec: model, device, data source and phase runner.

Responsibility: everything between the spec's model, data, device and run parts and a ready :class:`~runner.Runner` (model on
its device in its memory format, wrapped for DDP/DataParallel, compiled; synthetic or real
data), plus the facts that describe that set-up. It times nothing and writes no facts itself
(warnings go through the ``warn`` callback).
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from pytorch_benchmarks import checks
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.plan import memory_plan
from pytorch_benchmarks.run import footprint, numerics, tokens
from pytorch_benchmarks.run.checkpointing import checkpoint_blocks
from pytorch_benchmarks.run.generate import GenerateRunner
from pytorch_benchmarks.run.phases import DataRunner, InferRunner, Runner, TrainRunner
from pytorch_benchmarks.runtime import device_memory, distributed
from pytorch_benchmarks.runtime.device import DeviceSetup, setup_device
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.runtime.hostinfo import device_names
from pytorch_benchmarks.spec import DataSpec, DeviceSpec, ModelSpec, RunSpec

Warn = Callable[[str], None]


@dataclass
class Workload:
    """A ready runner, what describes it, and what to close afterwards."""

    setup: DeviceSetup
    facts: dict[str, Any]
    samples_per_iteration: int
    #: The devices the run uses (every rank's; a tensor-parallel group's ranks are one
    #: replica but each its own device): what MFU and per-device figures divide by.
    devices: int = 1
    #: The ranks of a tensor-parallel group (``--parallelism fsdp_tp``; else 1): each runs
    #: the attention of its share of the heads, so its counted attention is 1/tp of the
    #: group's (measure.flops).
    tp: int = 1
    runner: Runner | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: Each turns the timed iterations' times (s) into more ``results.*`` facts (tokens/s,
    #: latency percentiles...); called once timing is over, in order.
    result_hooks: list[Callable[[list[float]], dict[str, Any]]] = field(default_factory=list)

    def extra_results(self, times: list[float]) -> dict[str, Any]:
        """The facts every hook in :attr:`result_hooks` adds for ``times``."""
        extra: dict[str, Any] = {}
        for hook in self.result_hooks:
            extra.update(hook(times))
        return extra

    def close(self) -> None:
        """Stop loader workers and the like."""
        for close in self.closers:
            close()


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and :mod:`random` (model weights, synthetic data, augmentation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_input_shape(info: Any, image_size: int | None, warn: Warn) -> tuple[int, ...]:
    """The per-sample input shape, with ``--image_size`` applied to (C, H, W) images (one
    the model cannot take is refused by :mod:`pytorch_benchmarks.checks` first)."""
    shape = tuple(info.input_shape)
    if image_size is None:
        return shape
    if len(shape) != 3:
        warn(f"--image_size ignored: the model's input {shape} is not an image (C, H, W)")
        return shape
    return (shape[0], image_size, image_size)  # too small: refused by checks first


def with_detected_memory(about: checks.Subject, device: str,
                         ctx: DistContext) -> checks.Subject:
    """``about`` with the memory of this rank's device (a Llama's training step's plan is
    judged against it when ``--device_memory_gb`` is 0): ``runtime/device_memory.py``."""
    if about.device_memory_gb or about.forward_only:
        return about
    found = device_memory.of_run(device, ctx.local_rank, ctx.local_world_size)
    return about if found is None else replace(
        about, detected_memory_gb=found.gb, detected_memory=found.source)


def memory_plan_facts(about: checks.Subject, info: Any) -> dict[str, Any]:
    """The peak of a rank's memory plan (MiB, beside ``results.peak_memory_mb``) and the limit
    it was judged against, for a Llama's training step; nothing for other runs."""
    plan = memory_plan.plan_of(about, info)
    if plan is None:
        return {}
    facts: dict[str, Any] = {"exp.memory_plan_mb": round(plan.peak / 2**20, 1)}
    if about.device_memory_gb or about.detected_memory_gb:
        facts["exp.memory_limit_gb"] = round(about.device_memory_gb
                                             or about.detected_memory_gb, 3)
        facts["exp.memory_limit_source"] = ("--device_memory_gb" if about.device_memory_gb
                                            else about.detected_memory)
    return facts


def build_workload(model: ModelSpec, data: DataSpec, device: DeviceSpec, run: RunSpec,
                   ctx: DistContext, warn: Warn) -> Workload:
    """Build the model, data and runner that the spec's parts describe (``run.batch_size``
    is a number: a ``--batch_size max`` search is over)."""
    from pytorch_benchmarks.models import get_model_info  # the zoo imports every family

    info = get_model_info(model.name, model.config)  # --model_config: its overrides
    # What the metadata refuses: the same checks validate runs before a sweep (in this order)
    about = with_detected_memory(replace(
        checks.subject_of(model, data, run, ctx.world_size, ctx.enabled, device=device),
        local_ranks=ctx.local_world_size if ctx.enabled else 0), device.device, ctx)
    checks.enforce(about, info, "model")
    input_shape = resolve_input_shape(info, model.image_size, warn)
    tokens.check_flags(info, run.generate, device.compile, warn)
    seq_len = tokens.resolve_seq_len(info, model.seq_len, run.generate, warn)
    if seq_len is not None:
        input_shape = (seq_len,)
    local = (ctx.local_rank, ctx.local_world_size) if ctx.enabled else None
    setup = setup_device(device, local, warn, len(input_shape) + 1,
                         data.synthetic_on_host and data.source == "synthetic")
    distributed.init(ctx, setup.device)
    seed_everything(run.seed)
    _warn_unused_data_flags(data, warn)
    ignored = device.tp_degree and device.parallelism != "fsdp_tp"  # a sweep over it
    if ignored:
        warn(f"--tp_degree {device.tp_degree} ignored: it is the tensor-parallel group of "
             f"--parallelism fsdp_tp, not {device.parallelism}")
    if device.device_memory_gb and (run.forward_only or not info.tensor_parallel):
        warn(f"--device_memory_gb {device.device_memory_gb:g} ignored: the memory plan it is "
             f"judged against is a Llama's training step's, not {info.name}'s "
             f"{'inference' if run.forward_only else 'training'}")
    if device.compile and run.num_warmup_batches == 0:
        warn("--compile with --num_warmup_batches 0: compilation falls in the first timed "
             "iteration")
    # a tensor-parallel group of tp ranks is one replica: it reads one batch
    tp = distributed.tp_group(device.parallelism, device.tp_degree, ctx)
    devices = setup.num_devices * ctx.world_size
    replicas = devices // tp
    facts = {"exp.model_title": info.title, "exp.input_shape": list(input_shape),
             "exp.num_classes": info.num_classes, "exp.num_replicas": replicas,
             "exp.num_devices": devices,
             "exp.effective_batch": run.batch * replicas,
             "exp.device": str(setup.device), "exp.dtype_used": setup.dtype,
             "exp.backend_flags": setup.backend_flags,
             "hw.devices": device_names(setup.device, setup.num_devices)}
    if ignored:  # the log says what ran (its header has the plan's value)
        facts["exp.tp_degree"] = 0
    facts.update(memory_plan_facts(about, info))
    workload = Workload(setup=setup, facts=facts, samples_per_iteration=run.batch * replicas,
                        devices=devices, tp=tp)
    optimizer = resolve_optimizer(run.optimizer, info.optimizer)
    parts = _Parts(model, data, run, device.compile, ctx, workload, input_shape,
                   distributed.Sharding(device.parallelism, device.dp_shard,
                                        tp_degree=device.tp_degree), optimizer)
    workload.runner = _build_runner(parts, info.num_classes, info.inputs, warn)
    if isinstance(workload.runner, TrainRunner):
        workload.facts["exp.optimizer"] = optimizer
        workload.result_hooks.append(_loss_hook(workload.runner, ctx, setup.device))
    elif (isinstance(workload.runner, InferRunner) and data.source != "real"
          and not isinstance(workload.runner, GenerateRunner)):
        # a fixed input: synthetic data is one seeded batch (a loader's next batch is not);
        # generation times a prefill and decode steps, whose outputs one plain forward pass
        # over the prompt is not
        workload.result_hooks.append(_fingerprint_hook(workload.runner, ctx, setup.device))
    if seq_len is not None:
        workload.facts.update(tokens.token_facts(seq_len, run.generate))
        workload.result_hooks += tokens.result_hooks(workload.runner,
                                                     workload.samples_per_iteration, seq_len,
                                                     devices)
    if run.check_numerics:
        workload.result_hooks.append(_numerics_hook(workload.runner, parts))
    return workload


def resolve_optimizer(asked: str, model_default: str) -> str:
    """``--optimizer``: ``auto`` is the model's own (``ModelInfo.optimizer``)."""
    return model_default if asked == "auto" else asked


@dataclass(frozen=True)
class _Parts:
    """What the runner is built from: the spec's parts and what was resolved so far."""

    model: ModelSpec
    data: DataSpec
    run: RunSpec
    compile: bool
    ctx: DistContext
    workload: Workload
    input_shape: tuple[int, ...]
    #: --parallelism, --dp_shard, --tp_degree (the parameters' precision: set by _wrap)
    sharding: distributed.Sharding = field(default_factory=distributed.Sharding)
    optimizer: str = "sgd"                  # --optimizer, resolved (never auto)

    @property
    def batch_size(self) -> int:
        """The batch of this process: DataParallel splits it over its GPUs."""
        return self.run.batch * self.workload.setup.num_devices

    @property
    def data_rank(self) -> tuple[int, int]:
        """This process's data-parallel replica and their count (the ranks of a
        tensor-parallel group read one batch)."""
        return distributed.data_rank(self.ctx, self.workload.tp)


def _build_runner(parts: _Parts, num_classes: int, inputs: str = "dense",
                  warn: Warn | None = None) -> Runner:
    """The phase's runner: data-only, training or inference, on synthetic or real data."""
    setup = parts.workload.setup
    if parts.data.loader_only:
        return DataRunner(_real_source(parts), setup)
    _check_fits(parts)
    sharded = parts.ctx.enabled and parts.sharding.parallelism != "ddp"
    model, label_shape = build_model(parts.model.name, num_classes, parts.input_shape, setup,
                                     inputs, parts.model.config, on_meta=sharded)
    if parts.data.source == "real":
        source = _real_source(parts)
    else:
        source = _synthetic_source(parts, label_shape, num_classes, inputs)
    mode = parts.run.activation_checkpointing
    if not parts.run.forward_only and not parts.run.generate:
        wrapped = checkpoint_blocks(model, parts.model.name, mode)
        parts.workload.facts["exp.activation_checkpointing"] = mode
        if wrapped:
            parts.workload.facts["exp.checkpointed_blocks"] = wrapped
    model = _wrap(model, parts.compile, setup, parts.ctx, parts.sharding,
                  parts.workload.facts)
    if parts.run.generate:
        return GenerateRunner(model, source, setup, parts.run.generate, warn)
    if parts.run.forward_only:
        return InferRunner(model, source, setup)
    return TrainRunner(model, source, setup, parts.optimizer)


def _loss_hook(runner: TrainRunner, ctx: DistContext, device: torch.device
               ) -> Callable[[list[float]], dict[str, Any]]:
    """The numerics of a training run, the mean over the ranks (each rank's loss is its own
    batch's; one all-reduce under torchrun): ``results.loss_last`` (the last step's),
    ``results.loss_first`` (the first timed step's), ``results.loss_finite`` (every kept loss
    finite on every rank) and ``results.loss_decreasing`` (the last timed steps' mean below
    the first's; null with fewer than 2 timed steps)."""
    def hook(_times: list[float]) -> dict[str, Any]:
        if runner.last_loss is None:
            return {}
        kept = [runner.first_loss, *runner.recent_losses] if runner.first_loss is not None \
            else [runner.last_loss]
        values = torch.stack([t.float().reshape(()) for t in kept]).cpu().double()
        finite = torch.isfinite(values)
        window = values[1:] if len(values) > 1 else values
        figures = torch.tensor([runner.last_loss.float().item(), float(values[0]),
                                float(window.mean()), float((~finite).sum()),
                                float(runner.timed_steps)], dtype=torch.float64)
        figures = _rank_mean(figures, ctx, device)
        last, first, recent, not_finite, steps = figures.tolist()
        facts: dict[str, Any] = {"results.loss_last": last}
        if runner.first_loss is None:
            return facts
        finite_all = not_finite == 0
        facts.update({"results.loss_first": first, "results.loss_finite": finite_all,
                      "results.loss_decreasing": (recent < first) if finite_all and steps >= 2
                      else None})
        return facts
    return hook


def _rank_mean(figures: torch.Tensor, ctx: DistContext, device: torch.device) -> torch.Tensor:
    """``figures`` averaged over the ranks under torchrun (one all-reduce), on the CPU."""
    if not ctx.enabled:
        return figures
    return _all_reduced(figures, device) / ctx.world_size


def _all_reduced(figures: torch.Tensor, device: torch.device, op: Any = None) -> torch.Tensor:
    """``figures`` all-reduced over the ranks (``op``, a sum by default; on the GPU under
    NCCL, else on the CPU), back on the CPU."""
    figures = figures.to(device if device.type == "cuda" else torch.device("cpu"))
    torch.distributed.all_reduce(figures, op=op if op is not None
                                 else torch.distributed.ReduceOp.SUM)
    return figures.cpu()


def _fingerprint_hook(runner: InferRunner, ctx: DistContext, device: torch.device
                      ) -> Callable[[list[float]], dict[str, Any]]:
    """An inference run's fingerprint, after timing: one more forward pass on its synthetic
    batch (one fixed, seeded batch), its outputs' L2 norm and sum (float64, over
    the float32 values: a checksum that a numerically different run moves) and whether every
    output is finite; the mean over the ranks."""
    def hook(_times: list[float]) -> dict[str, Any]:
        out = runner.fingerprint_output()
        if out is None:
            return {}
        values = out.detach().float().double()
        figures = torch.tensor([float(values.norm()), float(values.sum()),
                                float((~torch.isfinite(values)).sum())], dtype=torch.float64)
        figures = _rank_mean(figures, ctx, device)
        norm, total, not_finite = figures.tolist()
        return {"results.output_norm": norm, "results.output_sum": total,
                "results.output_finite": not_finite == 0}
    return hook


def _numerics_hook(runner: Runner, parts: _Parts) -> Callable[[list[float]], dict[str, Any]]:
    """``--check_numerics``, after timing: the run's forward pass against a float32 eager
    copy of its weights (:mod:`pytorch_benchmarks.run.numerics`); the worst over the ranks
    (one all-reduce under torchrun), and the seconds it took (outside the timed window)."""
    setup = parts.workload.setup

    def hook(_times: list[float]) -> dict[str, Any]:
        if isinstance(runner, GenerateRunner) or not isinstance(runner, (TrainRunner,
                                                                        InferRunner)):
            return {"results.numerics_note": "not checked: the check compares a forward "
                                             "pass (training or inference runs)"}
        started = time.perf_counter()
        tf32 = setup.is_cuda and (torch.get_float32_matmul_precision() != "highest"
                                  or torch.backends.cudnn.allow_tf32)
        name = numerics.basis(setup.dtype, tf32, parts.compile)
        tolerance = numerics.tolerance_of(name, setup.device.type)
        verdict: numerics.Verdict | None = None
        why = ""
        try:
            verdict = _check_run(runner, parts, tolerance)
        except numerics.NotComparable as err:
            why = str(err)
        except Exception as err:  # noqa: BLE001 (an OOM of the copy, a model that fails in
            # eval mode: the run measured, the check did not; the note names the error)
            lines = str(err).strip().splitlines()
            why = f"{type(err).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
        finally:
            if setup.is_cuda:
                torch.cuda.empty_cache()
        verdict, why = _worst_over_ranks(verdict, why, parts.ctx, setup.device)
        if verdict is None:
            return {"results.numerics_note": f"not checked: {why}"}
        facts = numerics.facts_of(verdict, name)
        facts["results.numerics_seconds"] = round(time.perf_counter() - started, 3)
        return facts
    return hook


def _check_run(runner: TrainRunner | InferRunner, parts: _Parts,
               tolerance: float) -> numerics.Verdict:
    """One forward pass of the run's model as its steps ran it against its float32 copy (a
    sharded model's: one built again with its whole weights)."""
    from pytorch_benchmarks.models import create_model

    setup = parts.workload.setup
    if parts.ctx.enabled and parts.sharding.parallelism != "ddp":
        name, config = parts.model.name, parts.model.config
        reference = numerics.whole_reference(runner.model, lambda: create_model(name, config),
                                             setup.device)
    else:
        reference = numerics.reference_model(runner.model)
    inputs = runner.source()[0]
    model = runner.model

    def run_forward(batch: torch.Tensor) -> Any:
        context = runner.context() if isinstance(runner, InferRunner) else setup.autocast()
        with context:
            return model(batch)
    with numerics.evaluating(model, reference):
        return numerics.check(run_forward, reference, inputs, tolerance)


def _worst_over_ranks(verdict: numerics.Verdict | None, why: str, ctx: DistContext,
                      device: torch.device) -> tuple[numerics.Verdict | None, str]:
    """Under torchrun, every rank's outcome in one all-reduce (each rank takes part, checked
    or not, so none waits for another): not checked when a rank could not check (``why``),
    else the worst: outputs of another shape, then the largest error, judged again."""
    if not ctx.enabled:
        return verdict, why
    if verdict is None:
        figures = [1.0, 0.0, 0.0]
    else:
        figures = [0.0, float(math.isnan(verdict.error)),
                   0.0 if math.isnan(verdict.error) else verdict.error]
    unchecked, other_shape, worst = _all_reduced(
        torch.tensor(figures, dtype=torch.float64), device, torch.distributed.ReduceOp.MAX
    ).tolist()
    if unchecked or verdict is None:
        return None, why or "another rank could not check its run"
    error = math.nan if other_shape else worst
    return numerics.Verdict(numerics.judge(error, verdict.tolerance), error,
                            verdict.tolerance), ""


def _check_fits(parts: _Parts) -> None:
    """Refuse, before any weight is allocated, a model whose state cannot fit the device (a
    70B model on a CPU host: a clear failure instead of the kernel's OOM killer)."""
    from pytorch_benchmarks.models import create_model

    name, config = parts.model.name, parts.model.config
    meta = footprint.meta_model(lambda: create_model(name, config))
    if meta is None:
        return
    device = parts.workload.setup.device
    sharing = parts.ctx.local_world_size if parts.ctx.enabled and device.type == "cpu" else 1
    parallelism = parts.sharding.parallelism
    shards = distributed.shard_group(parallelism, parts.sharding.dp_shard, parts.ctx)
    footprint.check_fits(name, meta, device, training=not parts.run.forward_only,
                         ddp=parts.ctx.enabled and parallelism == "ddp", sharing=sharing,
                         shards=shards, sharded=parts.ctx.enabled and parallelism != "ddp",
                         optimizer=parts.optimizer)


def _warn_unused_data_flags(data: DataSpec, warn: Warn) -> None:
    if data.source != "synthetic":
        if data.synthetic_on_host:
            warn("--synthetic_on_host ignored with real data (the loader pins its batches on "
                 "GPUs)")
        return
    if data.dir:
        warn(f"--data_dir {data.dir} ignored with --data synthetic")
    if data.shuffle:
        warn("--data_shuffle ignored with --data synthetic (one fixed batch)")
    if data.backend:
        warn(f"--data_backend {data.backend} ignored with --data synthetic")


def build_model(name: str, num_classes: int, input_shape: tuple[int, ...],
                setup: DeviceSetup, inputs: str = "dense", config: dict[str, Any] | None = None,
                on_meta: bool = False) -> tuple[nn.Module, tuple[int, ...]]:
    """The model on its device and memory format, and the label shape its output needs
    (a token model's: ``(seq_len,)``; its probe is a short sequence of token ids).
    ``on_meta`` (a sharded run): a model that can give its starting values again in place
    (``init_weights``) stays on the meta device, without storage, until it is sharded
    (:func:`_wrap` materialises each rank's part); any other is built whole."""
    from pytorch_benchmarks.models import create_model

    model: nn.Module | None = None
    if on_meta:
        with torch.device("meta"):
            model = create_model(name, config)
        if not distributed.builds_sharded(type(model)):
            model = None
    if model is None:
        # memory_format is a valid Module.to argument that torch's type stubs lack
        model = create_model(name, config).to(setup.device,  # type: ignore
                                              memory_format=setup.memory_format)
    device = torch.device("meta") if _on_meta(model) else setup.device

    was_training = model.training
    model.eval()
    with torch.no_grad():  # a 2-sample probe: sequence models need (N, T) labels
        output = model(tokens.probe(input_shape, device) if inputs == "tokens"
                       else torch.zeros((2, *input_shape), device=device))
    model.train(was_training)
    logits = output if isinstance(output, torch.Tensor) else output[0]
    if logits.shape[-1] != num_classes:
        raise BenchmarkError(f"model '{name}' outputs {logits.shape[-1]} classes, its registry "
                             f"entry says {num_classes}")
    return model, input_shape if inputs == "tokens" else tuple(logits.shape[1:-1])


def _wrap(model: nn.Module, compiled: bool, setup: DeviceSetup, ctx: DistContext,
          sharding: distributed.Sharding | None = None, facts: dict[str, Any] | None = None
          ) -> nn.Module:
    """DDP, FSDP2 or FSDP2 with tensor parallelism under torchrun (``sharding``:
    ``--parallelism``, ``--dp_shard``, ``--tp_degree``; how it was laid out goes into
    ``facts``), DataParallel for several GPUs in one process, then compile: the whole model,
    or under FSDP2 each transformer block before it is sharded (torchtitan's way: FSDP2's
    hooks between blocks stay outside the compiled graphs)."""
    per_block = (compiled and ctx.enabled and sharding is not None
                 and sharding.parallelism != "ddp"
                 and distributed.block_list(model) is not None)
    if ctx.enabled:
        sharding = sharding or distributed.Sharding()
        how = replace(sharding, param_dtype=setup.autocast_dtype
                      if sharding.parallelism != "ddp" else None, compile_blocks=per_block)
        built_on_meta = _on_meta(model)
        model, layout = distributed.wrap(model, ctx, setup.device, how)
        if built_on_meta:
            distributed.materialise(model, setup.device)
        if sharding.parallelism != "ddp":
            layout["exp.model_materialised"] = "sharded" if built_on_meta else "whole"
        if facts is not None:
            facts.update(layout)
    elif setup.num_devices > 1:
        first = setup.device.index or 0
        if setup.autocast_dtype is not None:
            model = ReplicaAutocast(model, setup.device.type, setup.autocast_dtype)
        model = nn.DataParallel(model, device_ids=list(range(first, first + setup.num_devices)))
    if compiled and not per_block:
        model = torch.compile(model)  # type: ignore[assignment]
    return model


def _on_meta(model: nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())


class ReplicaAutocast(nn.Module):
    """A module whose forward runs under autocast to ``dtype``, for ``nn.DataParallel``: its
    replicas run in threads, where torch re-enters autocast *without a dtype*
    (``torch/nn/parallel/parallel_apply.py``: ``torch.amp.autocast(device_type,
    enabled=...)``); autocast's dtype is thread-local, so a replica would compute in the
    device's default (CUDA: float16) whatever ``--dtype`` asked (bfloat16). Entering autocast
    in the forward is torch's own advice for DataParallel (the AMP notes)."""

    def __init__(self, module: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module
        self.device_type, self.dtype = device_type, dtype

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's forward under ``torch.autocast(device_type, dtype)``."""
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.module(*args, **kwargs)


def _synthetic_source(parts: _Parts, label_shape: tuple[int, ...], num_classes: int,
                      inputs: str = "dense") -> Callable[[], Any]:
    from pytorch_benchmarks.data.synthetic import batch_source, make_batch

    setup = parts.workload.setup
    batch = make_batch(parts.batch_size, parts.input_shape, label_shape, num_classes,
                       parts.run.seed + parts.data_rank[0], inputs)
    return batch_source(batch, setup.device, setup.memory_format, parts.data.synthetic_on_host)


def _real_source(parts: _Parts) -> Callable[[], Any]:
    """The DataLoader pipeline; its shutdown is registered with the workload."""
    from pytorch_benchmarks.data.loader import (
        LoaderSpec,
        RealSource,
        detect_backend,
        make_loader,
        open_dataset,
    )
    from pytorch_benchmarks.data.transforms import DeviceBatch

    data, input_shape, setup, ctx = parts.data, parts.input_shape, parts.workload.setup, parts.ctx
    # an image model (C, H, W): checks.enforce refused others; the folder must be there
    checks.enforce(checks.subject_of(parts.model, data, parts.run, ctx.world_size), None,
                   "host")
    backend = data.backend or detect_backend(data.dir)
    dataset = open_dataset(backend, data.dir, input_shape)
    spec = LoaderSpec(batch_size=parts.batch_size, num_workers=data.num_loader_threads,
                      shuffle=data.shuffle, seed=parts.run.seed, rank=parts.data_rank[0],
                      world=parts.data_rank[1], pin_memory=setup.is_cuda)
    normalise = None if data.loader_only else DeviceBatch(setup.device, input_shape[0],
                                                          setup.memory_format)
    source = RealSource(make_loader(dataset, spec), setup.device, normalise)
    parts.workload.closers.append(source.close)
    size = len(dataset)  # type: ignore[arg-type]
    parts.workload.facts.update({"exp.data_backend": backend, "exp.dataset_size": size})
    return source
