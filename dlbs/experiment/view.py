"""The frozen, typed view of one expanded experiment, made once from its dict.

:meth:`Experiment.of` reads the flat dict the engine expands (or a plan file holds) into typed
groups (:mod:`dlbs.experiment.groups`: the run, the workload, the placement, the host's
programs, the container, the serving load, and Slurm's settings when first asked for), each
field from the parameter config/*.json declares for it; a value still written as a string
(``"true"``, ``"0"``, ``""``) reads as what it means. The fields the view had before its groups
are attributes of the experiment too (``exp.image`` is ``exp.container.image``). ``raw`` keeps the dict itself, read-only, for what
passes on unchanged: the plan, the log's header, the benchmark's flag table.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Generic, TypeAlias, TypeVar

from dlbs.errors import ValidationError
from dlbs.experiment.groups import (
    ENV_PREFIX,
    MAX_BATCH,
    SLURM_TEXTS,
    Container,
    HostPrograms,
    Placement,
    Run,
    Serving,
    SlurmSettings,
    Workload,
)

__all__ = ["ENV_PREFIX", "MAX_BATCH", "RUNTIMES", "SLURM_TEXTS", "Experiment",
           "ExperimentLike", "SlurmSettings"]

#: The runtimes ``exp.container_runtime`` may name (config/base.json's ``val_domain`` too).
RUNTIMES = ("docker", "podman", "apptainer", "pyxis")

T = TypeVar("T")


class _In(Generic[T]):
    """An attribute of the experiment that is the field of the same name of one of its
    groups (read-only, as the group is)."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        value: T = getattr(getattr(obj, self.group), self.name)
        return value


@dataclass(frozen=True)
class Experiment:
    """What the launch side reads of one experiment (see :meth:`of`): its groups, and each
    of their fields by name."""

    raw: Mapping[str, Any] = field(repr=False, compare=False)
    run: Run = field(default_factory=Run)
    workload: Workload = field(default_factory=Workload)
    placement: Placement = field(default_factory=Placement)
    host: HostPrograms = field(default_factory=HostPrograms)
    container: Container = field(default_factory=Container)
    serving: Serving = field(default_factory=Serving)

    # the run on this host, and how it is shown
    id = _In[str]("run")
    status = _In[str]("run")
    log_dir = _In[str]("run")
    log_file = _In[str]("run")
    scheduler = _In[str]("run")                     # local | slurm
    timeout = _In[float]("run")                     # seconds before it is stopped (0: never)
    kill_grace = _In[float]("run")                  # seconds from SIGTERM to SIGKILL
    monitor_frequency = _In[float]("run")           # samples a second (0: none)
    monitor_gpu = _In[bool]("run")                  # sample the GPUs too
    sys_info = _In[str]("run")                      # hw.<source> names, comma-separated
    repeat = _In[int]("run")                        # runs of this experiment (1 if not an int)
    repeat_index = _In[int]("run")                  # 0 if not an int
    # the workload
    model = _In[str]("workload")
    phase = _In[str]("workload")                    # training | inference | serve
    replica_batch = _In[Any]("workload")            # an int, or MAX_BATCH
    data = _In[str]("workload")                     # synthetic | real
    data_dir = _In[str]("workload")
    data_loader_only = _In[bool]("workload")
    parallelism = _In[str]("workload")              # ddp | fsdp | hsdp
    # devices, nodes and torchrun
    declared_device = _In[str]("placement")         # exp.device_type as given (computed)
    gpus = _In[str]("placement")                    # as given (',' replicas, ':' a group)
    visible_gpus = _In[str]("placement")            # runtime.visible_gpus, else gpus
    num_local_gpus = _In[int]("placement")
    num_local_replicas = _In[int]("placement")
    cpu_replicas = _In[int]("placement")
    cpu_threads = _In[int]("placement")
    num_nodes = _In[int]("placement")
    distributed_rank = _In[int]("placement")
    rendezvous = _In[str]("placement")              # HOST:PORT
    rendezvous_timeout = _In[int | None]("placement")
    num_replicas = _In[Any]("placement")            # as given (all nodes)
    # the host's programs
    python = _In[str]("host")
    launcher = _In[str]("host")                     # a prefix such as numactl
    bench_path = _In[str]("host")                   # the benchmark code as it runs
    code_dir = _In[str]("host")                     # the code a container mounts
    host_libpath = _In[str]("host")
    host_python_path = _In[str]("host")
    env = _In[tuple[tuple[str, str], ...]]("host")    # runtime.env.<NAME>, in plan order
    # containers
    docker = _In[bool]("container")                 # run in a container
    container_runtime = _In[str]("container")       # as given (checked by ``runtime``)
    image = _In[str]("container")
    docker_python = _In[str]("container")
    docker_launcher = _In[str]("container")
    container_launcher = _In[str]("container")
    docker_args = _In[str]("container")
    docker_network = _In[str]("container")
    docker_ipc = _In[str]("container")
    docker_shm_size = _In[str]("container")

    @classmethod
    def of(cls, source: ExperimentLike) -> Experiment:
        """The view of ``source`` (an expanded experiment dict; a view is returned as it is).

        Raises ValidationError for a count that is not an integer."""
        if isinstance(source, Experiment):
            return source
        raw = MappingProxyType(dict(source))
        view = object.__new__(cls)  # what cls(raw=..., run=...) builds, without its frozen
        view.__dict__.update(raw=raw, run=Run.of(raw), workload=Workload.of(raw),  # __init__
                             placement=Placement.of(raw), host=HostPrograms.of(raw),
                             container=Container.of(raw), serving=Serving.of(raw))
        return view

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
