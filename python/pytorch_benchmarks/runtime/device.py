"""The compute device, its backend flags and the precision (autocast, gradient scaler).

Responsibility: turn ``--device/--num_gpus/--dtype/--cudnn_*/--channels_last`` into a
:class:`DeviceSetup`, stating every flag that cannot apply (a warning line and fact) or
refusing it with :class:`BenchmarkError`. It builds no model and loads no data.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch

from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.spec import DeviceSpec

AUTOCAST_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class DeviceSetup:
    """Where and how the model runs."""

    device: torch.device
    num_devices: int = 1                    # >1: DataParallel over this many GPUs
    dtype: str = "float32"
    memory_format: torch.memory_format = torch.contiguous_format
    backend_flags: dict[str, Any] = field(default_factory=dict)

    @property
    def is_cuda(self) -> bool:
        """True when the model runs on a CUDA GPU."""
        return self.device.type == "cuda"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or ``None`` for full float32."""
        return AUTOCAST_DTYPES.get(self.dtype)

    def autocast(self) -> AbstractContextManager[Any]:
        """A fresh autocast context for this device and dtype (a no-op for float32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for float16 training (float16 gradients underflow without one)."""
        if self.dtype != "float16":
            return None
        return torch.amp.GradScaler(self.device.type)

    def synchronizer(self) -> Callable[[], None] | None:
        """``torch.cuda.synchronize`` on a GPU (read clocks only after it), ``None`` on a CPU."""
        return torch.cuda.synchronize if self.is_cuda else None


Warn = Callable[[str], None]


def setup_device(spec: DeviceSpec, local: tuple[int, int] | None, warn: Warn,
                 input_ndim: int, synthetic_on_host: bool = False) -> DeviceSetup:
    """Resolve the device and configure its backends.

    ``local`` is ``(LOCAL_RANK, LOCAL_WORLD_SIZE)`` under torchrun: each process then uses the
    GPU of its local rank. ``synthetic_on_host``: a synthetic batch was asked to stay in host
    memory (a CPU says it ignores that).
    """
    if spec.device == "cpu":
        setup = _cpu_setup(spec, warn, synthetic_on_host)
    else:
        setup = _gpu_setup(spec, local, warn)
    setup.dtype = _check_dtype(spec.dtype, setup, warn)
    setup.memory_format = _memory_format(spec.channels_last, input_ndim, warn)
    return setup


def _cpu_setup(spec: DeviceSpec, warn: Warn, synthetic_on_host: bool) -> DeviceSetup:
    if spec.num_gpus > 1:
        warn(f"--num_gpus {spec.num_gpus} ignored with --device cpu (use torchrun for "
             "several CPU replicas)")
    if spec.cudnn_fastest:
        warn("--cudnn_fastest ignored: it applies to GPUs only")
    if synthetic_on_host:
        warn("--synthetic_on_host ignored with --device cpu: the batch is in host memory")
    flags = {"num_threads": torch.get_num_threads(),
             "mkldnn": bool(torch.backends.mkldnn.is_available()),
             "float32_matmul_precision": torch.get_float32_matmul_precision()}
    return DeviceSetup(device=torch.device("cpu"), backend_flags=flags)


def _gpu_setup(spec: DeviceSpec, local: tuple[int, int] | None,
               warn: Warn) -> DeviceSetup:
    if not torch.cuda.is_available():
        raise BenchmarkError("--device gpu but CUDA is not available (torch "
                             f"{torch.__version__}); use --device cpu or a CUDA build of torch")
    available = torch.cuda.device_count()
    num = max(spec.num_gpus, 1)
    if spec.num_gpus == 0:
        warn("--num_gpus 0 with --device gpu: using one GPU")
    if local is not None:
        if num not in (1, local[1]):
            warn(f"--num_gpus {num}: under torchrun each of the {local[1]} local processes "
                 "uses one GPU (LOCAL_RANK)")
        num, index = 1, local[0]
    else:
        index = 0
    if index + num > available:
        raise BenchmarkError(f"asked for GPU(s) {index}..{index + num - 1} but only "
                             f"{available} visible; check --num_gpus and CUDA_VISIBLE_DEVICES")
    torch.cuda.set_device(index)
    flags = _set_gpu_backends(spec.cudnn_benchmark, spec.cudnn_fastest)
    if num > 1:
        warn(f"--num_gpus {num} without torchrun: using DataParallel (torchrun with "
             "DistributedDataParallel is faster)")
    return DeviceSetup(device=torch.device("cuda", index), num_devices=num, backend_flags=flags)


def _set_gpu_backends(benchmark: bool, fastest: bool) -> dict[str, Any]:
    """Set cuDNN auto-tuning and the float32 math; return what was set (written as a fact).

    ``float32`` means IEEE FP32 for convolutions and matmuls alike unless ``fastest``
    (``--cudnn_fastest``): then both run TF32 on tensor cores. torch's own default differs
    (cuDNN convolutions TF32, matmuls FP32): a float32 CNN would run TF32 while its MFU was
    taken against the FP32 peak, so both are set here, always."""
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cudnn.allow_tf32 = fastest
    torch.set_float32_matmul_precision("high" if fastest else "highest")
    return {"cudnn.benchmark": benchmark, "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn.deterministic": torch.backends.cudnn.deterministic}


def _check_dtype(dtype: str, setup: DeviceSetup, warn: Warn) -> str:
    """Refuse or warn about a dtype the device cannot run well; return the dtype used."""
    if dtype == "bfloat16" and setup.is_cuda:
        if not torch.cuda.is_bf16_supported():
            raise BenchmarkError(f"--dtype bfloat16 is not supported by "
                                 f"{torch.cuda.get_device_name(setup.device)}; use float16")
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            warn(f"--dtype bfloat16 is emulated on {torch.cuda.get_device_name(setup.device)} "
                 "(native bfloat16 needs compute capability 8.0+): expect it slower than float16")
    if dtype == "float16" and not setup.is_cuda:
        warn("--dtype float16 on a CPU runs float16 autocast, which few CPUs accelerate "
             "(often slower than float32); bfloat16 is the CPU's fast half precision")
    return dtype


def _memory_format(channels_last: bool, input_ndim: int, warn: Warn) -> torch.memory_format:
    if not channels_last:
        return torch.contiguous_format
    if input_ndim != 4:
        warn(f"--channels_last ignored: the model's input has {input_ndim - 1} dims per "
             "sample, channels-last needs images (C, H, W)")
        return torch.contiguous_format
    return torch.channels_last


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_threads(requested: int, local_replicas: int,
                environ: Mapping[str, str] | None = None) -> int | None:
    """Threads per CPU replica: ``requested`` when > 0; else ``None`` (keep torch's, which
    follows it) when ``OMP_NUM_THREADS`` is set; else the usable cores divided evenly among
    the replicas on this node, at least 1."""
    env = os.environ if environ is None else environ
    if requested > 0:
        return requested
    if env.get("OMP_NUM_THREADS", "").strip():
        return None
    return max(1, usable_cores() // max(1, local_replicas))


def cores_short(threads: int, local_ranks: int, cores: int) -> str | None:
    """Why the threads of this node's ranks (``local_ranks`` x ``threads``) exceed the
    ``cores`` this process may use, or ``None`` when they fit: then the threads take turns on
    the cores, and a CPU run measures OpenMP's spin-waits and the scheduler, not the model
    (a figure 10x and more below the same run with threads that fit)."""
    wanted = max(1, local_ranks) * max(1, threads)
    if wanted <= cores:
        return None
    return (f"ranks above cores: {max(1, local_ranks)} rank(s) x {max(1, threads)} thread(s) = "
            f"{wanted} threads on {cores} usable core(s); the threads wait for each other, so "
            "the figures are not the model's speed (lower --num_threads or the ranks per node)")


def apply_cpu_threads(device: str, num_threads: int, local_replicas: int) -> int:
    """Set torch's intra-op threads (``--num_threads`` is ``num_threads``); return the number
    used. A number asked for applies on every device (a GPU run's host-side work uses them
    too); the default rule (0) only on a CPU, where the threads are the compute."""
    if device == "cpu" or num_threads > 0:
        threads = cpu_threads(num_threads, local_replicas)
        if threads is not None:
            torch.set_num_threads(threads)
    return torch.get_num_threads()
