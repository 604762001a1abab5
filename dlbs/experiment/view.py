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
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from dlbs.errors import ValidationError
from dlbs.experiment.values import as_arg, as_bool, as_int

#: The runtimes ``exp.container_runtime`` may name (config/base.json's ``val_domain`` too).
RUNTIMES = ("docker", "podman", "apptainer", "pyxis")
#: The prefix of the ``runtime.env.<NAME>`` parameters (variables set for the benchmark).
ENV_PREFIX = "runtime.env."
#: The ``exp.replica_batch`` that asks the benchmark for the largest batch that fits.
MAX_BATCH = "max"


def _text(raw: Mapping[str, Any], name: str, default: str = "") -> str:
    """``name`` as one argument; ``default`` when it is missing, empty or None."""
    return as_arg(raw.get(name) or default)


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
        """``gpu`` or ``cpu``: ``exp.device_type``, or from ``exp.gpus`` when it is missing."""
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
    def forward_only(self) -> bool:
        """Inference (``exp.phase=inference``): the benchmark's ``--forward_only``."""
        return self.phase == "inference"

    @property
    def max_batch(self) -> bool:
        """Whether ``exp.replica_batch`` asks for the largest batch that fits."""
        return self.replica_batch == MAX_BATCH


#: What the launch side takes: an expanded experiment dict, or its view.
ExperimentLike: TypeAlias = Mapping[str, Any] | Experiment
