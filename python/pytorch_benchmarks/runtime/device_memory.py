"""The memory of the device a rank will run on, for the memory plan to be judged against when
``--device_memory_gb`` is not given (0).

Responsibility: find that limit, and say where it came from, in three places that must agree:
- the run (:func:`of_run`), before the model is built: a CUDA device's ``total_memory`` as
  torch reports it (the same for every rank of a node of like GPUs), else the node's
  available memory (``MemAvailable``) shared by the node's ranks, less what each process
  holds besides its tensors (CPU ranks share one memory);
- ``validate`` of an experiment this host runs (:func:`of_host`, no torch): ``nvidia-smi``'s
  smallest ``memory.total`` for a GPU experiment, else the node's share as above;
- never for an experiment another host runs (a Slurm job): its node judges it when it starts,
  by :func:`of_run`; a multi-node rendezvous that this host is one node of is judged by this
  host's memory (its ranks here), and each node again when it starts.
A GPU's limit is a ceiling, not what is free (another process's use is not known here); a
CPU's is what the node had available when it was judged.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

MEMINFO = "/proc/meminfo"
#: How long ``nvidia-smi`` may take to answer (seconds).
SMI_TIMEOUT_S = 20


@dataclass(frozen=True)
class Detected:
    """A device memory in GB (1e9 bytes) and the words that say what it is."""

    gb: float
    source: str


def node_memory_bytes(path: str = MEMINFO, key: str = "MemAvailable") -> int | None:
    """The node's ``MemAvailable`` (``key``) in bytes, else its ``MemTotal``; None when
    neither can be read."""
    found: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                name, _, rest = line.partition(":")
                if name in (key, "MemTotal"):
                    found[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return found.get(key, found.get("MemTotal"))


#: What a benchmark process holds besides its model's tensors (torch's libraries, its thread
#: pools, the interpreter): a tiny Llama's rank peaks at 323-328 MiB resident on this CPU.
PROCESS_OVERHEAD = 0.4e9


def node_share(local_ranks: int, path: str = MEMINFO) -> Detected | None:
    """The node's available memory shared by its ``local_ranks`` CPU ranks, less what each
    process holds besides its tensors (:data:`PROCESS_OVERHEAD`)."""
    total = node_memory_bytes(path)
    if not total:
        return None
    ranks = max(1, local_ranks)
    share = max(0.0, total / ranks - PROCESS_OVERHEAD)
    over = f" over {ranks} ranks" if ranks > 1 else ""
    return Detected(share / 1e9, f"this node's available memory ({total / 1e9:.1f} GB{over}, "
                                 f"less {PROCESS_OVERHEAD / 1e9:.1f} GB a process for torch "
                                 "itself)")


def gpu_of_torch(index: int) -> Detected:
    """A CUDA device's memory as torch reports it (``total_memory``)."""
    import torch

    props = torch.cuda.get_device_properties(index)
    return Detected(props.total_memory / 1e9, f"the detected {props.name}")


def gpus_of_smi(timeout: float = SMI_TIMEOUT_S) -> Detected | None:
    """The smallest ``memory.total`` ``nvidia-smi`` lists (MiB), or None without it."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                               "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    found: list[tuple[float, str]] = []
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        name, _, mib = line.rpartition(",")
        try:
            found.append((float(mib) * 2**20 / 1e9, name.strip()))
        except ValueError:
            continue
    if not found:
        return None
    gb, name = min(found)
    return Detected(gb, f"this host's {name} (nvidia-smi)")


def wants_gpu(device: str, gpu_present: bool) -> bool:
    """Whether ``--device`` runs on a GPU (``auto``: when one is there)."""
    return device in ("gpu", "cuda") or (device == "auto" and gpu_present)


def of_run(device: str, local_rank: int, local_ranks: int) -> Detected | None:
    """The memory the run's rank will have (CUDA: its device's; CPU: its share of the
    node's), found with torch before the model is built."""
    import torch

    if wants_gpu(device, torch.cuda.is_available()) and torch.cuda.is_available():
        return gpu_of_torch(local_rank % max(1, torch.cuda.device_count()))
    return node_share(local_ranks)


def of_host(device: str, local_ranks: int) -> Detected | None:
    """The memory a rank of an experiment this host runs will have, without torch."""
    gpus = gpus_of_smi() if device != "cpu" else None
    if wants_gpu(device, gpus is not None):
        return gpus  # a GPU experiment on a host without one is refused by validate already
    return node_share(local_ranks)
