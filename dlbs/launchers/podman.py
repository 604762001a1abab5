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

from collections.abc import Mapping
from typing import Any

from dlbs.launchers.baremetal import split_words
from dlbs.launchers.benchmark import device_type
from dlbs.launchers.command import Command, as_arg
from dlbs.launchers.containers import image_of, launcher_words, mounts, runs_in, workdir
from dlbs.launchers.docker import (
    bind_mount,
    container_name,
    env_options,
    ipc_options,
    option_value,
    passed_through,
)
from dlbs.launchers.torchrun import num_nodes


def cdi_devices(exp: Mapping[str, Any]) -> list[str]:
    """``--device nvidia.com/gpu=N`` for each GPU of a GPU experiment (host indices)."""
    if device_type(exp) != "gpu":
        return []
    text = as_arg(exp.get("runtime.visible_gpus", exp.get("exp.gpus", ""))).replace(":", ",")
    words: list[str] = []
    for gpu in (g.strip() for g in text.split(",")):
        if gpu:
            words += ["--device", f"nvidia.com/gpu={gpu}"]
    return words


def podman_mounts(exp: Mapping[str, Any]) -> list[str]:
    """The data folder and the code, as Docker mounts them (Podman parses them alike)."""
    return [word for source, target in mounts(exp) for word in bind_mount(source, target, "Podman")]


class PodmanLayer:
    """``podman run --rm --init --pull never --name N [options] IMAGE ARGV``."""

    name = "podman"

    def applies(self, exp: Mapping[str, Any]) -> bool:
        """When ``exp.docker`` is true and ``exp.container_runtime`` is ``podman``."""
        return runs_in(exp, "podman")

    def wrap(self, exp: Mapping[str, Any], cmd: Command) -> Command:
        """Return the ``podman run`` command; the environment moves into ``-e`` options."""
        image = image_of(exp, "podman")
        argv = [*launcher_words(exp, "podman"), "run", "--rm", "--init", "--pull", "never",
                "--name", container_name(exp)]
        network = option_value(exp, "exp.docker_network", "", "a network such as host")
        if not network and num_nodes(exp) > 1:
            network = "host"  # the other nodes reach this one's rendezvous by its address
        if network:
            argv += ["--network", network]
        argv += ipc_options(exp) + cdi_devices(exp) + podman_mounts(exp)
        folder = workdir(exp)
        if folder:
            argv += ["-w", folder]
        argv += env_options(cmd) + passed_through(exp, cmd)
        argv += split_words("exp.docker_args", exp.get("exp.docker_args", ""))
        return Command(argv=(*argv, image, *cmd.argv), env=(), runtime_env=cmd.runtime_env)
