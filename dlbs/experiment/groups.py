"""The typed groups an :class:`~dlbs.experiment.view.Experiment` is composed of, each field
read from the parameter config/*.json declares for it (``"field": "GROUP.ATTRIBUTE"``, read by
:func:`dlbs.params.catalogue.view_fields`): the view names no parameter itself.

A field's reader (its ``metadata["read"]``) turns a value that may still be a string into what
it means, and a missing one into the field's default: the default the launchers always gave a
missing parameter (``container_runtime`` docker, ``python`` python3, ``docker_shm_size``
1g...). A field with ``metadata["prefix"]`` reads every parameter under that prefix instead.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, ClassVar, Self

from dlbs.experiment.values import as_arg, as_bool, as_float, as_int
from dlbs.params import catalogue

#: The prefix of the ``runtime.env.<NAME>`` parameters (variables set for the benchmark).
ENV_PREFIX = "runtime.env."
#: The ``exp.replica_batch`` that asks the benchmark for the largest batch that fits.
MAX_BATCH = "max"

#: A reader: (the experiment's dict, the field's parameter, the field's default) -> its value.
Reader = Callable[[Mapping[str, Any], str, Any], Any]


def as_given(raw: Mapping[str, Any], name: str, default: Any) -> Any:
    """The value as the dict holds it (an int or ``"max"``, a computed count...)."""
    return raw.get(name, default)


def arg(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """One argument, as written (bools as ``true``/``false``; missing or None: the default)."""
    return as_arg(raw.get(name, default))


def arg_stripped(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """One argument without surrounding blanks (missing: the default)."""
    return as_arg(raw.get(name, default)).strip()


def text(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """One argument; the default when it is missing, empty, false or None."""
    return as_arg(raw.get(name) or default)


def text_stripped(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """:func:`text` without surrounding blanks."""
    return as_arg(raw.get(name) or default).strip()


def choice(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """A word without surrounding blanks; the default when that leaves nothing."""
    return as_arg(raw.get(name)).strip() or str(default)


def shown(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """``str`` of the value (missing: the default), as a status is shown."""
    return str(raw.get(name, default))


def shown_or(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """``str`` of the value; the default when it is missing, empty or None."""
    return str(raw.get(name) or default)


def switch(raw: Mapping[str, Any], name: str, default: Any) -> bool:
    """A bool that may still be a string (``"true"``, ``"0"``...)."""
    return as_bool(raw.get(name, default))


def count(raw: Mapping[str, Any], name: str, default: Any) -> int:
    """An int; empty or missing: the default; a ValidationError for anything else."""
    return as_int(raw.get(name), default)


def optional_count(raw: Mapping[str, Any], name: str, default: Any) -> int | None:
    """An int, or None when missing or empty (the program's own default applies)."""
    value = raw.get(name)
    return None if value in (None, "") else as_int(value)


def shown_count(raw: Mapping[str, Any], name: str, default: Any) -> int:
    """The value when it is an int (not a bool), else the default: a count only shown, whose
    invalid value ``validate`` names itself."""
    value = raw.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else int(default)


def seconds(raw: Mapping[str, Any], name: str, default: Any) -> float:
    """A number (of seconds, of samples a second); empty or None: 0."""
    return as_float(raw.get(name, default))


def visible_gpus(raw: Mapping[str, Any], name: str, default: Any) -> str:
    """``runtime.visible_gpus`` as one argument, else the placement's ``gpus`` as given."""
    return as_arg(raw.get(name, raw.get(catalogue.parameter_of("placement", "gpus"), default)))


def environment(raw: Mapping[str, Any], prefix: str, default: Any) -> tuple[tuple[str, str], ...]:
    """``(NAME, value)`` of every ``<prefix>NAME`` parameter, in plan order."""
    return tuple((key[len(prefix):], as_arg(value)) for key, value in raw.items()
                 if key.startswith(prefix))


def setting(raw: Mapping[str, Any], name: str, default: Any) -> Any:
    """A Slurm setting read as its default's type: a switch as a bool, a count as an int
    (empty: the default), a text stripped."""
    if isinstance(default, bool):
        return as_bool(raw.get(name, default))
    if isinstance(default, int):
        return as_int(raw.get(name), default)
    return as_arg(raw.get(name, default)).strip()


def words(raw: Mapping[str, Any], name: str, default: Any) -> tuple[str, ...]:
    """Further command-line options, word by word: a list as given, a text split on blanks."""
    given = raw.get(name) or []
    return (tuple(as_arg(word) for word in given) if isinstance(given, list)
            else tuple(as_arg(given).split()))


def _f(default: Any, read: Reader) -> Any:
    """A field with its default and its reader."""
    return field(default=default, metadata={"read": read})


class Group:
    """What every group has: its name in the catalogue, the parameter of a field, and the
    reading of all its fields."""

    GROUP: ClassVar[str] = ""

    @classmethod
    def parameter(cls, attribute: str) -> str:
        """The parameter the field ``attribute`` reads (to name it in an error)."""
        return catalogue.parameter_of(cls.GROUP, attribute)

    def named(self, *attributes: str) -> tuple[tuple[str, Any], ...]:
        """``(parameter, value)`` of each field of ``attributes``, in that order (to name a
        bad one)."""
        return tuple((self.parameter(name), getattr(self, name)) for name in attributes)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Self:
        """The group read from ``raw``: each field by its reader from the parameter the
        catalogue declares for it (a ValidationError for a count that is not an integer)."""
        # What ``cls(**fields)`` builds, without its frozen ``__init__`` (a guarded setattr a
        # field: most of the cost of a view, built for every experiment ``print`` checks).
        group = object.__new__(cls)
        group.__dict__.update({name: read(raw, source, default)
                               for name, read, source, default in _readings(cls)})  # type: ignore[arg-type]
        return group


@cache
def _readings(cls: type[Group]) -> tuple[tuple[str, Reader, str, Any], ...]:
    """(field, reader, parameter or prefix, default) of each field of ``cls``, worked out once;
    a field no parameter declares is a CatalogueError naming it."""
    params = catalogue.view_fields().get(cls.GROUP, {})
    out: list[tuple[str, Reader, str, Any]] = []
    for f in fields(cls):  # type: ignore[arg-type]
        if "prefix" in f.metadata:
            out.append((f.name, environment, f.metadata["prefix"], f.default))
        elif f.name in params:
            out.append((f.name, f.metadata["read"], params[f.name], f.default))
        else:
            raise catalogue.CatalogueError(f"no parameter of config/*.json declares the field "
                                           f"'{cls.GROUP}.{f.name}'")
    return tuple(out)


@dataclass(frozen=True)
class Run(Group):
    """The run of the experiment on this host, and how it is shown and monitored."""

    GROUP: ClassVar[str] = "run"
    id: str = _f("", arg)
    status: str = _f("ok", shown)
    log_dir: str = _f("", text)
    log_file: str = _f("", text)
    scheduler: str = _f("local", choice)            # local | slurm
    timeout: float = _f(0.0, seconds)               # seconds before it is stopped (0: never)
    kill_grace: float = _f(5.0, seconds)            # seconds from SIGTERM to SIGKILL
    monitor_frequency: float = _f(0.0, seconds)     # samples a second (0: none)
    monitor_gpu: bool = _f(True, switch)            # sample the GPUs too
    sys_info: str = _f("", shown_or)                # hw.<source> names, comma-separated
    repeat: int = _f(1, shown_count)                # runs of this experiment (1 if not an int)
    repeat_index: int = _f(0, shown_count)          # 0 if not an int
    rerun: str = _f("never", shown)                 # never | onfail | always (checked later)
    ignore_past_errors: bool = _f(False, switch)    # run a batch larger than one that OOMed


@dataclass(frozen=True)
class Workload(Group):
    """What the benchmark runs: the model, the phase, the batch, the data, the parallelism."""

    GROUP: ClassVar[str] = "workload"
    model: str = _f("", arg)
    phase: str = _f("", arg)                        # training | inference | serve
    replica_batch: Any = field(default=None, metadata={"read": as_given})  # an int, or "max"
    data: str = _f("", arg)                         # synthetic | real
    data_dir: str = _f("", arg)
    data_loader_only: bool = _f(False, switch)
    parallelism: str = _f("ddp", choice)            # ddp | fsdp | hsdp


@dataclass(frozen=True)
class Placement(Group):
    """Where it runs: the devices, the replicas, the nodes and torchrun's rendezvous."""

    GROUP: ClassVar[str] = "placement"
    declared_device: str = _f("", arg)              # exp.device_type as given (computed)
    gpus: str = _f("", arg)                         # as given (',' replicas, ':' a group)
    visible_gpus: str = _f("", visible_gpus)        # runtime.visible_gpus, else gpus
    num_local_gpus: int = _f(1, count)
    num_local_replicas: int = _f(1, count)
    cpu_replicas: int = _f(1, count)
    cpu_threads: int = _f(0, count)
    num_nodes: int = _f(1, count)
    distributed_rank: int = _f(0, count)
    rendezvous: str = _f("", arg_stripped)          # HOST:PORT
    rendezvous_timeout: int | None = _f(None, optional_count)
    num_replicas: Any = field(default=None, metadata={"read": as_given})   # all nodes
    device_memory_gb: Any = field(default=0.0, metadata={"read": as_given})  # 0: no limit


@dataclass(frozen=True)
class HostPrograms(Group):
    """The host's programs and paths the benchmark is started with."""

    GROUP: ClassVar[str] = "host"
    python: str = _f("python3", text)
    launcher: str = _f("", arg)                     # a prefix such as numactl
    bench_path: str = _f("", arg)                   # the benchmark code as it runs
    code_dir: str = _f("", arg)                     # the code a container mounts
    host_libpath: str = _f("", arg)
    host_python_path: str = _f("", arg)
    env: tuple[tuple[str, str], ...] = field(default=(), metadata={"prefix": ENV_PREFIX})


@dataclass(frozen=True)
class Container(Group):
    """The container it runs in (``docker``: whether it does)."""

    GROUP: ClassVar[str] = "container"
    docker: bool = _f(False, switch)
    container_runtime: str = _f("docker", text_stripped)    # as given (checked by ``runtime``)
    image: str = _f("", arg_stripped)
    docker_python: str = _f("python3", text)
    docker_launcher: str = _f("docker", text)
    container_launcher: str = _f("", arg)
    docker_args: str = _f("", arg)
    docker_network: str = _f("", arg_stripped)
    docker_ipc: str = _f("", arg_stripped)
    docker_shm_size: str = _f("1g", arg_stripped)


@dataclass(frozen=True)
class Serving(Group):
    """What the runner and the launcher read of a serving experiment (``exp.phase=serve``);
    the load client's flags pass on from the dict as they are (``dlbs.launchers.benchmark``)."""

    GROUP: ClassVar[str] = "serving"
    model: str = _f("", arg)                        # '': the experiment's model
    search: Any = field(default="none", metadata={"read": as_given})    # none | rate | ...
    request_rate: Any = field(default=0.0, metadata={"read": as_given})  # requests/s
    stop_at_saturation: bool = _f(False, switch)

    @property
    def searches(self) -> bool:
        """Whether it is a capacity search (``search`` rate or concurrency), not one load."""
        return self.search not in (None, "", "none")

    @property
    def rate(self) -> float | None:
        """The request rate when it is a number (not a bool), else None."""
        value = self.request_rate
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None


@dataclass(frozen=True)
class SlurmSettings(Group):
    """The ``slurm.*`` parameters of an experiment (``exp.scheduler=slurm``), read as the
    batch script reads them: texts stripped, counts as ints (0: not given), switches as bools.
    ``dlbs.slurm.script`` checks the values and names the parameter of a bad one."""

    GROUP: ClassVar[str] = "slurm"
    # #SBATCH options written when not empty (dlbs.slurm.script.OPTION_PARAMS)
    partition: str = _f("", setting)
    account: str = _f("", setting)
    qos: str = _f("", setting)
    time: str = _f("", setting)                     # a time limit, as sbatch's --time takes it
    mem: str = _f("", setting)
    gres: str = _f("", setting)
    mem_per_gpu: str = _f("", setting)
    constraint: str = _f("", setting)
    reservation: str = _f("", setting)
    licenses: str = _f("", setting)
    # counts (0: leave the option out)
    gpus_per_node: int = _f(0, setting)
    gpus_per_task: int = _f(0, setting)
    cpus_per_gpu: int = _f(0, setting)
    cpus_per_task: int = _f(0, setting)
    master_port: int = _f(0, setting)               # 0: derived from the job id
    queue_timeout: int = _f(0, setting)             # seconds in the queue (0: no limit)
    max_jobs: int = _f(1, setting)                  # jobs in flight (as given: checked >= 1)
    # switches
    exclusive: bool = _f(True, setting)
    requeue: bool = _f(False, setting)
    array: bool = _f(False, setting)
    signal: str = _f("B:USR1@120", setting)         # sbatch's --signal; '' for none
    extra_args: tuple[str, ...] = _f((), words)     # further sbatch options, word by word

    def text(self, name: str) -> str:
        """The text setting ``name`` (one of SLURM_TEXTS)."""
        value: str = getattr(self, name)
        return value


#: The text fields of :class:`SlurmSettings`.
SLURM_TEXTS = ("partition", "account", "qos", "time", "mem", "gres", "mem_per_gpu",
               "constraint", "reservation", "licenses")

#: The groups an Experiment is composed of (Slurm's, read when first asked for, apart).
GROUPS: tuple[type[Group], ...] = (Run, Workload, Placement, HostPrograms, Container,
                                    Serving)
