"""Run the command in a container: ``docker run ... IMAGE ARGV``.

The data directory and the benchmark code are bind-mounted (code read-only at
``pytorch.bench_path``), GPUs are passed with ``--gpus '"device=..."'``, the environment becomes
``-e`` options. The container is named (``container_name``) so the runner can remove it when an
experiment times out or is interrupted.
"""
from __future__ import annotations

import hashlib

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words
from dlbs.launchers.benchmark import num_replicas
from dlbs.launchers.command import Command
from dlbs.launchers.containers import mounts
from dlbs.launchers.torchrun import SLURM_RENDEZVOUS_ENV, num_nodes


def container_name(exp: Experiment) -> str:
    """A stable container name: ``dlbs-<exp.id>`` (or a hash of the log file path)."""
    exp_id = exp.id.strip()
    if not exp_id or not all(c.isalnum() or c in "-_." for c in exp_id):
        exp_id = hashlib.sha1(exp.log_file.encode()).hexdigest()[:12]
    return f"dlbs-{exp_id}"


def gpu_options(exp: Experiment) -> list[str]:
    """``--gpus '"device=0,1"'`` for a GPU experiment (the quotes keep docker from splitting)."""
    if exp.device != "gpu":
        return []
    devices = exp.visible_gpus.replace(":", ",")
    return ["--gpus", f'"device={devices}"']


def option_value(name: str, value: str, what: str) -> str:
    """``value`` of the container runtime's option ``name`` (``exp.docker_ipc``: ``--ipc
    VALUE``); a ValidationError when it starts with '-', which the runtime would read as
    another option."""
    if value.startswith("-"):
        raise ValidationError(f"{name} {value!r} starts with '-', which would be read as "
                              f"another option: give {what}")
    return value


def ipc_options(exp: Experiment) -> list[str]:
    """Shared memory: ``--shm-size`` (DataLoader workers), ``--ipc`` (host for multi-GPU NCCL)."""
    opts: list[str] = []
    shm = option_value(exp.container.parameter("docker_shm_size"), exp.docker_shm_size,
                       "a size such as 1g")
    ipc = option_value(exp.container.parameter("docker_ipc"), exp.docker_ipc,
                       "an IPC mode such as host or private")
    if not ipc and exp.device == "gpu" and num_replicas(exp) > 1:
        ipc = "host"
    if ipc:
        opts += ["--ipc", ipc]
    if shm and ipc != "host":
        opts += ["--shm-size", shm]
    return opts


def mount_options(exp: Experiment) -> list[str]:
    """Bind mounts: the data directory at the same path, the code at ``pytorch.bench_path``."""
    return [word for source, target in mounts(exp)
            for word in bind_mount(source, target)]


def bind_mount(source: tuple[str, str], target: tuple[str, str],
               runtime: str = "Docker") -> list[str]:
    """A read-only bind mount of ``source`` at ``target`` (each ``(parameter, path)``).

    ``-v SRC:DST:ro`` splits on ``:``, so a path holding one is mounted with ``--mount``, whose
    spec is one CSV record: each field is quoted (``,`` and ``"`` inside stay part of the path;
    ``=`` splits a field only at its first one). A relative path (Docker would take it for a
    named volume) or one holding a line break is refused, naming the parameter."""
    for name, path in (source, target):
        if not path.startswith("/"):
            raise ValidationError(f"{name} '{path}' is not an absolute path: {runtime} "
                                  "bind-mounts it into the container; give the full path, e.g. "
                                  "/data/set")
        if any(char in path for char in "\n\r\0"):
            raise ValidationError(f"{name} {path!r} holds a line break: it cannot be a {runtime} "
                                  "mount; rename the folder")
    if ":" not in source[1] + target[1]:
        return ["-v", f"{source[1]}:{target[1]}:ro"]
    fields = ["type=bind", _csv_field(f"source={source[1]}"), _csv_field(f"target={target[1]}"),
              "readonly"]
    return ["--mount", ",".join(fields)]


def _csv_field(text: str) -> str:
    """``text`` as one quoted CSV field (``"`` doubled), as Docker's ``--mount`` reads it."""
    return '"' + text.replace('"', '""') + '"'


def env_options(cmd: Command) -> list[str]:
    """The command's environment as ``-e NAME=value`` options."""
    opts: list[str] = []
    for name, value in cmd.env:
        opts += ["-e", f"{name}={value}"]
    return opts


def network(exp: Experiment) -> str:
    """``--network``'s value: ``exp.docker_network``, else ``host`` for several nodes (the
    other nodes reach this one's rendezvous by its address), else none."""
    value = option_value(exp.container.parameter("docker_network"), exp.docker_network,
                         "a network such as host")
    return value or ("host" if num_nodes(exp) > 1 else "")


def passed_through(exp: Experiment, cmd: Command) -> list[str]:
    """``-e NAME`` (value from the host) for what is set when the script runs: the node rank,
    and in a Slurm job the rendezvous the batch script exported."""
    names = [name for name, _ in cmd.runtime_env]
    if num_nodes(exp) > 1 and exp.on_slurm:
        # a runtime.env value of the same name is set (-e NAME=value) and wins, as on bare
        # metal: a later -e NAME would give the host's instead
        names += [name for name in SLURM_RENDEZVOUS_ENV if name not in dict(cmd.env)]
    return [word for name in names for word in ("-e", name)]


class DockerLayer:
    """``docker run --rm --init --name N [options] IMAGE ARGV`` when ``exp.docker`` is true
    and ``exp.container_runtime`` is ``docker`` (the default)."""

    name = "docker"

    def applies(self, exp: Experiment) -> bool:
        """When ``exp.docker`` is true and the runtime is docker."""
        return exp.runs_in("docker")

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return the ``docker run`` command; the environment moves into ``-e`` options."""
        image = exp.image
        if not image:
            raise ValidationError("exp.docker is true but exp.docker_image is empty: "
                                  "set -Pexp.docker_image=IMAGE")
        if image.startswith("-"):  # the one positional word docker reads before the command
            raise ValidationError(f"exp.docker_image {image!r} starts with '-': docker would "
                                  "read it as an option, not an image; give an image name, "
                                  "e.g. -Pexp.docker_image=pytorch/pytorch")
        launcher = split_words(exp.container.parameter("docker_launcher"), exp.docker_launcher)
        if launcher[0].startswith("-"):
            raise ValidationError(f"exp.docker_launcher starts with {launcher[0]!r}, an option: "
                                  "give the program first, e.g. 'docker' or 'sudo docker'")
        argv = [*launcher, "run", "--rm", "--init", "--name", container_name(exp)]
        if network(exp):
            argv += ["--network", network(exp)]
        argv += ipc_options(exp) + gpu_options(exp) + mount_options(exp) + env_options(cmd)
        argv += passed_through(exp, cmd)
        argv += split_words(exp.container.parameter("docker_args"), exp.docker_args)
        # Host search paths (pytorch.host_libpath...) mean nothing inside the image: not passed.
        return Command(argv=(*argv, image, *cmd.argv), env=(), runtime_env=cmd.runtime_env)
