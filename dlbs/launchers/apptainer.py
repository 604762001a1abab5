"""Run the command in an Apptainer (Singularity) container: ``apptainer exec ... IMAGE ARGV``.

``exp.docker_image`` is what ``apptainer exec`` takes: a ``.sif`` file (the usual case at a GPU
centre), a sandbox folder, or a ``docker://`` reference. The launch mirrors Docker's:

- mounts: ``--bind SRC:DST:ro`` for the data folder and the code; Apptainer splits a bind on
  ``:`` and ``,``, so a path holding either is refused, naming its parameter;
- environment: each variable is exported as ``APPTAINERENV_<NAME>`` (Apptainer sets ``NAME``
  in the container from it, over the image's own value; no value reaches a comma-split
  ``--env`` list). The host's environment passes in as Apptainer does by default, which is how
  the Slurm rendezvous (``PET_MASTER_ADDR``...) and the node rank reach torchrun;
- GPUs: ``--nv`` for a GPU experiment; ``--nv`` shows every GPU of the host, so the selection is
  ``CUDA_VISIBLE_DEVICES`` (host indices; in a Slurm job, the GPUs Slurm bound);
- ``--pwd``: the mounted benchmark code. Network, IPC and /dev/shm are the host's (Apptainer's
  default), so ``exp.docker_network``/``exp.docker_ipc``/``exp.docker_shm_size`` do not apply;
- ``exp.docker_args`` are extra words of ``apptainer exec`` (e.g. ``--cleanenv``,
  ``--contain``); ``exp.container_launcher`` replaces the ``apptainer`` word (e.g.
  ``singularity``).
"""
from __future__ import annotations

from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words
from dlbs.launchers.command import Command
from dlbs.launchers.containers import check_mount_path, image_of, launcher_words, mounts, workdir

#: The prefix Apptainer strips from a host variable to set it in the container.
ENV_PREFIX = "APPTAINERENV_"


def bind_options(exp: Experiment) -> list[str]:
    """``--bind SRC:DST:ro`` for the data folder and the code (paths checked)."""
    words: list[str] = []
    for (src_name, src), (dst_name, dst) in mounts(exp):
        source = check_mount_path("apptainer", src_name, src, ":,")
        target = check_mount_path("apptainer", dst_name, dst, ":,")
        words += ["--bind", f"{source}:{target}:ro"]
    return words


def container_env(cmd: Command) -> Command:
    """``cmd`` with each variable renamed ``APPTAINERENV_<NAME>`` (run-time ones stay: they
    pass in with the host's environment)."""
    out = Command(argv=cmd.argv, runtime_env=cmd.runtime_env)
    for name, value in cmd.env:
        out = out.with_env(f"{ENV_PREFIX}{name}", value)
    return out


class ApptainerLayer:
    """``apptainer exec [--nv] --bind ... --pwd DIR IMAGE ARGV``."""

    name = "apptainer"

    def applies(self, exp: Experiment) -> bool:
        """When ``exp.docker`` is true and ``exp.container_runtime`` is ``apptainer``."""
        return exp.runs_in("apptainer")

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return the ``apptainer exec`` command; variables become ``APPTAINERENV_*``."""
        image = image_of(exp, "apptainer")
        argv = [*launcher_words(exp, "apptainer"), "exec"]
        if exp.device == "gpu":
            argv.append("--nv")
        argv += bind_options(exp)
        folder = workdir(exp)
        if folder:
            argv += ["--pwd", folder]
        argv += split_words(exp.container.parameter("docker_args"), exp.docker_args)
        wrapped = container_env(cmd)
        return Command(argv=(*argv, image, *cmd.argv), env=wrapped.env,
                       runtime_env=wrapped.runtime_env)
