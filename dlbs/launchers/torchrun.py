"""Several replicas, or several nodes: wrap the benchmark in ``python -m torch.distributed.run``.

``python -m torch.distributed.run`` is ``torchrun`` started by the same interpreter as the
benchmark, so the right torch is used bare metal and in a container alike.

- One node: ``--standalone`` (a private rendezvous on this host).
- Several nodes by hand (``exp.scheduler=local``, DLBS's distributed recipe): one
  ``experimenter run`` per node, each with ``pytorch.distributed_rank`` (this node's rank) and
  ``pytorch.distributed_rendezvous`` (``host:port`` of rank 0) -> ``--nnodes N --node_rank R
  --master_addr HOST --master_port PORT``.
- Several nodes in a Slurm job (``exp.scheduler=slurm``): the batch script exports
  ``PET_MASTER_ADDR``/``PET_MASTER_PORT`` (torchrun reads an option from ``PET_<OPTION>`` when
  the flag is absent) and the launch script, run once per node by ``srun``, exports
  ``PET_NODE_RANK`` from ``SLURM_NODEID``.

``exp.num_nodes`` > 1 with neither is refused: a log must never claim nodes that did not run.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from dlbs.errors import ValidationError
from dlbs.launchers.benchmark import cpu_threads, device_type, num_replicas
from dlbs.launchers.command import Command, as_arg, as_int

#: Variables every single-node CPU (gloo) torchrun job gets unless ``runtime.env.*`` sets them:
#: loopback rendezvous, and ``exp.cpu_threads`` OpenMP threads per rank (1 when it is 0) so
#: that ranks do not fight for cores.
CPU_DDP_ENV: tuple[tuple[str, str], ...] = (
    ("MASTER_ADDR", "127.0.0.1"),
    ("GLOO_SOCKET_IFNAME", "lo"),
    ("OMP_NUM_THREADS", "1"),
)
#: Variables the Slurm batch script sets for torchrun on every node.
SLURM_RENDEZVOUS_ENV = ("PET_MASTER_ADDR", "PET_MASTER_PORT")
SEVERAL_NODES_HELP = ("use -Pexp.scheduler=slurm (one batch job over all nodes, docs/slurm.md), "
                      "or start one 'experimenter run' per node with "
                      "-Ppytorch.distributed_rank=R (0 on the rendezvous node) and "
                      "-Ppytorch.distributed_rendezvous=HOST:PORT of rank 0 "
                      "(docs/running.md#several-nodes)")


def num_nodes(exp: Mapping[str, Any]) -> int:
    """``exp.num_nodes`` (at least 1)."""
    return max(1, as_int(exp.get("exp.num_nodes"), 1))


def is_slurm(exp: Mapping[str, Any]) -> bool:
    """Whether the experiment runs as a Slurm job."""
    return as_arg(exp.get("exp.scheduler")).strip() == "slurm"


def rendezvous(exp: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(host, port)`` of ``pytorch.distributed_rendezvous``; None when it is empty."""
    text = as_arg(exp.get("pytorch.distributed_rendezvous")).strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535 \
            or not _plain_host(host):
        raise ValidationError(f"pytorch.distributed_rendezvous is {text!r}; use HOST:PORT of "
                              "the rank-0 node, e.g. 10.0.0.1:29500 ([::1]:29500 for IPv6)")
    return host, int(port)


def _plain_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return all(part and all(c.isalnum() or c == "-" for c in part)
                   for part in host.split("."))


def is_loopback(host: str) -> bool:
    """127.x, ::1 or localhost: both "nodes" are this machine (a test, or a demo)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_nodes(exp: Mapping[str, Any]) -> tuple[str, int] | None:
    """Refuse several nodes that nothing reaches; return the manual rendezvous, if any."""
    nodes = num_nodes(exp)
    where = rendezvous(exp)
    if nodes == 1:
        return None
    if is_slurm(exp):
        return None
    if where is None:
        raise ValidationError(f"exp.num_nodes is {nodes} but nothing reaches the other nodes: "
                              f"{SEVERAL_NODES_HELP}")
    rank = as_int(exp.get("pytorch.distributed_rank"), 0)
    if not 0 <= rank < nodes:
        raise ValidationError(f"pytorch.distributed_rank is {rank}; with exp.num_nodes={nodes} "
                              f"it must be 0..{nodes - 1}")
    return where


class TorchrunLayer:
    """``torchrun [--standalone | --nnodes N ...] --nproc_per_node K benchmarks.py FLAGS``."""

    name = "torchrun"

    def applies(self, exp: Mapping[str, Any]) -> bool:
        """When the experiment has several replicas on this node, or several nodes."""
        return num_replicas(exp) > 1 or num_nodes(exp) > 1

    def wrap(self, exp: Mapping[str, Any], cmd: Command) -> Command:
        """Insert the torchrun module and its options between the interpreter and the script."""
        python, *rest = cmd.argv
        nodes, local = num_nodes(exp), str(num_replicas(exp))
        where = check_nodes(exp)
        if nodes == 1:
            options = ["--standalone", "--nnodes", "1"]
        elif where is None:  # Slurm: the rendezvous and the rank come from PET_* variables
            options = ["--nnodes", str(nodes)]
        else:
            options = ["--nnodes", str(nodes), "--node_rank",
                       str(as_int(exp.get("pytorch.distributed_rank"), 0)),
                       "--master_addr", where[0], "--master_port", str(where[1])]
        wrapped = Command(argv=(python, "-m", "torch.distributed.run", *options,
                                "--nproc_per_node", local, *rest),
                          env=cmd.env, runtime_env=cmd.runtime_env)
        if nodes > 1 and where is None:  # srun sends every node's output to the job's log
            wrapped = wrapped.with_runtime_env("PET_NODE_RANK", "slurm_node_rank")
            wrapped = wrapped.with_env("DLBS_LOG_PER", "job")
        if device_type(exp) == "cpu":
            wrapped = self._cpu_env(exp, wrapped, nodes, where)
        return wrapped

    @staticmethod
    def _cpu_env(exp: Mapping[str, Any], cmd: Command, nodes: int,
                 where: tuple[str, int] | None) -> Command:
        """gloo on a CPU: threads per rank; loopback rendezvous only when it is loopback."""
        loopback = nodes == 1 or (where is not None and is_loopback(where[0]))
        for name, value in CPU_DDP_ENV:
            if name == "OMP_NUM_THREADS":
                cmd = cmd.with_env(name, str(cpu_threads(exp) or 1))
            elif loopback and (nodes == 1 or name == "GLOO_SOCKET_IFNAME"):
                cmd = cmd.with_env(name, value)
        return cmd
