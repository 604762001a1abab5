"""``experimenter sysinfo``: describe this machine as JSON (CPU, memory, OS, Python, torch, GPUs).

Every probe is best effort: a missing library or tool gives ``null`` (or an empty list), never
an error, so sysinfo works on a bare CPU host. torch and NVML are imported only here, lazily.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

from dlbs.runner.provenance import cpu_model

HELP = "print information about this machine (CPU, memory, OS, Python, torch, GPUs) as JSON"
EXAMPLE = "experimenter sysinfo > sysinfo.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-torch`` (skip importing torch, which takes a few seconds)."""
    parser.add_argument("--no-torch", "--no_torch", dest="no_torch", action="store_true",
                        help="do not import torch (faster; torch and its GPU view are null)")


def run(args: argparse.Namespace) -> int:
    """Print the system description as JSON; return 0."""
    json.dump(collect(with_torch=not args.no_torch), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def collect(*, with_torch: bool = True) -> dict[str, Any]:
    """Return the system description as a JSON-ready dict."""
    torch_info = torch_info_or_none() if with_torch else None
    torch_gpus = torch_info.pop("gpus", []) if torch_info else []
    gpus = nvml_gpus() or torch_gpus
    return {"cpu": cpu_info(), "memory": memory_info(), "os": os_info(), "python": python_info(),
            "torch": torch_info, "gpus": gpus}


def cpu_info() -> dict[str, Any]:
    """Return the CPU model, core counts and frequency."""
    import psutil

    freq = _safe(psutil.cpu_freq)
    return {"model": cpu_model(), "architecture": platform.machine(),
            "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None,
            "max_mhz": round(freq.max, 1) if freq and freq.max else None}


def memory_info() -> dict[str, Any]:
    """Return total and available memory in bytes."""
    import psutil

    memory = psutil.virtual_memory()
    return {"total_bytes": memory.total, "available_bytes": memory.available}


def os_info() -> dict[str, Any]:
    """Return the OS name, kernel release, distribution and host name."""
    distro = _safe(platform.freedesktop_os_release) or {}
    return {"system": platform.system(), "release": platform.release(),
            "distribution": distro.get("PRETTY_NAME"), "hostname": platform.node()}


def python_info() -> dict[str, Any]:
    """Return the Python version, implementation and executable."""
    return {"version": platform.python_version(),
            "implementation": platform.python_implementation(), "executable": sys.executable}


def torch_info_or_none() -> dict[str, Any] | None:
    """Return torch's version, CUDA/cuDNN versions and its view of the GPUs (None: no torch)."""
    try:
        import torch
    except ImportError:
        return None
    cuda = bool(torch.cuda.is_available())
    cudnn = torch.backends.cudnn.version() if cuda else None
    gpus = [_torch_gpu(torch, index) for index in range(torch.cuda.device_count())] if cuda else []
    return {"version": torch.__version__, "cuda": torch.version.cuda, "cuda_available": cuda,
            "cudnn": cudnn, "num_threads": torch.get_num_threads(), "gpus": gpus}


def _torch_gpu(torch: Any, index: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    return {"index": index, "name": props.name, "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}"}


def nvml_gpus() -> list[dict[str, Any]]:
    """Return the GPUs NVML sees (empty when there is no NVIDIA driver)."""
    try:
        import pynvml
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library or driver (NVMLError_LibraryNotFound, ...)
        return []
    try:
        return [_nvml_gpu(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount())]
    finally:
        _safe(pynvml.nvmlShutdown)


def _nvml_gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    return {"index": index, "name": name.decode() if isinstance(name, bytes) else name,
            "memory_bytes": pynvml.nvmlDeviceGetMemoryInfo(handle).total,
            "driver": _decode(_safe(pynvml.nvmlSystemGetDriverVersion)),
            "uuid": _decode(_safe(pynvml.nvmlDeviceGetUUID, handle))}


def _decode(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _safe(func: Any, *args: Any) -> Any:
    """Call ``func``; return None when it fails (a probe never breaks sysinfo)."""
    try:
        return func(*args)
    except Exception:  # noqa: BLE001 - any failure of a probe means "unknown"
        return None
