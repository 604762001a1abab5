"""Run each node's launch script in a Pyxis/enroot container: ``srun --container-image ...``.

Pyxis is a plugin of ``srun``, so the container is started by the ``srun`` of the Slurm batch
script (``exp.scheduler=slurm``), which runs the launch script once per node *inside* the
container: ``srun ... --container-image=IMAGE --container-mounts=SRC:DST:ro,...
--container-workdir=DIR bash <launch script>``. The launch script is the same as bare metal's
(it exports the environment and runs torchrun or the benchmark with ``runtime.docker_python``);
its folder is mounted read-only at the same path so that ``bash`` finds it. Pyxis passes the
job's environment into the container, so the rendezvous and node rank reach torchrun as on bare
metal, and GPUs are Slurm's binding (``CUDA_VISIBLE_DEVICES`` set by Slurm).

``exp.docker_image`` is what ``--container-image`` takes: a registry reference in enroot's form
(``nvcr.io#nvidia/pytorch:24.05-py3``) or a ``.sqsh`` file. Pyxis splits ``--container-mounts``
on ``,`` and ``:``, so a mounted path holding either is refused, naming its parameter.
``exp.docker_args`` are extra words of that ``srun`` (e.g. ``--container-writable``).
Outside a Slurm job there is no ``srun`` to carry the container: refused.
"""
from __future__ import annotations

import posixpath
from dataclasses import replace

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words
from dlbs.launchers.command import Command
from dlbs.launchers.containers import check_mount_path, image_of, mounts, workdir

#: What pyxis's --container-mounts cannot hold in a path: ',' and ':' split its list and
#: fields, and it hands each mount to enroot as one line of space-separated fields.
PYXIS_SPLITS = ":, \t"


def check_scheduler(exp: Experiment) -> None:
    """Pyxis needs a Slurm job: a ValidationError saying so otherwise."""
    if not exp.on_slurm:
        raise ValidationError("exp.container_runtime=pyxis runs containers through Slurm's srun: "
                              "set -Pexp.scheduler=slurm (or use podman/apptainer/docker)")


def srun_options(exp: Experiment, launch_script: str) -> list[str]:
    """The ``srun`` options that start the launch script in the container (empty when the
    experiment does not use pyxis); ``launch_script`` is the script's absolute path."""
    if not exp.runs_in("pyxis"):
        return []
    check_scheduler(exp)
    image = image_of(exp, "pyxis")
    pairs = [(check_mount_path("pyxis", src_name, src, PYXIS_SPLITS),
              check_mount_path("pyxis", dst_name, dst, PYXIS_SPLITS))
             for (src_name, src), (dst_name, dst) in mounts(exp)]
    # The script lies beside the log (``validate`` renders with a placeholder name).
    script = launch_script if launch_script.startswith("/") else exp.log_file
    folder = check_mount_path("pyxis", exp.run.parameter("log_dir"), posixpath.dirname(script), PYXIS_SPLITS)
    if folder not in [dst for _, dst in pairs]:
        pairs.append((folder, folder))
    options = [f"--container-image={image}",
               "--container-mounts=" + ",".join(f"{src}:{dst}:ro" for src, dst in pairs)]
    where = workdir(exp)
    if where:
        options.append(f"--container-workdir={where}")
    return options + srun_extra_words(exp)


#: ``srun`` options that dlbs gives itself (the container, its mounts and workdir; the job's
#: tasks, nodes and GPUs): in ``exp.docker_args`` they would come later and win.
OWN_SRUN_OPTIONS = ("--container-image", "--container-mounts", "--container-workdir",
                    "--nodes", "-N", "--ntasks", "-n", "--ntasks-per-node", "--cpus-per-task",
                    "-c", "--gres", "--gpus", "-G", "--gpus-per-node", "--gpus-per-task",
                    "--kill-on-bad-exit", "-K")
#: ``srun`` options that would take the benchmark's output away from its log, or change its
#: lines (the batch script's ``srun`` writes into the log, which holds the facts): a file for
#: stdout or stderr, stdin from a file, and ``--label`` (a ``0: `` before each line).
OUTPUT_SRUN_OPTIONS = ("--output", "-o", "--error", "-e", "--input", "-i", "--label", "-l")


def srun_extra_words(exp: Experiment) -> list[str]:
    """``exp.docker_args`` as more ``srun`` options (e.g. ``--container-writable``); a
    ValidationError for a word that is not an option (srun would run it as the command) or
    an option dlbs sets itself."""
    words = split_words(exp.container.parameter("docker_args"), exp.docker_args)
    for word in words:
        if not word.startswith("-"):
            raise ValidationError(f"exp.docker_args {word!r} is not an option: with pyxis these "
                                  "words are srun options such as --container-writable; give "
                                  "an option's value after '=' (--job-name=NAME, not -J NAME: "
                                  "dlbs cannot tell a value from a command srun would run)")
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
        if name.startswith("--") and len(name) > 3:  # srun takes abbreviations (getopt_long)
            name = next((own for own in OWN_SRUN_OPTIONS + OUTPUT_SRUN_OPTIONS
                         if own.startswith(name)), name)
        if name in OUTPUT_SRUN_OPTIONS:
            raise ValidationError(f"exp.docker_args {word!r}: srun's {name} would take the "
                                  "benchmark's output away from its log (or change its lines), "
                                  "where the runner reads the results; remove it")
        if name in OWN_SRUN_OPTIONS:
            raise ValidationError(f"exp.docker_args {word!r}: dlbs gives srun {name} itself "
                                  "(exp.docker_image, exp.data_dir, exp.num_nodes, exp.gpus, "
                                  "slurm.*); set those instead")
    return words


class PyxisLayer:
    """Names the pyxis launch and refuses it outside Slurm; the command itself is unchanged
    (the batch script's ``srun`` carries the container: :func:`srun_options`)."""

    name = "pyxis"

    def applies(self, exp: Experiment) -> bool:
        """When ``exp.docker`` is true and ``exp.container_runtime`` is ``pyxis``."""
        return exp.runs_in("pyxis")

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return a copy of ``cmd`` as it is, after checking the experiment is a Slurm job, its
        image and its mounts (what the batch script's ``srun`` needs)."""
        srun_options(exp, exp.log_file)
        return replace(cmd)
