"""The device an experiment runs on here: the CPU, on a host without a GPU, when the plan only
inherits DLBS's default ``exp.gpus`` ("0").

DLBS's default asks for GPU 0, so on a CPU-only laptop the first ``experimenter run
-Pexp.model=resnet50`` would fail until the user learns ``-Pexp.gpus='""'``. A plan that
never sets ``exp.gpus`` (nor ``exp.device_type``) anywhere (config files, ``-P``, ``-V``,
``-E``) has asked for nothing: its local, bare-metal experiments run on the CPU here, with one
line saying so, and their logs record the device (``exp.gpus`` '', ``exp.device_type`` 'cpu',
and the benchmark's ``hw.devices``). This is decided by the commands that run on this host
(``run``, ``validate``, ``status``), never by the engine: ``print`` and ``build`` show DLBS's
default, since a plan may run elsewhere. A plan that sets ``exp.gpus`` asked for a GPU
(``validate`` then refuses it here, with the way out), and Slurm and Docker experiments are
judged by the hosts that run them, not by the one that submits them.

This module only rewrites the built experiments it is given; it starts no process. It sits
with the plan's other decisions about this host (``dlbs.dispatch``), above the runner: it
rewrites a plan's dicts before they are built into experiments, which the runner never sees.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from dlbs.engine import ParamSpec
from dlbs.engine.expand import expand_experiment
from dlbs.experiment import Experiment
from dlbs.experiment.groups import Placement
from dlbs.params import catalogue

#: The parameter of the GPUs an experiment runs on (the placement's ``gpus``).
GPUS = Placement.parameter("gpus")
#: DLBS's default ``exp.gpus`` (``config/base.json``): GPU 0.
DEFAULT_GPUS = "0"
#: The names that ask for a device: a plan that sets one of them chose it (``exp.num_gpus``
#: and ``exp.num_local_gpus`` count GPUs: setting one asks for GPUs too, and falling back
#: would leave a GPU count over no GPU, which validate blamed on exp.device_type;
#: config/*.json: ``roles.chooses_device``).
DEVICE_NAMES = catalogue.device_choosers()
NOTE = ("this host has no NVIDIA GPU and the plan does not set exp.gpus: its local bare-metal "
        "experiments run on the CPU (exp.gpus=''; DLBS's default exp.gpus='0' asks for GPU 0: "
        "-Pexp.gpus=0 insists on it)")


def host_has_gpu() -> bool:
    """Whether this host has an NVIDIA GPU (its kernel driver is loaded)."""
    # imported here: provenance's imports (socket, subprocess, platform...) cost ~19 ms of a
    # 'print' of a whole plan that needs one file read from it
    from dlbs.runner.provenance import nvidia_driver
    return nvidia_driver() is not None


def falls_back(experiment: Mapping[str, Any]) -> bool:
    """Whether an expanded experiment is a local, bare-metal run on DLBS's default GPU 0 (what
    runs on the CPU instead on a host without a GPU); a disabled one runs nowhere."""
    exp = Experiment.of(experiment)
    return (exp.status not in ("disabled", "inactive") and exp.on_this_host
            and not exp.in_container and exp.gpus.strip() == DEFAULT_GPUS
            and exp.declared_device == "gpu")


def on_this_host(experiments: Iterable[Mapping[str, Any]], specs: Mapping[str, ParamSpec],
                 environ: Mapping[str, str], *, inherited: bool,
                 say: Callable[[str], None], has_gpu: bool | None = None
                 ) -> Iterator[Mapping[str, Any]]:
    """The built ``experiments``, each that :func:`falls_back` with ``exp.gpus`` '' when the
    host has no GPU and the plan only ``inherited`` the default (else unchanged); ``say``
    gets one line the first time (``has_gpu``: the host's answer, asked when None)."""
    if not inherited or (host_has_gpu() if has_gpu is None else has_gpu):
        yield from experiments
        return
    said = False
    for experiment in experiments:
        if falls_back(expand_experiment(experiment, specs, environ)):
            experiment = {**experiment, GPUS: ""}
            if not said:
                say(NOTE)
                said = True
        yield experiment
