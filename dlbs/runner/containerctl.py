"""The container runtimes other than Docker, as the runner meets them: present, images there,
containers removed.

Docker goes through its SDK (``dockerengine``). Podman has no daemon to ask: its command line
(``exp.container_launcher``, default ``podman``) answers ``image inspect``, ``inspect`` (the
host pid the monitor samples) and ``rm``. Apptainer runs as a child of the launch script and
ends with its process group, so only its program and a ``.sif`` file are checked; Pyxis is
Slurm's (its ``.sqsh`` file is checked when the image is a path).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers.containers import launcher_words

log = logging.getLogger(__name__)
#: Seconds a podman command may take before it counts as not answering.
PODMAN_TIMEOUT = 60
#: Image files whose presence ``validate`` checks (the runtime reads them from a path).
IMAGE_FILE_SUFFIXES = {"apptainer": (".sif", ".simg", ".img"), "pyxis": (".sqsh", ".squashfs")}


def runtime_of(exp: Experiment) -> str | None:
    """The container runtime of ``exp`` as given (None on bare metal), without raising."""
    return exp.container_runtime if exp.in_container else None


def podman(launcher: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one podman command (output captured); OSError/timeout propagate."""
    return subprocess.run([*launcher, *args], capture_output=True, text=True, check=False,
                          timeout=PODMAN_TIMEOUT, stdin=subprocess.DEVNULL)


def program_problem(runtime: str, launcher: list[str]) -> str | None:
    """Why ``launcher``'s program cannot run here (None when it is found)."""
    if shutil.which(launcher[0]) is not None:
        return None
    install = {"podman": "apt-get install -y podman", "apptainer": "see apptainer.org/docs"}
    return (f"exp.container_runtime={runtime}: '{launcher[0]}' is not found on PATH "
            f"(install it: {install.get(runtime, '')}, or set exp.container_launcher)")


def podman_image_id(launcher: list[str], image: str) -> str:
    """The id of a local podman image; ValidationError saying what to do when it is absent."""
    try:
        done = podman(launcher, "image", "inspect", "--format", "{{.Id}}", image)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ValidationError(f"podman did not answer ({err}); check exp.container_launcher") \
            from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise ValidationError(f"podman image '{image}' is not there (dlbs never pulls; {reason}): "
                              f"build it with 'podman build -t {image} -f docker/Dockerfile "
                              "python' or set exp.docker_image")
    return "sha256:" + done.stdout.strip().removeprefix("sha256:")


def check_image_file(runtime: str, image: str) -> None:
    """An image file must exist on this host: for Apptainer anything but a URI
    (``docker://...``, ``library://...``) is a path (a ``.sif`` file or a sandbox folder); for
    Pyxis a path (``/...``, ``./...``) or a ``.sqsh`` name is a squashfs file (enroot), the rest
    a registry reference (``nvcr.io#nvidia/pytorch:24.05-py3``)."""
    if "://" in image:
        return
    if runtime == "apptainer" and not os.path.exists(image):
        raise ValidationError(f"exp.docker_image '{image}' is not a file on this host (nor a "
                              "sandbox folder): apptainer reads it as one; give a .sif file, a "
                              "sandbox folder, or a URI such as docker://nvcr.io/nvidia/"
                              "pytorch:24.05-py3 (docs/containers.md)")
    path_like = image.startswith(("/", "./", "../", "~")) or \
        image.lower().endswith(IMAGE_FILE_SUFFIXES.get(runtime, ()))
    if runtime == "pyxis" and path_like and not os.path.isfile(image):
        raise ValidationError(f"exp.docker_image '{image}' is not a file on this host: "
                              f"{runtime} reads the image from it; build or copy it there "
                              "(docs/containers.md)")


def check_plan(experiments: Iterable[Experiment]) -> dict[str, str]:
    """For ``validate``/``run``: each non-Docker runtime's program is found and podman images
    exist (for local runs), image files exist; return podman image -> id (recorded as
    exp.docker_image_id)."""
    ids: dict[str, str] = {}
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for exp in experiments:
        if runtime_of(exp) in (None, "docker") or exp.status != "ok":
            continue
        runtime = str(exp.runtime)  # an unknown one: a ValidationError listing the choices
        launcher = launcher_words(exp, runtime if runtime != "pyxis" else "srun")
        image = exp.image
        key = (runtime, tuple(launcher), image)
        if key in seen:
            continue
        seen.add(key)
        # A Slurm job runs the program on the compute nodes, with their podman storage: only
        # a local run's program and podman image are this host's to check. Image files are
        # checked always (a centre's images sit on a file system every node shares).
        local = exp.on_this_host
        if local and runtime != "pyxis":
            problem = program_problem(runtime, launcher)
            if problem:
                raise ValidationError(problem)
        check_image_file(runtime, image)
        if local and runtime == "podman":
            ids[image] = podman_image_id(launcher, image)
    return ids


class PodmanContainer:
    """The named podman container of one experiment: its host pid, its removal."""

    def __init__(self, exp: Experiment, name: str) -> None:
        self.launcher = launcher_words(exp, "podman")
        self.name = name

    def remove(self) -> None:
        """Remove (force) the container if it exists; errors are logged, not raised."""
        try:
            done = podman(self.launcher, "rm", "--force", "--ignore", self.name)
        except (OSError, subprocess.TimeoutExpired) as err:
            log.warning("could not remove podman container %s: %s", self.name, err)
            return
        if done.returncode != 0:
            log.warning("could not remove podman container %s: %s", self.name,
                        done.stderr.strip()[:200])

    def watch_entry(self) -> str:
        """How the watchdog names this container: a JSON list of the launcher's words and the
        name (one line whatever the words hold; ``dlbs.runner.watchdog`` removes it)."""
        return json.dumps([*self.launcher, self.name])

    def pid(self) -> int | None:
        """The host pid of the container's first process, or None when it is not running."""
        try:
            done = podman(self.launcher, "inspect", "--format", "{{.State.Pid}}", self.name)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = done.stdout.strip()
        return int(text) if done.returncode == 0 and text.isdigit() and int(text) > 0 else None

