"""Build launch commands and scripts for experiments; never run them.

A launch is composed by wrapping, innermost first: the benchmark command, ``torchrun`` when
there are several local replicas, the ``runtime.launcher`` prefix, the environment, and a
container when ``exp.docker`` is true: ``docker run``, ``podman run``, ``apptainer exec`` or
Pyxis's ``srun --container-image`` as ``exp.container_runtime`` says (``containers``). ``build_command`` folds the layers that apply;
``build_script`` renders the result through a Jinja2 template whose every value is quoted.
Nothing here starts a process, touches a file outside the templates, or reads ``os.environ``.
"""
from __future__ import annotations

from dlbs.experiment import Experiment
from dlbs.launchers.apptainer import ApptainerLayer
from dlbs.launchers.baremetal import EnvironmentLayer, PrefixLayer
from dlbs.launchers.benchmark import BenchmarkLayer, num_replicas
from dlbs.launchers.command import Command, Layer
from dlbs.launchers.docker import DockerLayer, container_name
from dlbs.launchers.podman import PodmanLayer
from dlbs.launchers.pyxis import PyxisLayer
from dlbs.launchers.script import render_script, script_file_for
from dlbs.launchers.torchrun import TorchrunLayer, check_nodes

#: Every layer, innermost first (the order in which they wrap the command).
LAYERS: tuple[Layer, ...] = (
    BenchmarkLayer(), TorchrunLayer(), PrefixLayer(), EnvironmentLayer(), DockerLayer(),
    PodmanLayer(), ApptainerLayer(), PyxisLayer(),
)


def list_layers(exp: Experiment) -> list[str]:
    """Names of the layers that apply to ``exp``, innermost first."""
    return [layer.name for layer in LAYERS if layer.applies(exp)]


def build_command(exp: Experiment) -> Command:
    """Return the full command (argv + environment) that runs ``exp``.

    Raises ValidationError for what cannot run as written, whichever layers apply: e.g. several
    nodes that nothing reaches (see ``dlbs.launchers.torchrun.check_nodes``).
    """
    check_nodes(exp)
    cmd = Command(argv=())
    for layer in LAYERS:
        if layer.applies(exp):
            cmd = layer.wrap(exp, cmd)
    return cmd


def build_script(exp: Experiment) -> str:
    """Return the bash script that runs ``exp`` (what the runner keeps beside the log)."""
    from dlbs.launchers.preflight import benchmark_memory_plan, plan_text

    plan = benchmark_memory_plan(exp)
    return render_script(exp, build_command(exp), list_layers(exp),
                         memory_plan="" if plan is None else plan_text(plan))


__all__ = [
    "LAYERS", "Command", "Layer", "build_command", "build_script", "container_name",
    "list_layers", "num_replicas", "script_file_for",
]
