"""Which container runtime runs an experiment, and what every runtime shares.

``exp.docker=true`` puts the benchmark in a container; ``exp.container_runtime`` picks the
runtime: ``docker`` (the default: ``dlbs.launchers.docker``), ``podman``
(``dlbs.launchers.podman``), ``apptainer`` (``dlbs.launchers.apptainer``) or ``pyxis``
(``dlbs.launchers.pyxis``, Slurm only). Each runtime is a layer of its own; this module holds
what every runtime shares (the choice itself is ``Experiment.runtime``), the mounts every runtime makes (data folder,
benchmark code) and the check of paths a runtime's mount syntax cannot hold.

Pure, like every launcher module: no process, no file, no ``os.environ``.
"""
from __future__ import annotations

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words

#: Runtimes whose GPU flags expose only the selected GPUs, renumbered from 0 (so no
#: ``CUDA_VISIBLE_DEVICES`` is set); Apptainer's ``--nv`` exposes them all, pyxis leaves GPUs
#: to Slurm's binding.
ISOLATING_RUNTIMES = ("docker", "podman")


def isolates_gpus(exp: Experiment) -> bool:
    """Whether the container itself exposes exactly the selected GPUs (docker, podman)."""
    return exp.runtime in ISOLATING_RUNTIMES


def image_of(exp: Experiment, runtime: str) -> str:
    """``exp.docker_image``, checked: not empty, no line break, not an option."""
    image = exp.image
    if not image:
        raise ValidationError(f"exp.docker is true (runtime {runtime}) but exp.docker_image is "
                              "empty: set -Pexp.docker_image=IMAGE")
    if any(char in image for char in "\n\r\0"):
        raise ValidationError(f"exp.docker_image {image!r} holds a line break: give an image "
                              "name or file path")
    if image.startswith("-"):
        raise ValidationError(f"exp.docker_image {image!r} starts with '-': {runtime} would "
                              "read it as an option, not an image; give an image name or file")
    return image


def launcher_words(exp: Experiment, program: str) -> list[str]:
    """``exp.container_launcher`` split into words (e.g. ``podman --root DIR``); empty means
    the runtime's own program."""
    words = split_words(exp.container.parameter("container_launcher"), exp.container_launcher)
    if words and words[0].startswith("-"):
        raise ValidationError(f"exp.container_launcher starts with {words[0]!r}, an option: give "
                              f"the program first, e.g. '{program} {' '.join(words)}'")
    return words or [program]


def mounts(exp: Experiment) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The read-only bind mounts of every runtime, as ``((param, source), (param, target))``:
    the data folder at the same path, the code (``runtime.code_dir``) at ``pytorch.bench_path``."""
    found = []
    data_dir = exp.data_dir.strip()
    if data_dir:
        name = exp.workload.parameter("data_dir")
        found.append(((name, data_dir), (name, data_dir)))
    code_dir, bench_path = exp.code_dir.strip(), exp.bench_path.strip()
    if code_dir and bench_path:
        found.append(((exp.host.parameter("code_dir"), code_dir),
                      (exp.host.parameter("bench_path"), bench_path)))
    return found


def check_mount_path(runtime: str, name: str, path: str, forbidden: str) -> str:
    """``path`` if ``runtime`` can mount it: absolute, no line break, none of ``forbidden``
    (the characters its mount syntax splits on); else a one-line error naming ``name``."""
    if not path.startswith("/"):
        raise ValidationError(f"{name} '{path}' is not an absolute path: {runtime} bind-mounts "
                              "it into the container; give the full path, e.g. /data/set")
    bad = sorted({char for char in path if char in "\n\r\0" + forbidden})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        raise ValidationError(f"{name} {path!r} holds {shown}, which {runtime}'s mount syntax "
                              f"splits on or cannot hold: rename or link the folder to a path "
                              "without them")
    return path


def workdir(exp: Experiment) -> str:
    """The working folder in the container: the mounted benchmark code (``pytorch.bench_path``)
    when it is mounted, else empty (the image's own)."""
    return exp.bench_path.strip() if exp.code_dir.strip() else ""
