"""What one benchmark run is: the flags, parsed once, as a frozen, typed spec.

Responsibility: the shape of a run's description, split by concern, so that each module takes
the part it needs and says so in its signature (the workload its model, data, device and run;
the measurements theirs; the batch search its own). :mod:`pytorch_benchmarks.options` builds
it from ``argv`` and checks it; nothing else sees the command line. Values are already
normalised (``float`` is ``float32``, ``cuda`` is ``gpu``, ``--data`` is resolved). Standard
library only: no torch, no argparse.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: ``--batch_size max``: find the largest batch that fits (:mod:`pytorch_benchmarks.run.maxbatch`).
MAX_BATCH = "max"


@dataclass(frozen=True)
class ModelSpec:
    """The model: its zoo name, its settings, and the input size asked for."""

    name: str = "alexnet"
    config: dict[str, Any] | None = None  # --model_config: overrides of the model's own
    image_size: int | None = None         # None: the model's own
    seq_len: int | None = None            # tokens of a token model's sample (None: its own)


@dataclass(frozen=True)
class DataSpec:
    """Where the batches come from."""

    source: str = "synthetic"             # synthetic | real
    dir: str = ""
    backend: str | None = None            # caffe_lmdb | image_folder (None: detected)
    shuffle: bool = False
    num_loader_threads: int = 4
    loader_only: bool = False             # time the input pipeline alone
    synthetic_on_host: bool = False       # copy the synthetic batch from pinned host memory


#: How torchrun's ranks share a model (``--parallelism``).
PARALLELISMS = ("ddp", "fsdp", "hsdp", "fsdp_tp")
#: The optimizer of training (``--optimizer``); ``auto``: the model's own
#: (``ModelInfo.optimizer``: AdamW for transformers, SGD with momentum for the rest).
OPTIMIZER_CHOICES = ("auto", "sgd", "adamw")
#: Activation checkpointing of a transformer's blocks in training (``--activation_checkpointing``):
#: none, every block (full), every second block (selective: torchtitan's default, layer-wise).
ACTIVATION_CHECKPOINTING = ("none", "selective", "full")


@dataclass(frozen=True)
class DeviceSpec:
    """Where and in what precision the model runs."""

    device: str = "auto"                  # auto | cpu | gpu
    num_gpus: int = 1
    dtype: str = "float32"                # float32 | float16 | bfloat16
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = True
    cudnn_fastest: bool = False
    num_threads: int = 0                  # 0: the default rule (runtime.device.cpu_threads)
    local_rank: int | None = None         # DLBS's flags, accepted; the rank comes from the
    dist_backend: str | None = None       # launcher's environment
    parallelism: str = "ddp"              # ddp | fsdp | hsdp | fsdp_tp (under torchrun)
    dp_shard: int = 0                     # HSDP's shard group (0: the ranks of one node)
    tp_degree: int = 0                    # fsdp_tp's tensor-parallel group (0: one node's)
    device_memory_gb: float = 0.0         # the memory plan's limit (0: not judged before)


@dataclass(frozen=True)
class RunSpec:
    """What is timed, and for how long."""

    forward_only: bool = False
    batch_size: int | str = 16            # per replica; MAX_BATCH before the search
    generate: int = 0                     # decode steps per iteration (0: none)
    num_batches: int = 10
    num_warmup_batches: int = 2
    target_precision: float = 0.0
    max_time: float = 0.0
    seed: int = 0
    optimizer: str = "auto"               # auto | sgd | adamw (training)
    activation_checkpointing: str = "none"  # none | selective | full (training)
    check_numerics: bool = False          # after timing: the output against fp32 eager

    @property
    def phase(self) -> str:
        """``training`` or ``inference`` (``exp.phase``)."""
        return "inference" if self.forward_only else "training"

    @property
    def batch(self) -> int:
        """The batch per replica, once known (after a ``--batch_size max`` search)."""
        if not isinstance(self.batch_size, int):
            raise TypeError(f"the batch size is '{self.batch_size}' until it is searched")
        return self.batch_size


@dataclass(frozen=True)
class MaxBatchSpec:
    """The limits of the ``--batch_size max`` search."""

    limit: int = 4096
    memory_budget_mb: float = 0.0
    time: float = 600.0


@dataclass(frozen=True)
class MeasureSpec:
    """Measurements besides time."""

    peak_tflops: float = 0.0              # 0: the datasheet's or a measured CPU peak
    profile: str | None = None            # a folder for a profiler trace


@dataclass(frozen=True)
class OutputSpec:
    """Where the facts go, and whether only the model list is asked for."""

    log_file: str | None = None
    list_models: bool = False
    facts: str = "auto"                   # auto | stdout | log | none (--facts)


@dataclass(frozen=True)
class Spec:
    """A whole run, part by part."""

    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    device: DeviceSpec = DeviceSpec()
    run: RunSpec = RunSpec()
    max_batch: MaxBatchSpec = MaxBatchSpec()
    measure: MeasureSpec = MeasureSpec()
    output: OutputSpec = OutputSpec()

    def with_device(self, device: str) -> Spec:
        """The same run on ``device`` (``--device auto`` resolved)."""
        return replace(self, device=replace(self.device, device=device))

    def with_batch(self, batch_size: int) -> Spec:
        """The same run at ``batch_size`` (the batch a search found, a probe's)."""
        return replace(self, run=replace(self.run, batch_size=batch_size))
