"""Run the command in a Podman container: ``podman run ... IMAGE ARGV``.

The same launch as Docker's (``dlbs.launchers.docker``): the same container name, mounts (``-v``,
or ``--mount`` with quoted CSV fields for a path holding ``:``; Podman reads both as Docker
does), environment (``-e``), ``--shm-size``/``--ipc``, ``--network`` and ``exp.docker_args``.
What differs:

- GPUs through CDI: one ``--device nvidia.com/gpu=N`` per selected GPU (the NVIDIA Container
  Toolkit's ``nvidia-ctk cdi generate`` makes the specification); the container sees only
  those, renumbered from 0, so no ``CUDA_VISIBLE_DEVICES`` is set, as with Docker.
- ``--pull never``: dlbs never pulls (as with Docker, whose images ``validate`` checks).
- ``-w``: the mounted benchmark code is the working folder.
- ``exp.container_launcher`` replaces the ``podman`` word, for global options a machine needs
  (``podman --root DIR --runroot DIR --runtime /usr/sbin/runc``); a normal machine needs none.
"""
from __future__ import annotations

from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words
from dlbs.launchers.command import Command
from dlbs.launchers.containers import image_of, launcher_words, mounts, workdir
from dlbs.launchers.docker import (
    bind_mount,
    container_name,
    env_options,
    ipc_options,
    network,
    passed_through,
)


def cdi_devices(exp: Experiment) -> list[str]:
    """``--device nvidia.com/gpu=N`` for each GPU of a GPU experiment (host indices)."""
    if exp.device != "gpu":
        return []
    text = exp.visible_gpus.replace(":", ",")
    words: list[str] = []
    for gpu in (g.strip() for g in text.split(",")):
        if gpu:
            words += ["--device", f"nvidia.com/gpu={gpu}"]
    return words


def podman_mounts(exp: Experiment) -> list[str]:
    """The data folder and the code, as Docker mounts them (Podman parses them alike)."""
    return [word for source, target in mounts(exp) for word in bind_mount(source, target, "Podman")]


class PodmanLayer:
    """``podman run --rm --init --pull never --name N [options] IMAGE ARGV``."""

    name = "podman"

    def applies(self, exp: Experiment) -> bool:
        """When ``exp.docker`` is true and ``exp.container_runtime`` is ``podman``."""
        return exp.runs_in("podman")

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return the ``podman run`` command; the environment moves into ``-e`` options."""
        image = image_of(exp, "podman")
        argv = [*launcher_words(exp, "podman"), "run", "--rm", "--init", "--pull", "never",
                "--name", container_name(exp)]
        if network(exp):
            argv += ["--network", network(exp)]
        argv += ipc_options(exp) + cdi_devices(exp) + podman_mounts(exp)
        folder = workdir(exp)
        if folder:
            argv += ["-w", folder]
        argv += env_options(cmd) + passed_through(exp, cmd)
        argv += split_words(exp.container.parameter("docker_args"), exp.docker_args)
        return Command(argv=(*argv, image, *cmd.argv), env=(), runtime_env=cmd.runtime_env)
