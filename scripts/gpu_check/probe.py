"""Facts and ceilings of this host, run by ``gpu-check`` in a child process of the host's
Python: ``probe.py env|ceilings [--dry-run] --out FILE.json``.

Standalone on purpose (torch + the standard library; pynvml when present): the parent never
imports torch, so it holds no GPU memory while the benchmarks run. Every figure written is
measured or read here; what cannot be read is written as an ``error`` text, never a number."""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

GEMM = 8192  # the side of the GPU's matmul ceiling (the review's 8192^3)
COPY_BYTES = 4 << 30  # the GPU's device copy: 4 GiB
DRY_GEMM, DRY_COPY = 256, 64 << 20  # a CPU's: small, a dry run must be quick


def _guard(what: Callable[[], Any]) -> Any:
    try:
        return what()
    except Exception as exc:  # noqa: BLE001 - a fact that cannot be read says why
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _flop_counter_gqa() -> Any:
    """Whether torch's FLOP counter formula accepts fewer key/value heads (review D1)."""
    from torch.utils import flop_counter
    try:
        flop_counter.sdpa_flop_count((1, 4, 8, 16), (1, 2, 8, 16), (1, 2, 8, 16))
        return True
    except Exception as exc:  # noqa: BLE001 - torch <= 2.11 asserts
        return f"no ({type(exc).__name__}: {exc})"


def torch_facts(torch: Any) -> dict[str, Any]:
    """torch's build and the defaults that decide float32 math."""
    facts: dict[str, Any] = {
        "torch": torch.__version__, "cuda_build": torch.version.cuda,
        "cudnn": _guard(torch.backends.cudnn.version),
        "cudnn.allow_tf32 (default)": torch.backends.cudnn.allow_tf32,
        "cuda.matmul.allow_tf32 (default)": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision (default)": torch.get_float32_matmul_precision(),
        "cudnn.benchmark (default)": torch.backends.cudnn.benchmark,
        "flop counter accepts GQA": _guard(_flop_counter_gqa),
        "cuda available": torch.cuda.is_available(),
        "num_threads": torch.get_num_threads()}
    for backend in ("flash", "mem_efficient", "math", "cudnn"):
        query = getattr(torch.backends.cuda, f"{backend}_sdp_enabled", None)
        if query is not None:
            facts[f"sdp {backend} enabled"] = query()
    return facts


def device_facts(torch: Any) -> list[dict[str, Any]]:
    """Each CUDA device torch sees."""
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append({"index": index, "name": props.name,
                        "capability": f"{props.major}.{props.minor}",
                        "sms": props.multi_processor_count,
                        "memory_mib": props.total_memory / 2**20,
                        "uuid": str(getattr(props, "uuid", "")) or None})
    return devices


def _nvml_device(pynvml: Any, dev: dict[str, Any]) -> dict[str, Any]:
    """One CUDA device's NVML facts, its handle found by CUDA's UUID as ``measure/nvml.py``
    finds it (``uuid_match`` false: that lookup failed, and the index is used here)."""
    cuda_uuid = f"GPU-{dev['uuid']}" if dev.get("uuid") else None
    try:
        handle = pynvml.nvmlDeviceGetHandleByUUID(cuda_uuid)
        match: Any = True
    except Exception as exc:  # noqa: BLE001 - the benchmark's lookup failed: say how
        handle = pynvml.nvmlDeviceGetHandleByIndex(dev["index"])
        match = f"false (CUDA uuid {cuda_uuid}: {type(exc).__name__}: {exc})"
    return {
        "nvml uuid": _guard(lambda: pynvml.nvmlDeviceGetUUID(handle)),
        "uuid_match": match,
        "energy counter mJ": _guard(lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)),
        "power limit W": _guard(lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000),
        "max SM clock MHz": _guard(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, 1)),
        "MIG mode": _guard(lambda: pynvml.nvmlDeviceGetMigMode(handle))}


def nvml_facts(devices: list[dict[str, Any]]) -> dict[str, Any]:
    """NVML's view: driver, and per device its UUID match with CUDA's (the path the
    benchmark's ``measure/nvml.py`` takes), energy counter, power limit, MIG mode."""
    pynvml = importlib.import_module("pynvml")
    pynvml.nvmlInit()
    facts: dict[str, Any] = {"driver": _guard(pynvml.nvmlSystemGetDriverVersion),
                             "nvml devices": pynvml.nvmlDeviceGetCount()}
    for dev in devices:
        facts[f"gpu{dev['index']}"] = _nvml_device(pynvml, dev)
    pynvml.nvmlShutdown()
    return facts


def env(dry_run: bool) -> dict[str, Any]:
    """The environment's facts."""
    import torch
    facts: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                             "packages": {d: _version(d) for d in (
                                 "torch", "numpy", "nvidia-ml-py", "pynvml", "timm",
                                 "transformers", "torchvision", "triton", "pillow")},
                             "torch": torch_facts(torch)}
    if dry_run:
        facts["gpu"] = "not read (dry run: no GPU)"
        return facts
    facts["devices"] = _guard(lambda: device_facts(torch))
    devices = facts["devices"] if isinstance(facts["devices"], list) else []
    facts["nvml"] = _guard(lambda: nvml_facts(devices))
    return facts


def _median_time(step: Callable[[], Any], sync: Callable[[], Any], warm: int, reps: int
                 ) -> list[float]:
    """Seconds of ``step`` for each of ``reps`` after ``warm`` (host clock, synchronised)."""
    for _ in range(warm):
        step()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def _event_time(torch: Any, step: Callable[[], Any], warm: int, reps: int) -> list[float]:
    """Seconds of ``step`` by CUDA events for each of ``reps`` after ``warm``."""
    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        step()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end) / 1000)
    return times


def _timed(times: list[float]) -> dict[str, Any]:
    """The median of the repeats, and their spread (slowest / fastest): a rate whose repeats
    spread widely was measured on a busy host, and is no ceiling (issue 58: a dry run under
    load called fp32 and bf16 matmuls 474x apart ``ok``)."""
    fastest = min(times)
    return {"seconds": statistics.median(times),
            "spread": max(times) / fastest if fastest > 0 else None}


def _matmul(torch: Any, n: int, dtype: Any, tf32: bool, device: str) -> dict[str, Any]:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    if device == "cuda":
        timed = _timed(_event_time(torch, lambda: a @ b, 3, 10))
        how = "CUDA events, median of 10 after 3"
    else:
        timed = _timed(_median_time(lambda: a @ b, lambda: None, 2, 5))
        how = "perf_counter, median of 5 after 2"
    return {"size": n, **timed, "tflops": 2 * n**3 / timed["seconds"] / 1e12, "how": how}


def _copy(torch: Any, nbytes: int, device: str) -> dict[str, Any]:
    x = torch.empty(nbytes, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    if device == "cuda":
        timed = _timed(_event_time(torch, lambda: y.copy_(x), 3, 10))
        how = "CUDA events, median of 10 after 3"
    else:
        timed = _timed(_median_time(lambda: y.copy_(x), lambda: None, 2, 5))
        how = "perf_counter, median of 5 after 2"
    return {"bytes": nbytes, **timed,
            "read_plus_write_gb_s": 2 * nbytes / timed["seconds"] / 1e9, "how": how}


def ceilings(dry_run: bool) -> dict[str, Any]:
    """Matmul rates per precision and a device copy's bandwidth."""
    import torch
    device = "cpu" if dry_run else "cuda"
    n = DRY_GEMM if dry_run else GEMM
    cases = {"bf16": (torch.bfloat16, False), "fp16": (torch.float16, False),
             "tf32": (torch.float32, True), "fp32": (torch.float32, False)}
    if dry_run:  # a CPU has no TF32 and rarely fast float16: float32 and bfloat16 only
        cases = {k: cases[k] for k in ("fp32", "bf16")}
    # the host's load as the rates are measured: a rate measured on more runnable threads
    # than CPUs is the scheduler's, not the device's (issue 58)
    result: dict[str, Any] = {"device": device, "matmul": {}, "cpus": os.cpu_count(),
                              "load_before": _load()}
    for label, (dtype, tf32) in cases.items():
        result["matmul"][label] = _guard(partial(_matmul, torch, n, dtype, tf32, device))
    result["copy"] = _guard(lambda: _copy(torch, DRY_COPY if dry_run else COPY_BYTES, device))
    torch.backends.cuda.matmul.allow_tf32 = False
    result["load_after"] = _load()
    return result


def _load() -> float | None:
    """The host's 1-minute load average (None where the system does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("env", "ceilings"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    facts = env(args.dry_run) if args.what == "env" else ceilings(args.dry_run)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(facts, out, indent=1, default=str)
    print(json.dumps(facts, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
