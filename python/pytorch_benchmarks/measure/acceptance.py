"""The node checks of ``dlbs accept`` (issue 60), each one ``__key__=json`` fact lines on
stdout: device ceilings (matmul per precision, memory copy), an all-reduce bus-bandwidth sweep
inside the node (``torch.distributed``: NCCL on GPUs, gloo on CPUs) and between nodes (``pair``:
one rank a node, run by ``dlbs accept``'s pair job), environment facts from
NVML, and ``dcgmi diag -r 1`` when it is installed (its raw output; ``dlbs`` parses it).

Run as ``python -m pytorch_benchmarks.measure.acceptance [OPTIONS] CHECK [CHECK ...]`` (the
options: the suite's settings, which ``dlbs accept`` reads from its plan file). Absences are
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
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from benchstats.busbw import algbw, busbw

from pytorch_benchmarks.facts import format_fact
from pytorch_benchmarks.measure.nvml import NvmlUnavailable, open_nvml

#: bytes of the all-reduce sweep (nccl-tests' -b/-e in spirit, small enough for a CPU here);
#: the default of ``--allreduce-sizes`` (the plan's ``accept.allreduce_sizes``).
ALLREDUCE_SIZES = (1 << 20, 1 << 22, 1 << 24)
#: precision -> dtype of the matmul check (``--matmul-precisions``).
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
          "fp64": torch.float64}


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


def matmul(n: int = 1024, repeats: int = 5, precisions: tuple[str, ...] = ("fp32", "bf16")
           ) -> dict[str, Any]:
    """GFLOP/s of an ``n x n`` matmul per precision (2 n^3 flops each)."""
    device, out = _device(), {}
    for name in precisions:
        dtype = DTYPES[name]
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


def _sweep(device: torch.device, sizes: tuple[int, ...] = ALLREDUCE_SIZES) -> list[float]:
    """Each size of ``sizes`` (bytes) all-reduced over the initialised group (median of 5 after
    a warm-up)."""
    times = []
    for size in sizes:
        buf = torch.ones(size // 4, dtype=torch.float32, device=device)
        times.append(_timed(lambda buf=buf: dist.all_reduce(buf), device, 5))
    return times


def _rows(times: list[float], ranks: int, sizes: tuple[int, ...] = ALLREDUCE_SIZES
          ) -> list[dict[str, Any]]:
    return [{"bytes": size, "seconds": t, "algbw_gbs": algbw(size, t) / 1e9,
             "busbw_gbs": busbw(size, t, ranks) / 1e9}
            for size, t in zip(sizes, times)]


def _allreduce_rank(rank: int, ranks: int, port: int, queue: Any,
                    sizes: tuple[int, ...] = ALLREDUCE_SIZES) -> None:
    """One rank of the sweep: each size timed (median of 5); rank 0 reports the times."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=ranks)
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    times = _sweep(device, sizes)
    if rank == 0:
        queue.put((backend, times))
    dist.destroy_process_group()


def allreduce(ranks: int = 0, sizes: tuple[int, ...] = ALLREDUCE_SIZES) -> dict[str, Any]:
    """The sweep's algorithm and bus bandwidth (GB/s) per size (``sizes``, bytes; the largest
    size's is judged: the last); ``ranks``: the GPUs, else 2."""
    ranks = ranks or (torch.cuda.device_count() if torch.cuda.is_available() else 2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_allreduce_rank, args=(ranks, port, queue, sizes), nprocs=ranks,
                       start_method="spawn")
    backend, times = queue.get()
    rows = _rows(times, ranks, sizes)
    return {"accept.allreduce": {"backend": backend, "ranks": ranks, "sizes": rows},
            "accept.busbw_gbs": rows[-1]["busbw_gbs"]}


#: What a rank of the ``pair`` check reads from its environment (``dlbs accept``'s pair job
#: sets them: one rank a node, the rendezvous on the first node).
PAIR_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class PairUnset(Exception):
    """The ``pair`` check was run outside a pair job (its environment is missing)."""


def pair(sizes: tuple[int, ...] = ALLREDUCE_SIZES) -> dict[str, Any]:
    """An all-reduce between nodes, one rank a node (gloo on CPUs, NCCL on one GPU a node):
    the sweep's algorithm and bus bandwidth per size; every rank measures, each reports."""
    missing = [name for name in PAIR_ENV if not os.environ.get(name)]
    if missing:
        raise PairUnset(f"acceptance: pair needs {', '.join(PAIR_ENV)} (set by dlbs accept's "
                        f"pair job); {', '.join(missing)} unset")
    rank, ranks = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://{os.environ['MASTER_ADDR']}:"
                            f"{os.environ['MASTER_PORT']}", rank=rank, world_size=ranks)
    device = torch.device("cuda:0") if backend == "nccl" else torch.device("cpu")
    times = _sweep(device, sizes)
    dist.barrier()
    dist.destroy_process_group()
    rows = _rows(times, ranks, sizes)
    return {"accept.pair": {"backend": backend, "ranks": ranks, "rank": rank, "sizes": rows},
            "accept.pair_busbw_gbs": rows[-1]["busbw_gbs"]}


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
    "environment": environment, "dcgmi": dcgmi, "pair": pair}


#: The program's options (the suite's settings, ``dlbs accept`` passes them from its plan)
#: and their defaults.
OPTIONS = {"--matmul-size": "1024", "--matmul-precisions": "fp32,bf16",
           "--memcopy-megabytes": "128",
           "--allreduce-sizes": ",".join(map(str, ALLREDUCE_SIZES))}


@dataclass(frozen=True)
class Settings:
    """The suite's settings of the checks."""

    matmul_size: int = 1024
    matmul_precisions: tuple[str, ...] = ("fp32", "bf16")
    memcopy_megabytes: int = 128
    allreduce_sizes: tuple[int, ...] = ALLREDUCE_SIZES


def parse(argv: list[str]) -> tuple[Settings, list[str]]:
    """``[OPTION VALUE ...] CHECK ...`` read; a ValueError of one line for a bad one."""
    given, names, words = dict(OPTIONS), [], list(argv)
    while words:
        word = words.pop(0)
        if word in OPTIONS:
            if not words:
                raise ValueError(f"acceptance: {word} needs a value")
            given[word] = words.pop(0)
        elif word.startswith("--"):
            raise ValueError(f"acceptance: no option {word}; known: {', '.join(OPTIONS)}")
        else:
            names.append(word)
    unknown = [n for n in names if n not in CHECKS]
    if unknown or not names:
        raise ValueError(f"acceptance: unknown check {unknown[0]!r}; known: {', '.join(CHECKS)}"
                         if unknown else f"acceptance: name checks: {', '.join(CHECKS)}")
    precisions = tuple(p for p in given["--matmul-precisions"].split(",") if p)
    bad = [p for p in precisions if p not in DTYPES]
    if bad or not precisions:
        raise ValueError(f"acceptance: --matmul-precisions {given['--matmul-precisions']!r}: "
                         f"give some of {', '.join(DTYPES)}")
    try:
        settings = Settings(int(given["--matmul-size"]), precisions,
                            int(given["--memcopy-megabytes"]),
                            tuple(int(w) for w in given["--allreduce-sizes"].split(",") if w))
    except ValueError:
        settings = Settings(0)
    if min(settings.matmul_size, settings.memcopy_megabytes) < 1 or \
            not settings.allreduce_sizes or any(s < 4 or s % 4 for s in settings.allreduce_sizes):
        raise ValueError("acceptance: --matmul-size and --memcopy-megabytes take a whole number, "
                         "1 or more, --allreduce-sizes bytes of 4 or more, multiples of 4")
    return settings, names


def _calls(settings: Settings) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each check with the suite's settings."""
    return {**CHECKS,
            "matmul": lambda: matmul(settings.matmul_size,
                                     precisions=settings.matmul_precisions),
            "memcopy": lambda: memcopy(settings.memcopy_megabytes),
            "allreduce": lambda: allreduce(sizes=settings.allreduce_sizes),
            "pair": lambda: pair(settings.allreduce_sizes)}


def main(argv: list[str]) -> int:
    """Run the named checks; an unknown name or a bad setting is one line on stderr, exit 2."""
    try:
        settings, names = parse(argv)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    calls = _calls(settings)
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    try:
        for name in names:
            for key, value in calls[name]().items():
                print(format_fact(key, value), flush=True)
    except PairUnset as err:
        print(err, file=sys.stderr)
        return 2
    if "pair" in names:  # gloo may abort at exit after destroy_process_group (one run in five)
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
