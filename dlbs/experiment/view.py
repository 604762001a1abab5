"""The frozen, typed view of one expanded experiment, made once from its dict.

:meth:`Experiment.of` reads the flat dict the engine expands (or a plan file holds) with the
readers of :mod:`dlbs.experiment.values`, so that a value still written as a string (``"true"``,
``"0"``, ``""``) reads as what it means. ``raw`` keeps the dict itself, read-only, for what
passes on unchanged: the plan, the log's header, the benchmark's flag table. A field keeps the
default the launchers always gave a missing parameter (``exp.container_runtime`` docker,
``runtime.python`` python3, ``exp.docker_shm_size`` 1g...).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeAlias

from dlbs.errors import ValidationError
from dlbs.experiment.values import as_arg, as_bool, as_float, as_int

#: The runtimes ``exp.container_runtime`` may name (config/base.json's ``val_domain`` too).
RUNTIMES = ("docker", "podman", "apptainer", "pyxis")
#: The prefix of the ``runtime.env.<NAME>`` parameters (variables set for the benchmark).
ENV_PREFIX = "runtime.env."
#: The namespace of the Slurm parameters: a field of :class:`SlurmSettings` is one of them.
SLURM_PREFIX = "slurm."
#: The ``exp.replica_batch`` that asks the benchmark for the largest batch that fits.
MAX_BATCH = "max"


def _text(raw: Mapping[str, Any], name: str, default: str = "") -> str:
    """``name`` as one argument; ``default`` when it is missing, empty or None."""
    return as_arg(raw.get(name) or default)


def _count(value: Any, default: int) -> int:
    """``value`` when it is an int (not a bool), else ``default``: for counts that are only
    shown (``exp.repeat``), whose invalid value ``validate`` names itself."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class SlurmSettings:
    """The ``slurm.*`` parameters of an experiment (``exp.scheduler=slurm``), read as the
    batch script reads them: texts stripped, counts as ints (0: not given), switches as bools.
    ``dlbs.slurm.script`` checks the values and names the parameter of a bad one."""

    # #SBATCH options written when not empty (dlbs.slurm.script.OPTION_PARAMS)
    partition: str = ""
    account: str = ""
    qos: str = ""
    time: str = ""                      # a time limit, as sbatch's --time takes it
    mem: str = ""
    gres: str = ""
    mem_per_gpu: str = ""
    constraint: str = ""
    reservation: str = ""
    licenses: str = ""
    # counts (0: leave the option out)
    gpus_per_node: int = 0
    gpus_per_task: int = 0
    cpus_per_gpu: int = 0
    cpus_per_task: int = 0
    master_port: int = 0                # 0: derived from the job id
    queue_timeout: int = 0              # seconds a job may wait in the queue (0: no limit)
    max_jobs: int = 1                   # jobs in flight at once (as given: checked >= 1 later)
    # switches
    exclusive: bool = True
    requeue: bool = False
    array: bool = False
    signal: str = "B:USR1@120"          # sbatch's --signal; '' for none
    extra_args: tuple[str, ...] = ()    # further sbatch options, word by word

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> SlurmSettings:
        """The settings in ``raw``: each field the parameter ``slurm.<field>``, read by its
        default's type (a missing one is the default; a ValidationError for a count that is
        not an integer)."""
        extra = raw.get(f"{SLURM_PREFIX}extra_args") or []
        return cls(
            **{f.name: _setting(raw, SLURM_PREFIX + f.name, f.default) for f in fields(cls)
               if f.name != "extra_args"},
            extra_args=(tuple(as_arg(word) for word in extra) if isinstance(extra, list)
                        else tuple(as_arg(extra).split())),
        )

    def text(self, name: str) -> str:
        """The text parameter ``slurm.<name>`` (one of SLURM_TEXTS)."""
        value: str = getattr(self, name)
        return value


def _setting(raw: Mapping[str, Any], name: str, default: Any) -> Any:
    """A setting read as its default's type: a switch as a bool, a count as an int (empty:
    the default), a text stripped."""
    if isinstance(default, bool):
        return as_bool(raw.get(name, default))
    if isinstance(default, int):
        return as_int(raw.get(name), default)
    return as_arg(raw.get(name, default)).strip()


#: The text fields of :class:`SlurmSettings`, each the parameter ``slurm.<name>``.
SLURM_TEXTS = ("partition", "account", "qos", "time", "mem", "gres", "mem_per_gpu",
               "constraint", "reservation", "licenses")


@dataclass(frozen=True)
class Experiment:
    """What the launch side reads of one experiment (see :meth:`of`)."""

    raw: Mapping[str, Any] = field(repr=False, compare=False)
    id: str = ""
    model: str = ""
    status: str = "ok"
    log_dir: str = ""
    log_file: str = ""
    scheduler: str = "local"            # local | slurm
    phase: str = ""                     # training | inference
    replica_batch: Any = None           # an int, or MAX_BATCH
    data: str = ""                      # synthetic | real
    data_dir: str = ""
    data_loader_only: bool = False
    parallelism: str = "ddp"            # ddp | fsdp | hsdp (exp.parallelism)
    # devices
    declared_device: str = ""           # exp.device_type as given (computed by the config)
    gpus: str = ""                      # exp.gpus as given (',' replicas, ':' a group)
    visible_gpus: str = ""              # runtime.visible_gpus, else exp.gpus
    num_local_gpus: int = 1
    num_local_replicas: int = 1
    cpu_replicas: int = 1
    cpu_threads: int = 0
    # nodes and torchrun
    num_nodes: int = 1
    distributed_rank: int = 0
    rendezvous: str = ""                # pytorch.distributed_rendezvous, HOST:PORT
    rendezvous_timeout: int | None = None
    # the host's programs
    python: str = "python3"
    launcher: str = ""                  # runtime.launcher (a prefix such as numactl)
    bench_path: str = ""                # pytorch.bench_path: the benchmark code as it runs
    code_dir: str = ""                  # runtime.code_dir: the code a container mounts
    host_libpath: str = ""
    host_python_path: str = ""
    env: tuple[tuple[str, str], ...] = ()   # runtime.env.<NAME>, in plan order
    # containers
    docker: bool = False                # exp.docker: run in a container
    container_runtime: str = "docker"   # as given (checked by ``runtime``)
    image: str = ""                     # exp.docker_image
    docker_python: str = "python3"
    docker_launcher: str = "docker"
    container_launcher: str = ""
    docker_args: str = ""
    docker_network: str = ""
    docker_ipc: str = ""
    docker_shm_size: str = "1g"
    # the run on this host, and how it is shown
    timeout: float = 0.0                # exp.timeout: seconds before it is stopped (0: never)
    kill_grace: float = 5.0             # runtime.kill_grace: seconds from SIGTERM to SIGKILL
    monitor_frequency: float = 0.0      # monitor.frequency: samples a second (0: none)
    monitor_gpu: bool = True            # monitor.gpu: sample the GPUs too
    sys_info: str = ""                  # exp.sys_info: hw.<source> names, comma-separated
    repeat: int = 1                     # exp.repeat: runs of this experiment (1 if not an int)
    repeat_index: int = 0               # exp.repeat_index (0 if not an int)
    num_replicas: Any = None            # exp.num_replicas as given (all nodes)

    @classmethod
    def of(cls, source: ExperimentLike) -> Experiment:
        """The view of ``source`` (an expanded experiment dict; a view is returned as it is).

        Raises ValidationError for a count that is not an integer."""
        if isinstance(source, Experiment):
            return source
        raw = source
        return cls(
            raw=MappingProxyType(dict(raw)),
            id=as_arg(raw.get("exp.id")),
            model=as_arg(raw.get("exp.model")),
            status=str(raw.get("exp.status", "ok")),
            log_dir=_text(raw, "exp.log_dir"),
            log_file=_text(raw, "exp.log_file"),
            scheduler=as_arg(raw.get("exp.scheduler")).strip() or "local",
            phase=as_arg(raw.get("exp.phase")),
            replica_batch=raw.get("exp.replica_batch"),
            data=as_arg(raw.get("exp.data")),
            data_dir=as_arg(raw.get("exp.data_dir")),
            data_loader_only=as_bool(raw.get("pytorch.data_loader_only", False)),
            parallelism=as_arg(raw.get("exp.parallelism")).strip() or "ddp",
            declared_device=as_arg(raw.get("exp.device_type")),
            gpus=as_arg(raw.get("exp.gpus", "")),
            visible_gpus=as_arg(raw.get("runtime.visible_gpus", raw.get("exp.gpus", ""))),
            num_local_gpus=as_int(raw.get("exp.num_local_gpus"), 1),
            num_local_replicas=as_int(raw.get("exp.num_local_replicas"), 1),
            cpu_replicas=as_int(raw.get("exp.cpu_replicas"), 1),
            cpu_threads=as_int(raw.get("exp.cpu_threads"), 0),
            num_nodes=as_int(raw.get("exp.num_nodes"), 1),
            distributed_rank=as_int(raw.get("pytorch.distributed_rank"), 0),
            rendezvous=as_arg(raw.get("pytorch.distributed_rendezvous")).strip(),
            rendezvous_timeout=(None if raw.get("exp.rendezvous_timeout") in (None, "")
                                else as_int(raw.get("exp.rendezvous_timeout"))),
            python=_text(raw, "runtime.python", "python3"),
            launcher=as_arg(raw.get("runtime.launcher")),
            bench_path=as_arg(raw.get("pytorch.bench_path")),
            code_dir=as_arg(raw.get("runtime.code_dir")),
            host_libpath=as_arg(raw.get("pytorch.host_libpath", "")),
            host_python_path=as_arg(raw.get("pytorch.host_python_path", "")),
            env=tuple((key[len(ENV_PREFIX):], as_arg(value)) for key, value in raw.items()
                      if key.startswith(ENV_PREFIX)),
            docker=as_bool(raw.get("exp.docker", False)),
            container_runtime=_text(raw, "exp.container_runtime", "docker").strip(),
            image=as_arg(raw.get("exp.docker_image")).strip(),
            docker_python=_text(raw, "runtime.docker_python", "python3"),
            docker_launcher=_text(raw, "exp.docker_launcher", "docker"),
            container_launcher=as_arg(raw.get("exp.container_launcher", "")),
            docker_args=as_arg(raw.get("exp.docker_args", "")),
            docker_network=as_arg(raw.get("exp.docker_network", "")).strip(),
            docker_ipc=as_arg(raw.get("exp.docker_ipc", "")).strip(),
            docker_shm_size=as_arg(raw.get("exp.docker_shm_size", "1g")).strip(),
            timeout=as_float(raw.get("exp.timeout", 0)),
            kill_grace=as_float(raw.get("runtime.kill_grace", 5)),
            monitor_frequency=as_float(raw.get("monitor.frequency", 0)),
            monitor_gpu=as_bool(raw.get("monitor.gpu", True)),
            sys_info=str(raw.get("exp.sys_info") or ""),
            repeat=_count(raw.get("exp.repeat", 1), 1),
            repeat_index=_count(raw.get("exp.repeat_index", 0), 0),
            num_replicas=raw.get("exp.num_replicas"),
        )

    from_dict = of

    @property
    def in_container(self) -> bool:
        """Whether the benchmark runs in a container (``exp.docker``): the one answer."""
        return self.docker

    @property
    def runtime(self) -> str | None:
        """The container runtime (docker, podman, apptainer, pyxis), None on bare metal; an
        unknown ``exp.container_runtime`` is a ValidationError listing the choices."""
        if not self.in_container:
            return None
        if self.container_runtime not in RUNTIMES:
            raise ValidationError(f"exp.container_runtime is {self.container_runtime!r}; use "
                                  f"one of {', '.join(RUNTIMES)}")
        return self.container_runtime

    def runs_in(self, runtime: str) -> bool:
        """Whether the experiment runs in a container of ``runtime``."""
        return self.runtime == runtime

    @property
    def device(self) -> str:
        """``gpu`` or ``cpu``: ``exp.device_type``, or from ``exp.gpus`` when it is missing; a
        serving experiment's client runs on the CPU (the server's devices are its own)."""
        if self.serves:
            return "cpu"
        if self.declared_device in ("gpu", "cpu"):
            return self.declared_device
        return "gpu" if self.gpus.strip() else "cpu"

    @property
    def on_slurm(self) -> bool:
        """Whether the experiment runs as a Slurm job (``exp.scheduler=slurm``)."""
        return self.scheduler == "slurm"

    @property
    def on_this_host(self) -> bool:
        """Whether the runner starts it on this host (``exp.scheduler=local``)."""
        return self.scheduler == "local"

    @property
    def serves(self) -> bool:
        """A load against a server (``exp.phase=serve``): the launcher runs the load client."""
        return self.phase == "serve"

    @property
    def forward_only(self) -> bool:
        """Inference (``exp.phase=inference``): the benchmark's ``--forward_only``."""
        return self.phase == "inference"

    @cached_property
    def slurm(self) -> SlurmSettings:
        """The ``slurm.*`` parameters, read when first asked for (a local experiment never
        reads them: a bad count there is no problem of its); a ValidationError for a count
        that is not an integer."""
        return SlurmSettings.of(self.raw)

    @property
    def gpus_per_node(self) -> int:
        """The GPUs per node the experiment itself uses (``exp.num_local_gpus``; 0 on the
        CPU)."""
        return 0 if self.declared_device == "cpu" else self.num_local_gpus

    @property
    def timeout_text(self) -> str:
        """``exp.timeout`` as the run log's error names it (``600``, ``1.5``)."""
        return str(int(self.timeout)) if self.timeout.is_integer() else str(self.timeout)

    @property
    def sharded(self) -> bool:
        """Whether ``exp.parallelism`` shards the model (fsdp, hsdp): torchrun starts it even
        as one process (FSDP2 over one rank)."""
        return self.parallelism != "ddp"

    @property
    def max_batch(self) -> bool:
        """Whether ``exp.replica_batch`` asks for the largest batch that fits."""
        return self.replica_batch == MAX_BATCH


#: What the launch side takes: an expanded experiment dict, or its view.
ExperimentLike: TypeAlias = Mapping[str, Any] | Experiment
