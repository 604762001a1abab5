"""Facts of every node a run used, under ``hw.nodes.<node>.*``.

Responsibility: describe one node (the CPU, memory, GPUs and their driver, the network
settings NCCL/UCX/libfabric/Open MPI read from the environment, ``nvidia-smi topo -m`` and
``ibv_devinfo`` where those commands exist), and bring every node's description to the
process that writes the log (one ``all_gather_object`` when distributed). A command that is
not installed, fails or hangs gives ``null``, never a guess, and never stops the benchmark;
each is given :data:`COMMAND_TIMEOUT_S` seconds.

The node's name is Slurm's (``SLURMD_NODENAME``, which tells apart the "nodes" of a test
cluster that share one machine), else the host name; in a key, every character but letters,
digits, ``_`` and ``-`` becomes ``_`` (``gpu01.cluster.org`` -> ``gpu01_cluster_org``), so a
key never holds a dot of its own. The node's full host name is ``hw.nodes.<node>.hostname``.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import torch

from pytorch_benchmarks.runtime.device_memory import MEMINFO, node_memory_bytes
from pytorch_benchmarks.runtime.hostinfo import cpu_model

#: Environment variables that set how the node talks to the others (NCCL, UCX, libfabric,
#: Open MPI, NVSHMEM), recorded as they are.
NETWORK_ENV_PREFIXES = ("NCCL_", "UCX_", "FI_", "OMPI_MCA_", "NVSHMEM_")
COMMAND_TIMEOUT_S = 5.0
#: Most characters of a command's output kept (``nvidia-smi topo -m`` of 8 GPUs: ~1,500).
MAX_TEXT = 8192
#: Terminal control sequences (ECMA-48 CSI, e.g. underline on/off): ``nvidia-smi topo -m``
#: underlines its header even into a pipe (seen on driver 580 on an H200), and a stored fact
#: must not carry them into tables, pages and the database.
CONTROL_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def node_name(environ: Mapping[str, str] | None = None) -> str:
    """The node's name as it goes into keys (see the module docstring)."""
    env = os.environ if environ is None else environ
    name = env.get("SLURMD_NODENAME") or socket.gethostname() or "unknown"
    return re.sub(r"[^A-Za-z0-9_\-]", "_", name)


def command_output(argv: list[str]) -> str | None:
    """What ``argv`` prints (terminal control sequences, leading blank lines and trailing
    space removed, at most MAX_TEXT characters), or None when the command is not installed,
    fails, or does not end in COMMAND_TIMEOUT_S."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    # blank lines and trailing space go; a leading tab stays (topo -m's header row starts with
    # one, which lines its columns up with the rows)
    text = CONTROL_SEQUENCE.sub("", done.stdout).lstrip("\r\n").rstrip()
    return text[:MAX_TEXT] if done.returncode == 0 and text else None


def network_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The NCCL/UCX/libfabric/Open MPI/NVSHMEM variables set on this node, by name."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in sorted(env) if k.startswith(NETWORK_ENV_PREFIXES)}


def ib_ports(text: str | None) -> list[str] | None:
    """``ibv_devinfo``'s output as one line per port: ``mlx5_0 port 1: PORT_ACTIVE,
    InfiniBand, mtu 4096`` (None when there was no output)."""
    if text is None:
        return None
    ports: list[str] = []
    device = port = ""
    fields: dict[str, str] = {}

    def close() -> None:
        if device and port:
            state = fields.get("state", "?").split(" (")[0]
            layer = fields.get("link_layer", "?")
            mtu = fields.get("active_mtu", "?").split(" (")[0]
            ports.append(f"{device} port {port}: {state}, {layer}, mtu {mtu}")

    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "hca_id":
            close()
            device, port, fields = value, "", {}
        elif key == "port":
            close()
            port, fields = value, {}
        elif port and key in ("state", "link_layer", "active_mtu"):
            fields[key] = value
    close()
    return ports


def memory_gb(path: str = MEMINFO) -> float | None:
    """The node's memory (``MemTotal``) in GiB, or None when it cannot be read."""
    total = node_memory_bytes(path, key="MemTotal")
    return None if total is None else round(total / (1 << 30), 1)


def gpu_facts(run: Callable[[list[str]], str | None] = command_output) -> dict[str, Any]:
    """The node's GPUs as torch sees them, the driver and ``nvidia-smi topo -m``."""
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    driver = run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {"gpu_count": len(names), "gpu_names": names,
            "cuda_driver": driver.splitlines()[0].strip() if driver else None,
            "gpu_topology": run(["nvidia-smi", "topo", "-m"])}


def node_facts(run: Callable[[list[str]], str | None] = command_output) -> dict[str, Any]:
    """This node's description (the keys after ``hw.nodes.<node>.``)."""
    return {"hostname": socket.gethostname(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count() or 0, "memory_gb": memory_gb(),
            "kernel": platform.release(), **gpu_facts(run),
            "network_env": network_env(), "ib_ports": ib_ports(run(["ibv_devinfo"]))}


def flatten(nodes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{node: {key: value}}`` -> ``{"hw.nodes.<node>.<key>": value}``."""
    return {f"hw.nodes.{name}.{key}": value for name, facts in sorted(nodes.items())
            for key, value in facts.items()}


def every_node(local_rank: int, distributed: bool) -> dict[str, Any]:
    """The ``hw.nodes.*`` facts of every node: each node's first process describes it, and
    when ``distributed`` (the process group is up) every rank takes part in one
    ``all_gather_object``, so that whoever writes a log has them all."""
    mine = (node_name(), node_facts()) if local_rank == 0 else None
    if not distributed:
        return flatten(dict([mine])) if mine else {}
    import torch.distributed as dist

    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return flatten(dict(entry for entry in everyone if entry))
