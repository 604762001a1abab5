"""Several replicas on one node: wrap the benchmark in ``python -m torch.distributed.run``.

``python -m torch.distributed.run`` is ``torchrun`` started by the same interpreter as the
benchmark, so the right torch is used bare metal and in a container alike.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlbs.launchers.benchmark import cpu_threads, device_type, num_replicas
from dlbs.launchers.command import Command

#: Variables every CPU (gloo) torchrun job gets unless ``runtime.env.*`` sets them: loopback
#: rendezvous, and ``exp.cpu_threads`` OpenMP threads per rank (1 when it is 0) so that ranks
#: do not fight for cores.
CPU_DDP_ENV: tuple[tuple[str, str], ...] = (
    ("MASTER_ADDR", "127.0.0.1"),
    ("GLOO_SOCKET_IFNAME", "lo"),
    ("OMP_NUM_THREADS", "1"),
)


class TorchrunLayer:
    """``torchrun --standalone --nnodes 1 --nproc_per_node N benchmarks.py FLAGS``."""

    name = "torchrun"

    def applies(self, exp: Mapping[str, Any]) -> bool:
        """When the experiment has more than one replica on this node."""
        return num_replicas(exp) > 1

    def wrap(self, exp: Mapping[str, Any], cmd: Command) -> Command:
        """Insert the torchrun module and its options between the interpreter and the script."""
        python, *rest = cmd.argv
        argv = (python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", str(num_replicas(exp)), *rest)
        wrapped = Command(argv=argv, env=cmd.env)
        if device_type(exp) == "cpu":
            threads = str(cpu_threads(exp) or 1)
            for name, value in CPU_DDP_ENV:
                wrapped = wrapped.with_env(name, threads if name == "OMP_NUM_THREADS" else value)
        return wrapped
