"""The node checks of ``dlbs accept`` (issue 60), each one ``__key__=json`` fact lines on
stdout: device ceilings (matmul per precision, memory copy), an all-reduce bus-bandwidth sweep
inside the node (``torch.distributed``: NCCL on GPUs, gloo on CPUs), environment facts from
NVML, and ``dcgmi diag -r 1`` when it is installed (its raw output; ``dlbs`` parses it).

Run as ``python -m pytorch_benchmarks.measure.acceptance CHECK [CHECK ...]``. Absences are
said (``accept.environment_unavailable``, ``accept.dcgmi_unavailable``), never guessed. The
reference training run is the benchmark itself, run by ``dlbs accept``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from benchstats.busbw import algbw, busbw

from pytorch_benchmarks.facts import format_fact
from pytorch_benchmarks.measure.nvml import NvmlUnavailable, open_nvml

#: bytes of the all-reduce sweep (nccl-tests' -b/-e in spirit, small enough for a CPU here).
ALLREDUCE_SIZES = (1 << 20, 1 << 22, 1 << 24)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(run: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median seconds of ``run`` after one warm-up (device synchronised at the edges)."""
    run()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def matmul(n: int = 1024, repeats: int = 5) -> dict[str, Any]:
    """GFLOP/s of an ``n x n`` matmul per precision (2 n^3 flops each)."""
    device, out = _device(), {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        seconds = _timed(lambda a=a, b=b: a @ b, device, repeats)
        out[f"accept.matmul_{name}_gflops"] = 2.0 * n ** 3 / seconds / 1e9
    return out


def memcopy(megabytes: int = 128, repeats: int = 5) -> dict[str, Any]:
    """GB/s of a device-to-device copy, read and write counted (as STREAM's copy does)."""
    device = _device()
    src = torch.empty(megabytes << 20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    seconds = _timed(lambda: dst.copy_(src), device, repeats)
    return {"accept.memcopy_gbs": 2.0 * src.numel() / seconds / 1e9}


def _allreduce_rank(rank: int, ranks: int, port: int, queue: Any) -> None:
    """One rank of the sweep: each size timed (median of 5); rank 0 reports the times."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=ranks)
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    times = []
    for size in ALLREDUCE_SIZES:
        buf = torch.ones(size // 4, dtype=torch.float32, device=device)
        times.append(_timed(lambda buf=buf: dist.all_reduce(buf), device, 5))
    if rank == 0:
        queue.put((backend, times))
    dist.destroy_process_group()


def allreduce(ranks: int = 0) -> dict[str, Any]:
    """The sweep's algorithm and bus bandwidth (GB/s) per size; ``ranks``: the GPUs, else 2."""
    ranks = ranks or (torch.cuda.device_count() if torch.cuda.is_available() else 2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_allreduce_rank, args=(ranks, port, queue), nprocs=ranks,
                       start_method="spawn")
    backend, times = queue.get()
    rows = [{"bytes": size, "seconds": t, "algbw_gbs": algbw(size, t) / 1e9,
             "busbw_gbs": busbw(size, t, ranks) / 1e9}
            for size, t in zip(ALLREDUCE_SIZES, times)]
    return {"accept.allreduce": {"backend": backend, "ranks": ranks, "sizes": rows},
            "accept.busbw_gbs": rows[-1]["busbw_gbs"]}


def environment() -> dict[str, Any]:
    """Driver, CUDA, GPU models, clocks, ECC/XID counters and throttle reasons from NVML."""
    facts: dict[str, Any] = {"accept.torch_cuda": torch.version.cuda}
    try:
        nvml = open_nvml()
    except NvmlUnavailable as exc:
        facts["accept.environment_unavailable"] = str(exc)
        return facts
    gpus = []
    for i in range(nvml.nvmlDeviceGetCount()):
        h = nvml.nvmlDeviceGetHandleByIndex(i)
        gpus.append({"name": _read(nvml.nvmlDeviceGetName, h),
                     "sm_clock_mhz": _read(nvml.nvmlDeviceGetClockInfo, h, 1),
                     "ecc_uncorrected": _read(nvml.nvmlDeviceGetTotalEccErrors, h, 1, 1),
                     "throttle_reasons": _read(nvml.nvmlDeviceGetCurrentClocksThrottleReasons,
                                               h)})
    facts["accept.environment"] = {"driver": _read(nvml.nvmlSystemGetDriverVersion),
                                   "gpus": gpus}
    return facts


def _read(call: Callable[..., Any], *args: Any) -> Any:
    """One NVML reading; ``None`` where this GPU or driver does not have it."""
    try:
        value = call(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: not there
        return None
    return value.decode() if isinstance(value, bytes) else value


def dcgmi() -> dict[str, Any]:
    """``dcgmi diag -r 1``'s output, or why it was not run."""
    path = shutil.which("dcgmi")
    if path is None:
        return {"accept.dcgmi_unavailable": "dcgmi is not installed (no dcgmi on PATH)"}
    done = subprocess.run([path, "diag", "-r", "1"], capture_output=True, text=True,
                          timeout=900, check=False)
    return {"accept.dcgmi_output": done.stdout + done.stderr}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "matmul": matmul, "memcopy": memcopy, "allreduce": allreduce,
    "environment": environment, "dcgmi": dcgmi}


def main(names: list[str]) -> int:
    """Run the named checks; an unknown name is one line on stderr and exit 2."""
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"acceptance: unknown check {unknown[0]!r}; known: {', '.join(CHECKS)}",
              file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    for name in names:
        for key, value in CHECKS[name]().items():
            print(format_fact(key, value), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
