"""The innermost command: ``python benchmarks.py`` with its flags mapped from the experiment.

The mapping is a table (parameter -> flag), not a space-joined string, so every value stays one
argument and is shell-quoted when the script is written.
"""
from __future__ import annotations

import json
from dataclasses import replace

from dlbs.experiment import Experiment
from dlbs.experiment.values import as_arg, as_bool
from dlbs.launchers.command import Command
from dlbs.params import catalogue


def pairs(program: str, when: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """(flag, parameter) pairs of ``program`` passed ``when`` so, in command-line order."""
    return tuple((flag.name, name) for flag, name in catalogue.flags(program, when))


#: (flag, parameter) pairs passed through as they are (config/*.json: ``flag.when`` given or
#: real_data; ``dlbs.params.catalogue``).
FLAG_PARAMS: tuple[tuple[str, str], ...] = pairs("benchmark", ("given", "real_data"))

#: (flag, parameter) pairs passed only when the value is non-zero or non-empty (the benchmark's
#: own default), so launch scripts of experiments that do not use them stay as they were.
NONZERO_FLAG_PARAMS: tuple[tuple[str, str], ...] = pairs("benchmark", ("nonzero",))

#: (flag, parameter, default) triples passed only when the value is not the benchmark's
#: default (the parameter's own), so launch scripts of experiments that keep it stay as they
#: were.
NOT_DEFAULT_FLAG_PARAMS: tuple[tuple[str, str, object], ...] = tuple(
    (flag, name, catalogue.parameters()[name].default)
    for flag, name in pairs("benchmark", ("not_default",)))
#: (flag, parameter) pairs passed only to a search for the largest batch, so other
#: experiments' launch scripts stay as they were.
MAX_BATCH_FLAG_PARAMS: tuple[tuple[str, str], ...] = pairs("benchmark", ("max_batch",))

#: Flags that only concern a real data set (left out when ``exp.data`` is ``synthetic``).
REAL_DATA_FLAGS = frozenset(flag for flag, _ in pairs("benchmark", ("real_data",)))

SCRIPT = "pytorch_benchmarks/benchmarks.py"
#: The serving workload's entry point (``exp.phase=serve``), beside the benchmark's package.
SERVE_SCRIPT = "serving/loadgen.py"
#: (flag, parameter) pairs of ``loadgen.py``: every ``serve.*`` parameter it reads, passed as
#: it is.
SERVE_FLAG_PARAMS: tuple[tuple[str, str], ...] = pairs("loadgen")
#: Switches passed only when on: the launch scripts of plans that leave them off stay as they
#: were before the switch existed.
SERVE_FLAGS_WHEN_TRUE = frozenset(name for _, name in pairs("loadgen", ("true",)))
#: Passed only to a capacity search: the launch scripts of rate sweeps stay as they were.
SERVE_FLAGS_WHEN_SEARCHING = frozenset(name for _, name in pairs("loadgen", ("searching",)))
#: Passed only when not loadgen's default (the parameter's own): the launch scripts of plans
#: that leave them alone stay as they were before the parameter existed.
SERVE_FLAGS_WHEN_CHANGED: dict[str, object] = {
    name: catalogue.parameters()[name].default for _, name in pairs("loadgen", ("changed",))}
#: The one flag passed even when empty: an empty endpoint is refused by name.
SERVE_FLAGS_ALWAYS = frozenset(name for _, name in pairs("loadgen", ("always",)))


def num_replicas(exp: Experiment) -> int:
    """Processes to start on this node: GPU replicas (``exp.gpus`` groups) or CPU replicas."""
    if exp.device == "gpu":
        return max(1, exp.num_local_replicas)
    return max(1, exp.cpu_replicas)


def gpus_per_process(exp: Experiment) -> int:
    """GPUs each benchmark process drives (all local GPUs, or one group under torchrun)."""
    if exp.device != "gpu":
        return 0
    return max(1, exp.num_local_gpus // num_replicas(exp))


def cpu_threads(exp: Experiment) -> int:
    """CPU threads per replica (``exp.cpu_threads``; 0: the benchmark decides). Passed on GPU
    experiments too: it is never silently ignored."""
    return max(0, exp.cpu_threads)


def python_for(exp: Experiment) -> str:
    """The interpreter: ``runtime.docker_python`` in a container, else ``runtime.python``."""
    return exp.docker_python if exp.in_container else exp.python


def script_path(exp: Experiment) -> str:
    """Path of ``benchmarks.py`` (``loadgen.py`` for ``exp.phase=serve``) as the launched
    process sees it (``pytorch.bench_path``)."""
    base = exp.bench_path.rstrip("/")
    script = SERVE_SCRIPT if exp.serves else SCRIPT
    return f"{base}/{script}" if base else script


def requests_file(log_file: str) -> str:
    """Where a serving run keeps each request's record: beside its log."""
    return log_file.removesuffix(".log") + ".requests.jsonl"


def serve_flags(exp: Experiment) -> list[str]:
    """The ``loadgen.py`` flags of a serving experiment (``serve.*``; absent ones are
    loadgen's defaults), and where its per-request records go."""
    raw = exp.raw
    flags: list[str] = []
    for flag, name in SERVE_FLAG_PARAMS:
        value = raw.get(name)
        if name == exp.serving.parameter("model") and not value:
            value = exp.model  # '': the experiment's model
        if name in SERVE_FLAGS_ALWAYS:  # always: an empty one is refused by name
            flags += [flag, as_arg(value or "")]
        elif name in SERVE_FLAGS_WHEN_SEARCHING:
            if value not in (None, "") and exp.serving.searches:
                flags += [flag, as_arg(value)]
        elif name in SERVE_FLAGS_WHEN_CHANGED:
            if value not in (None, "") and changed(value, SERVE_FLAGS_WHEN_CHANGED[name]):
                flags += [flag, as_arg(value)]
        elif name in SERVE_FLAGS_WHEN_TRUE:
            if as_bool(value):
                flags += [flag, "true"]
        elif value is not None and value != "":
            flags += [flag, as_arg(value)]
    if exp.serving.searches:  # each step's line in the log as it ends: the runner shows it
        flags.append("--progress")
    if exp.log_file:
        flags += ["--requests_file", requests_file(exp.log_file)]
    return flags


def changed(value: object, default: object) -> bool:
    """Whether a parameter's value differs from loadgen's default (numbers compared as
    numbers: ``1.0`` is the default ``1``)."""
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return float(value) != float(default)  # type: ignore[arg-type]
    return str(value) != str(default)


def benchmark_flags(exp: Experiment) -> list[str]:
    """The ``benchmarks.py`` flags of ``exp``; parameters absent from ``exp`` are left out.

    The flag tables name the parameters passed on as they are: those are read from ``raw``
    (a value keeps its written form: ``--batch_size 16``, a JSON ``--model_config``)."""
    raw = exp.raw
    flags = ["--forward_only", as_arg(exp.forward_only),
             "--num_gpus", str(gpus_per_process(exp)), "--device", exp.device]
    synthetic = exp.data == "synthetic"
    for flag, name in FLAG_PARAMS:
        if synthetic and flag in REAL_DATA_FLAGS:
            continue  # the benchmark warns that these mean nothing with synthetic data
        if name in raw and raw[name] is not None:
            flags += [flag, as_arg(raw[name])]
    for flag, name in NONZERO_FLAG_PARAMS:
        value = raw.get(name)
        if value:  # a JSON value (pytorch.model_config) stays JSON, never a Python repr
            flags += [flag, json.dumps(value) if isinstance(value, (dict, list)) else as_arg(value)]
    for flag, name, default in NOT_DEFAULT_FLAG_PARAMS:
        value = raw.get(name, default)
        if value is not None and value != default:
            flags += [flag, as_arg(value)]
    # Only a search for the largest batch gets its time limit, so other experiments' launch
    # scripts stay as they were.
    for flag, name in MAX_BATCH_FLAG_PARAMS:
        if exp.max_batch and raw.get(name) is not None:
            flags += [flag, as_arg(raw[name])]
    threads = cpu_threads(exp)
    if threads:
        flags += ["--num_threads", str(threads)]
    if exp.data_dir:
        flags += ["--data_dir", exp.data_dir]
    return flags


class BenchmarkLayer:
    """Builds ``python benchmarks.py FLAGS``; it ignores the command it is given."""

    name = "benchmark"

    def applies(self, exp: Experiment) -> bool:
        """Always: every experiment runs the benchmark."""
        return True

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return the benchmark command (keeping ``cmd.env``); a serving experiment's is the
        load client's."""
        flags = serve_flags(exp) if exp.serves else benchmark_flags(exp)
        argv = (python_for(exp), script_path(exp), *flags)
        return replace(cmd, argv=tuple(argv))
