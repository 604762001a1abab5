"""Several replicas, or several nodes: wrap the benchmark in ``python -m torch.distributed.run``.

``python -m torch.distributed.run`` is ``torchrun`` started by the same interpreter as the
benchmark, so the right torch is used bare metal and in a container alike.

- One node: ``--standalone`` (a private rendezvous on this host).
- Several nodes by hand (``exp.scheduler=local``, DLBS's distributed recipe): one
  ``experimenter run`` per node, each with ``pytorch.distributed_rank`` (this node's rank) and
  ``pytorch.distributed_rendezvous`` (``host:port`` of rank 0) -> ``--nnodes N --node_rank R
  --master_addr HOST --master_port PORT`` (one replica per node is enough to need it). On a
  CPU, ``GLOO_SOCKET_IFNAME=lo`` only when HOST is a loopback address.
- Several nodes either way: ``--rdzv_conf timeout=N`` (``exp.rendezvous_timeout``), so a node
  that nobody joins fails after N seconds instead of torch's 600 (the runner names the
  rendezvous in the error: ``dlbs.runner.launcher_errors``).
- Several nodes in a Slurm job (``exp.scheduler=slurm``): the batch script exports
  ``PET_MASTER_ADDR``/``PET_MASTER_PORT`` (torchrun reads an option from ``PET_<OPTION>`` when
  the flag is absent) and the launch script, run once per node by ``srun``, exports
  ``PET_NODE_RANK`` from ``SLURM_NODEID``.

``exp.num_nodes`` > 1 with neither is refused (``check_nodes``, called by ``build_command``
and by ``validate``): a log must never claim nodes that did not run. The rendezvous is checked
to be a plain ``HOST:PORT`` before it reaches a command line, and the Slurm node rank is a
constant shell expression (``dlbs.launchers.command.RUNTIME_VALUES``), never user text.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers.benchmark import cpu_threads, num_replicas
from dlbs.launchers.command import Command

#: Signals torchrun forwards to its workers (``--signals_to_handle``; torch's default lacks
#: SIGUSR1/SIGUSR2, the ones Slurm's ``--signal`` warnings use).
TORCHRUN_SIGNALS = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1,SIGUSR2"
#: Variables every single-node CPU (gloo) torchrun job gets unless ``runtime.env.*`` sets them:
#: loopback rendezvous, and ``exp.cpu_threads`` OpenMP threads per rank (1 when it is 0) so
#: that ranks do not fight for cores.
CPU_DDP_ENV: tuple[tuple[str, str], ...] = (
    ("MASTER_ADDR", "127.0.0.1"),
    ("GLOO_SOCKET_IFNAME", "lo"),
    ("OMP_NUM_THREADS", "1"),
)
#: ``exp.rendezvous_timeout`` of an experiment that lacks it (a plan made before it existed).
DEFAULT_RENDEZVOUS_TIMEOUT = 300
#: Variables the Slurm batch script sets for torchrun on every node.
SLURM_RENDEZVOUS_ENV = ("PET_MASTER_ADDR", "PET_MASTER_PORT")
SEVERAL_NODES_HELP = ("use -Pexp.scheduler=slurm (one batch job over all nodes, docs/slurm.md), "
                      "or start one 'experimenter run' per node with "
                      "-Ppytorch.distributed_rank=R (0 on the rendezvous node) and "
                      "-Ppytorch.distributed_rendezvous=HOST:PORT of rank 0 "
                      "(docs/running.md#several-nodes)")


def num_nodes(exp: Experiment) -> int:
    """``exp.num_nodes`` (at least 1)."""
    return max(1, exp.num_nodes)


#: One label of a host name: letters, digits and '-' (not first or last), ASCII only.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
#: ``HOST:PORT`` or ``[IPV6]:PORT``, the IPv6 address maybe scoped to an interface
#: (``[fe80::1%eth0]:29500``: a link-local address means nothing without its interface; the
#: zone is an interface name, letters, digits and ``._-``, nothing a shell reads); the host is
#: checked further by :func:`_plain_host`.
RENDEZVOUS_RE = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]{1,64})?)\]"
                           r"|(?P<host>[A-Za-z0-9.-]+)):(?P<port>[0-9]{1,5})")
HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def rendezvous(exp: Experiment) -> tuple[str, int] | None:
    """``(host, port)`` of ``pytorch.distributed_rendezvous``; None when it is empty.

    The host is an IPv4 address, a host name, or an IPv6 address in brackets (returned
    without them), scoped or not (``[fe80::1%eth0]``); anything else (spaces, quotes, ``;``, ``$``, a leading ``-``) is refused
    before it could reach a command line.
    """
    text = exp.rendezvous
    if not text:
        return None
    match = RENDEZVOUS_RE.fullmatch(text)
    host = (match.group("ipv6") or match.group("host")) if match else ""
    ipv6 = bool(match and match.group("ipv6"))
    if not match or not 1 <= int(match.group("port")) <= 65535 or not _plain_host(host, ipv6):
        raise ValidationError(f"pytorch.distributed_rendezvous is {text!r}; use HOST:PORT of "
                              "the rank-0 node with a port 1..65535, e.g. 10.0.0.1:29500 "
                              "([::1]:29500 or [fe80::1%eth0]:29500 for IPv6)")
    return host, int(match.group("port"))


def _plain_host(host: str, ipv6: bool) -> bool:
    """An IPv6 address (only in brackets), or an IPv4 address or host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return not ipv6 and bool(HOST_RE.fullmatch(host)) and not host.replace(".", "").isdigit()
    return address.version == (6 if ipv6 else 4)


def master_addr(host: str) -> str:
    """``host`` as torchrun's ``--master_addr`` wants it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    """127.x, ::1 or localhost: both "nodes" are this machine (a test, or a demo)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def node_rank(exp: Experiment) -> int:
    """``pytorch.distributed_rank``, checked to be a node of the experiment (0..N-1)."""
    rank, nodes = exp.distributed_rank, num_nodes(exp)
    if not 0 <= rank < nodes:
        raise ValidationError(f"pytorch.distributed_rank is {rank}; with exp.num_nodes={nodes} "
                              f"it must be 0..{nodes - 1} (this node's rank, 0 on the "
                              "rendezvous node)")
    return rank


def check_nodes(exp: Experiment) -> tuple[str, int] | None:
    """Refuse several nodes that nothing reaches, a bad rendezvous or rank; return the manual
    rendezvous, if any (None: one node, or a Slurm job that finds its own)."""
    nodes, where = num_nodes(exp), rendezvous(exp)
    manual = nodes > 1 and not exp.on_slurm
    if manual and where is None:
        raise ValidationError(f"exp.num_nodes is {nodes} but nothing reaches the other nodes: "
                              f"{SEVERAL_NODES_HELP}")
    node_rank(exp)
    return where if manual else None


def node_warnings(exp: Experiment) -> list[str]:
    """What is set but not used (a warning, the experiment runs): a rendezvous on one node, a
    rank or a rendezvous in a Slurm job."""
    nodes = num_nodes(exp)
    # the values as written: a rank or rendezvous given at all, even as its default's text
    rank, rendezvous = (exp.placement.parameter(field) for field in ("distributed_rank",
                                                                     "rendezvous"))
    unused = [name for name, value in ((rank, 0), (rendezvous, ""))
              if exp.raw.get(name, value) not in (value, None)]
    if nodes == 1 and rendezvous in unused:
        message = ("pytorch.distributed_rendezvous is set but exp.num_nodes is 1: the "
                   "experiment runs on this node alone and the rendezvous is not used")
        return [message]
    if nodes > 1 and exp.on_slurm and unused:
        message = (f"{' and '.join(unused)} not used with exp.scheduler=slurm: the batch job "
                   "gives each node its rank and puts the rendezvous on its first node")
        return [message]
    return []


def rendezvous_timeout(exp: Experiment) -> int:
    """``exp.rendezvous_timeout``: seconds a node waits for the others at the rendezvous."""
    timeout = exp.rendezvous_timeout
    return max(1, DEFAULT_RENDEZVOUS_TIMEOUT if timeout is None else timeout)


def rendezvous_conf(exp: Experiment) -> list[str]:
    """torchrun's rendezvous options of a multi-node run: its timeout (the static rendezvous
    waits that long for the other nodes' agents to join rank 0's store, or for rank 0's store
    to answer, then fails; torch's own default is 600 s)."""
    return ["--rdzv_conf", f"timeout={rendezvous_timeout(exp)}"]


def launches_torchrun(exp: Experiment) -> bool:
    """Whether torchrun starts the experiment's benchmark: several replicas on a node,
    several nodes, or a sharded model (one process too)."""
    return num_replicas(exp) > 1 or num_nodes(exp) > 1 or exp.sharded


class TorchrunLayer:
    """``torchrun [--standalone | --nnodes N ...] --nproc_per_node K benchmarks.py FLAGS``."""

    name = "torchrun"

    def applies(self, exp: Experiment) -> bool:
        """When the experiment has several replicas on this node, or several nodes, or
        shards its model (``exp.parallelism`` fsdp: under torchrun even as one process)."""
        return launches_torchrun(exp)

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Insert the torchrun module and its options between the interpreter and the script."""
        python, *rest = cmd.argv
        nodes, local = num_nodes(exp), str(num_replicas(exp))
        where = check_nodes(exp)
        if nodes == 1:
            options = ["--standalone", "--nnodes", "1"]
        elif where is None:  # Slurm: the rendezvous and the rank come from PET_* variables
            options = ["--nnodes", str(nodes), *rendezvous_conf(exp)]
        else:
            options = ["--nnodes", str(nodes), "--node_rank", str(node_rank(exp)),
                       "--master_addr", master_addr(where[0]), "--master_port", str(where[1]),
                       *rendezvous_conf(exp)]
        wrapped = replace(cmd, argv=(python, "-m", "torch.distributed.run", *options,
                                     "--nproc_per_node", local, *rest))
        if exp.on_slurm:
            # torchrun passes these on to its workers, slurm.signal's warning (SIGUSR1) too, on
            # which the benchmark stops timing; by default SIGUSR1 would kill torchrun and
            # leave its workers behind.
            wrapped = wrapped.with_env("PET_SIGNALS_TO_HANDLE", TORCHRUN_SIGNALS)
        if nodes > 1 and where is None:  # srun sends every node's output to the job's log
            wrapped = wrapped.with_runtime_env("PET_NODE_RANK", "slurm_node_rank")
            wrapped = wrapped.with_env("DLBS_LOG_PER", "job")
        if exp.device == "cpu":
            wrapped = self._cpu_env(exp, wrapped, nodes, where)
        return wrapped

    @staticmethod
    def _cpu_env(exp: Experiment, cmd: Command, nodes: int,
                 where: tuple[str, int] | None) -> Command:
        """gloo on a CPU: ``CPU_DDP_ENV`` (threads per rank), but with several nodes no
        ``MASTER_ADDR`` (torchrun's ``--master_addr`` or ``PET_MASTER_ADDR`` says it) and
        ``GLOO_SOCKET_IFNAME=lo`` only for a loopback rendezvous (on a network lo breaks gloo)."""
        loopback = nodes == 1 or (where is not None and is_loopback(where[0]))
        for name, value in CPU_DDP_ENV:
            if (name == "MASTER_ADDR" and nodes > 1) or (name == "GLOO_SOCKET_IFNAME"
                                                         and not loopback):
                continue
            if name == "OMP_NUM_THREADS":
                value = str(cpu_threads(exp) or 1)
            cmd = cmd.with_env(name, value)
        return cmd
