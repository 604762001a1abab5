"""Layers of a launch on the host itself: the ``runtime.launcher`` prefix and the environment."""
from __future__ import annotations

import re
from dataclasses import replace

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.values import split_words
from dlbs.launchers.command import Command
from dlbs.launchers.containers import isolates_gpus

#: A shell variable assignment word (``NAME=value``) at the start of ``runtime.launcher``.
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class PrefixLayer:
    """Prepends ``runtime.launcher`` (e.g. ``numactl --cpunodebind=0``) to the command."""

    name = "prefix"

    def applies(self, exp: Experiment) -> bool:
        """When ``runtime.launcher`` has a word: blank by shlex's rule (space, tab, CR, LF), not
        str.strip's (which also drops a form feed that shlex, and so the prefix, keeps)."""
        return bool(exp.launcher.strip(" \t\r\n"))

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return ``PREFIX... ARGV...``; a prefix that starts with ``NAME=value`` words (as
        DLBS's recipes write it: ``OMP_NUM_THREADS=8 numactl ...``) runs under ``env``, so
        that they set the environment as in a shell command line instead of being run."""
        prefix = split_words(exp.host.parameter("launcher"), exp.launcher)
        if prefix and ASSIGNMENT.match(prefix[0]):
            prefix = ["env", *prefix]
        return replace(cmd, argv=(*prefix, *cmd.argv))


#: The GPU variables: each runtime exposes ``exp.gpus`` its own way (``--gpus``, CDI devices,
#: ``--nv`` with ``CUDA_VISIBLE_DEVICES``, Slurm's binding), so a ``runtime.env`` value would
#: pick another GPU in some runtimes and none in others while the log says ``exp.gpus``.
OWNED_ENV = {
    "CUDA_VISIBLE_DEVICES": "use exp.gpus or runtime.visible_gpus (each runtime exposes those "
                            "GPUs its own way)",
    "NVIDIA_VISIBLE_DEVICES": "use exp.gpus (each runtime exposes those GPUs its own way)",
}


def user_env(exp: Experiment) -> list[tuple[str, str]]:
    """The ``runtime.env.<NAME>`` parameters as ``(NAME, value)`` pairs, in plan order; a
    ValidationError for a GPU variable (``OWNED_ENV``)."""
    pairs = list(exp.env)
    for name, _ in pairs:
        why = OWNED_ENV.get(name)
        if why:
            raise ValidationError(f"runtime.env.{name} is set by the launch itself, and would "
                                  f"pick other GPUs in some runtimes than in others: {why}")
    return pairs


class EnvironmentLayer:
    """Sets ``CUDA_VISIBLE_DEVICES`` (bare metal, local) and the ``runtime.env.*`` variables."""

    name = "environment"

    def applies(self, exp: Experiment) -> bool:
        """Always: at least ``CUDA_VISIBLE_DEVICES`` is set on bare metal."""
        return True

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return ``cmd`` with the variables added; ``runtime.env.*`` wins over the defaults."""
        out = cmd
        # In a docker/podman container ``--gpus``/CDI already expose exactly these devices,
        # renumbered from 0 (Apptainer's --nv exposes all: it gets the variable); in a Slurm
        # job, Slurm sets CUDA_VISIBLE_DEVICES to the GPUs it allocated.
        gpu = exp.device == "gpu"
        slurm_gpus = gpu and exp.on_slurm
        if not isolates_gpus(exp) and not slurm_gpus:
            out = out.with_env("CUDA_VISIBLE_DEVICES", exp.visible_gpus if gpu else "")
        for name, value in user_env(exp):
            out = out.with_env(name, value)
        if not exp.in_container:  # DLBS's search paths of the framework on bare metal
            for name, value in (("LD_LIBRARY_PATH", exp.host_libpath),
                                ("PYTHONPATH", exp.host_python_path)):
                out = out.with_prepended(name, value.strip(" \t:"))
        return out


__all__ = ["EnvironmentLayer", "PrefixLayer", "user_env"]
