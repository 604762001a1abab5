"""``experimenter validate``: expand the whole plan and check that it can run.

Expansion errors (undefined references, failed casts, values outside their domain) stop at
the first one. Then every experiment that would run (``exp.status`` ``ok`` or ``simulate``) is
checked for what a run needs; all problems are collected and reported as one error. The summary
(``N to run``, ``N to simulate``, then the skipped statuses) goes to stderr; nothing is run and stdout stays empty. ``run`` uses :func:`validate_experiments`
too (unless ``--no-validation``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pytorch_benchmarks.models.names import unknown_model_message

from dlbs.cli.param_ranges import check_ranges, declared_ranges
from dlbs.cli.planargs import add_plan_arguments, load_experiments
from dlbs.errors import DLBSError, ValidationError
from dlbs.experiment import Experiment, checks
from dlbs.experiment.checks import experiment_check
from dlbs.runner.ownfiles import folder_escape
from dlbs.runner.provenance import nvidia_driver

HELP = "expand the plan and check that every experiment can run (nothing is run)"
EXAMPLE = "experimenter validate --config sweep.yaml -Pexp.model=resnet50"

log = logging.getLogger(__name__)

#: ``exp.status`` values of experiments that are never run.
SKIPPED_STATUSES = frozenset({"disabled", "inactive"})
#: ``exp.status`` of experiments whose launch script is printed instead of run.
SIMULATE = "simulate"
FRAMEWORKS = frozenset({"pytorch"})
GPUS = re.compile(r"\d+([,:]\d+)*")
ID_WORD = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_TIMEOUT_S = 30 * 24 * 3600
ADAPTIVE = ("exp.target_precision", "exp.max_time")
#: The ``exp.replica_batch`` that asks the benchmark for the largest batch that fits.
MAX_BATCH = "max"
#: A zoo or plugin name, or ``hf:<model_type>`` (a Hugging Face model; ':' only in that prefix).
MODEL_NAME = re.compile(r"(hf:)?[A-Za-z0-9_][A-Za-z0-9_.\-]*")


@dataclass
class ValidationReport:
    """What validation found: counts, the problems and the warnings (``experiment index:
    message``); problems stop a run, warnings do not."""

    total: int = 0
    statuses: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a one-line summary, e.g. ``4 experiments: 2 to run, 1 to simulate,
        1 disabled`` (simulated experiments print their launch script; they do not run)."""
        runnable = sum(n for status, n in self.statuses.items()
                       if status not in SKIPPED_STATUSES and status != SIMULATE)
        parts = [f"{runnable} to run"]
        if self.statuses[SIMULATE]:
            parts.append(f"{self.statuses[SIMULATE]} to simulate")
        parts += [f"{n} {status}" for status, n in sorted(self.statuses.items())
                  if status in SKIPPED_STATUSES]
        noun = "experiment" if self.total == 1 else "experiments"
        return f"{self.total} {noun}: {', '.join(parts)}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plan options."""
    add_plan_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Validate the plan; print a summary to stderr; raise ValidationError on a problem."""
    notes: list[str] = []  # the CPU instead of the default GPU (dlbs.dispatch.device)
    experiments = list(load_experiments(args, on_this_host=notes.append))
    report, images = check_runnable(experiments)
    found = f"; container image(s) found: {', '.join(images)}" if images else ""
    print(f"validate: OK, {report.summary()}{found}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    from dlbs.launchers.preflight import plan_lines  # the benchmark's, torch-free

    for line in plan_lines([Experiment.of(exp) for exp in experiments]):
        print(line, file=sys.stderr)
    return 0


def check_runnable(experiments: Sequence[Mapping[str, Any]]
                   ) -> tuple[ValidationReport, dict[str, str]]:
    """Everything ``validate`` checks (also ``run``'s check before it starts): raise
    ValidationError on the first problem; return the report and the docker image ids."""
    report = validate_experiments(experiments)
    raise_on_problems(report)
    print_warnings(report)
    check_host(experiments)
    from dlbs.dispatch.executors import check_scheduler  # Slurm answers, partitions exist
    check_scheduler([Experiment.of(exp) for exp in experiments])
    return report, check_docker(experiments)


def check_docker(experiments: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Ask the Docker engine (SDK) about the images of runnable docker experiments.

    Returns image -> id; raises ValidationError saying what to do when the engine does not
    answer or an image is missing. Plans without docker experiments never touch the SDK.
    """
    from dlbs.runner import containerctl  # podman, apptainer, pyxis: programs, images
    from dlbs.runner.dockerengine import check_plan  # lazy: the docker SDK is slow to import

    views = [Experiment.of(exp) for exp in experiments]
    return {**containerctl.check_plan(views), **check_plan(views)}


def check_log_collisions(experiments: Sequence[Mapping[str, Any]]) -> None:
    """What ``run --no-validation`` still checks: no two runnable experiments share a log
    (one would be skipped as "already done", or both write one file), and every count, size
    and time is in its declared range (out of it, the runner or the benchmark would crash or
    hang on it). Raise ValidationError."""
    report, seen = ValidationReport(), {}  # type: ignore[var-annotated]
    for index, experiment in enumerate(experiments):
        report.total += 1
        exp = Experiment.of(experiment)
        if exp.status not in SKIPPED_STATUSES:
            report.problems += [f"experiment {index}: {message}"
                                for message in check_ranges(exp.raw)]
            report.problems += _log_collision(index, exp, seen)
    raise_on_problems(report)


def raise_on_problems(report: ValidationReport) -> None:
    """Raise one ValidationError naming the first problem and how many there are."""
    if not report.problems:
        return
    for problem in report.problems:
        log.info("invalid: %s", problem)
    more = len(report.problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''}; see --log-level info)" \
        if more else ""
    raise ValidationError(f"invalid plan ({report.summary()}): {report.problems[0]}{tail}")


def print_warnings(report: ValidationReport, limit: int = 3) -> None:
    """Print each distinct warning once on stderr (``warning: experiment I: ...``), with how
    many more experiments share it."""
    seen: dict[str, list[str]] = {}
    for warning in report.warnings:
        where, _, message = warning.partition(": ")
        seen.setdefault(message, []).append(where)
    for message, wheres in list(seen.items())[:limit]:
        more = f" (and {len(wheres) - 1} more)" if len(wheres) > 1 else ""
        print(f"warning: {wheres[0]}{more}: {message}", file=sys.stderr)


def validate_experiments(experiments: Iterable[Mapping[str, Any]]) -> ValidationReport:
    """Check every expanded experiment; return the counts and the problems found."""
    report = ValidationReport()
    log_files: dict[str, tuple[int, Any]] = {}
    for index, experiment in enumerate(experiments):
        report.total += 1
        status = str(experiment.get("exp.status", "ok"))
        report.statuses[status] += 1
        if status in SKIPPED_STATUSES:
            continue
        try:
            exp = Experiment.of(experiment)
        except DLBSError as err:  # a count that is not a number: nothing else can be read
            report.problems.append(f"experiment {index}: {err}")
            continue
        report.problems += [f"experiment {index}: {message}" for message in checks.problems(exp)]
        report.warnings += [f"experiment {index}: {message}" for message in checks.warnings(exp)]
        report.problems += _log_collision(index, exp, log_files)
    return report


def check_experiment(experiment: Mapping[str, Any]) -> list[str]:
    """Return what keeps one expanded, runnable experiment from running (empty when fine):
    every problem check of the registry (``dlbs.experiment.checks``), in order."""
    return checks.problems(Experiment.of(experiment))


def warn_experiment(experiment: Mapping[str, Any]) -> list[str]:
    """Return what is set but will not be used (the experiment still runs)."""
    return checks.warnings(Experiment.of(experiment))


@experiment_check()
def _check_model(exp: Experiment) -> list[str]:
    """``exp.model`` set, a model name (it names the log file: '/' or '..' would write outside
    ``exp.log_dir``), and known to the zoo when its code is on this host."""
    model = exp.model
    if not model:
        return ["exp.model is empty; set it, e.g. -Pexp.model=resnet50"]
    if not MODEL_NAME.fullmatch(model):
        return [(f"exp.model {model!r} is not a model name (letters, digits, '_', '-', "
                 "'.', or hf:<model_type>; see benchmarks.py --list_models)")]
    if exp.serves:  # the server's model: serve.model is what the requests name
        return []
    return _unknown_model(exp, model)


@experiment_check()
def _check_framework(exp: Experiment) -> list[str]:
    """``exp.framework`` is one dlbs runs."""
    framework = exp.raw.get("exp.framework")
    if framework not in FRAMEWORKS:
        return [f"exp.framework '{framework}' is not one of {', '.join(sorted(FRAMEWORKS))}"]
    return []


@experiment_check()
def _check_ranges(exp: Experiment) -> list[str]:
    """Counts, sizes, times: config/*.json's min and max, on the values as written."""
    return check_ranges(exp.raw)


@lru_cache(maxsize=1)
def _default_image() -> str:
    """The default of ``pytorch.docker_image`` (what ``exp.docker_image`` is unless set)."""
    from dlbs.config import default_config_files, load_config_file

    for path in default_config_files():  # read as any config: a FIFO is refused, not waited on
        spec = load_config_file(path).get("parameters", {}).get("pytorch.docker_image")
        if isinstance(spec, dict):
            return str(spec.get("val", ""))
    return ""


@experiment_check(warning=True)
def _check_unused_nodes(exp: Experiment) -> list[str]:
    """A rank or rendezvous that the experiment's nodes do not use."""
    from dlbs.launchers.torchrun import node_warnings

    try:
        return node_warnings(exp)
    except DLBSError:
        return []  # a malformed value: a problem check reports it


@experiment_check(warning=True)
def _check_unused_image(exp: Experiment) -> list[str]:
    """An image chosen by the user (DLBS ran in Docker by default) on a bare-metal run."""
    image = exp.image
    if exp.in_container or not image or image == _default_image():
        return []
    return [(f"exp.docker_image is {image!r} but exp.docker is false: the experiment runs on "
             "bare metal and the image is not used (DLBS ran in Docker by default; dlbs does "
             "not): set -Pexp.docker=true to run in it")]


@experiment_check(warning=True)
def _check_unused_runtime(exp: Experiment) -> list[str]:
    """A container runtime chosen on a bare-metal run (exp.docker false)."""
    runtime = exp.container_runtime
    if exp.in_container or runtime == "docker":
        return []
    return [(f"exp.container_runtime is {runtime!r} but exp.docker is false: the experiment "
             "runs on bare metal; set -Pexp.docker=true to run it in a container")]


@experiment_check()
def _check_repeat_index(exp: Experiment) -> list[str]:
    """``exp.repeat_index`` below ``exp.repeat`` (when both are valid: an invalid one has its
    own message)."""
    index, repeat = exp.raw.get("exp.repeat_index", 0), exp.raw.get("exp.repeat", 1)
    valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (index, repeat))
    if not valid or index < 0 or repeat < 1 or index < repeat:
        return []
    return [f"exp.repeat_index is {index}; it must be below exp.repeat ({repeat})"]


@experiment_check()
def _check_max_batch(exp: Experiment) -> list[str]:
    """``exp.replica_batch`` 'max': one replica (the largest batch is searched in one process,
    and replicas would have to agree on it) and a model to fit (not the input pipeline alone).
    The benchmark refuses the same (``run --no-validation``)."""
    if not exp.max_batch:
        return []
    problems = []
    replicas = exp.raw.get("exp.num_replicas", 1)
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 1:
        problems.append(f"exp.replica_batch is 'max' but exp.num_replicas is {replicas}: the "
                        "largest batch is searched with one replica; run 'max' on one (e.g. "
                        "-Pexp.gpus=0 or -Pexp.cpu_replicas=1), then give its results.max_batch "
                        "as an integer exp.replica_batch")
    if exp.data_loader_only:
        problems.append("exp.replica_batch is 'max' but pytorch.data_loader_only is true: the "
                        "input pipeline alone has no model to fit in memory; give an integer "
                        "batch")
    return problems


@experiment_check()
def _check_numbers(exp: Experiment) -> list[str]:
    """No NaN or infinite number anywhere (a declared range says it in its own words)."""
    ranged = {declared.name for declared in declared_ranges()}
    return [f"{name} is {value!r}; give a finite number" for name, value in exp.raw.items()
            if isinstance(value, float) and not math.isfinite(value)
            and name not in ADAPTIVE and name not in ranged]  # those have their own message


@experiment_check()
def _check_gpus(exp: Experiment) -> list[str]:
    """``exp.gpus``: empty (CPU) or GPU indices separated by ',' (replicas) or ':' (a group)."""
    raw = exp.gpus
    gpus = raw.strip()
    fix = "give GPU indices like '0', '0,1' or '0:1,2:3', or -Pexp.gpus='\"\"' for the CPU"
    if gpus and not GPUS.fullmatch(gpus):
        return [f"exp.gpus is {gpus!r}; {fix}"]
    if gpus and gpus != raw:  # the launchers pass the value on as it is (--gpus device=...)
        return [f"exp.gpus is {raw!r}, with spaces around it; give {gpus!r}"]
    ids = re.split("[:,]", gpus) if gpus else []
    twice = sorted({gpu for gpu in ids if ids.count(gpu) > 1}, key=int)
    if twice:
        return [(f"exp.gpus is {gpus!r}: GPU {', '.join(twice)} appears more than once, so "
                 "replicas would share it; name each GPU once")]
    return []


@experiment_check()
def _check_paths(exp: Experiment) -> list[str]:
    """``exp.id`` is one plain word, and a log file named under ``exp.log_dir`` stays in it."""
    problems = []
    if exp.id and (not ID_WORD.fullmatch(exp.id) or exp.id in (".", "..")):
        problems.append(f"exp.id {exp.id!r} is not a plain word (letters, digits, '_', '-', "
                        "'.'): it names the log file")
    # The log's folder, resolved, as the runner checks it again when it writes (a link planted
    # at the log itself is refused then, failing that experiment only).
    if folder_escape(exp) is not None:
        problems.append(f"exp.log_file '{exp.log_file}' leaves exp.log_dir '{exp.log_dir}'")
    return problems


@experiment_check()
def _check_device_type(exp: Experiment) -> list[str]:
    """``exp.device_type`` 'gpu' needs GPUs in ``exp.gpus``: dlbs computes it from ``exp.gpus``,
    but a config may set it (DLBS's inference recipe sets ``"exp.device_type": "gpu"``), and then
    emptying ``exp.gpus`` leaves a GPU experiment without a GPU."""
    if exp.declared_device != "gpu" or exp.gpus.strip():
        return []
    return [("exp.device_type is 'gpu' but exp.gpus is empty, so there is no GPU to run on "
            "(a config or -P sets exp.device_type, which dlbs otherwise computes from "
            "exp.gpus): for the CPU add -Pexp.device_type=cpu (or remove it from the config); "
            "for GPUs give exp.gpus, e.g. -Pexp.gpus=0")]


@experiment_check()
def _check_adaptive(exp: Experiment) -> list[str]:
    """``exp.target_precision`` in [0, 1) and ``exp.max_time`` in [0, MAX_TIMEOUT_S], finite
    numbers (as written: a string is not one)."""
    problems = []
    for name, high in zip(ADAPTIVE, (1.0, MAX_TIMEOUT_S + 1)):
        value = exp.raw.get(name, 0)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not 0 <= value < high:
            limit = "a number >= 0 and < 1 (e.g. 0.01)" if high == 1.0 else \
                f"a number of seconds >= 0 (0: no limit) (at most {MAX_TIMEOUT_S})"
            problems.append(f"{name} is {value!r}; it must be {limit}")
    return problems


@experiment_check()
def _check_nodes(exp: Experiment) -> list[str]:
    """Several nodes need a way to reach them (Slurm, or a rendezvous with this node's rank);
    the rank is a node of the experiment, the rendezvous ``HOST:PORT``. One line each, naming
    the parameter and the fix; the launcher refuses the same (``run --no-validation``)."""
    from dlbs.launchers.torchrun import check_nodes

    nodes = exp.raw.get("exp.num_nodes", 1)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        return []  # reported with the other counts
    try:
        check_nodes(exp)
    except DLBSError as err:
        return [str(err)]
    return []


@experiment_check()
def _check_measures(exp: Experiment) -> list[str]:
    """``exp.generate`` only in inference, ``pytorch.model_config`` a JSON object (the
    benchmark refuses the same, minutes later; ``exp.peak_tflops`` has its declared range)."""
    problems = []
    generate = exp.raw.get("exp.generate", 0)
    if isinstance(generate, int) and generate > 0 and not exp.forward_only:
        problems.append(f"exp.generate is {generate} but exp.phase is "
                        f"{exp.raw.get('exp.phase')!r}: generation latency is an inference "
                        "figure; add -Pexp.phase=inference")
    written = exp.raw.get("pytorch.model_config", "")
    config = written
    if isinstance(config, str) and config.strip():
        try:
            config = json.loads(config)
        except ValueError:
            config = None
    if not isinstance(config, dict) and config != "":
        problems.append(f"pytorch.model_config is {written!r}; "
                        "it must be a JSON object, e.g. '{\"n_layer\": 2}'")
    return problems


@experiment_check()
def _check_image(exp: Experiment) -> list[str]:
    """A container experiment names its image."""
    if exp.in_container and not exp.image:
        return ["exp.docker is true but exp.docker_image is empty"]
    return []


@experiment_check(only_if_clean=True)
def _check_launch(exp: Experiment) -> list[str]:
    """Build the launch script as ``run`` would (invalid env names, unbalanced quotes...)."""
    from dlbs.launchers import build_script  # lazy: jinja2 is not needed by print/build

    try:
        build_script(exp)
    except DLBSError as err:
        return [str(err)]
    return []


@experiment_check(only_if_clean=True)
def check_benchmark(exp: Experiment) -> list[str]:
    """What the benchmark would refuse of the experiment's flags, from its own checks (a
    sequence beyond the model's positions, a token model with real data, a bad flag value...):
    the zoo's metadata when its code is on this host; the data folder when this host runs it
    on bare metal."""
    from dlbs.launchers.preflight import benchmark_refusals, serve_refusals, zoo_folder

    if exp.serves:
        return serve_refusals(exp)
    host = exp.on_this_host and not exp.in_container
    return benchmark_refusals(exp, zoo_folder(exp), host)


def check_host(experiments: Iterable[Mapping[str, Any]]) -> None:
    """What this host must have: GPUs for a local, bare-metal GPU experiment."""
    if nvidia_driver() is not None:
        return
    for index, exp in enumerate(map(Experiment.of, experiments)):
        if (exp.status not in SKIPPED_STATUSES | {SIMULATE} and exp.on_this_host
                and not exp.in_container and exp.declared_device == "gpu"):
            raise ValidationError(
                f"experiment {index}: exp.gpus is {exp.gpus!r} (a GPU experiment) but "
                "this host has no NVIDIA GPU (no driver in /proc/driver/nvidia); a plan for "
                "another host is checked here with -Pexp.status=simulate (nothing runs; "
                "build --scripts DIR writes its launchers), and -Pexp.gpus='\"\"' runs it on "
                "this CPU where it fits (validate then holds its memory plan against this "
                "host's memory; with -Pexp.device_type=cpu too if a config sets "
                "exp.device_type)")


def _unknown_model(exp: Experiment, model: str) -> list[str]:
    """An unknown model, with "did you mean", from the sources of the zoo, of the installed
    ``dlbs.models`` plugins and of transformers for ``hf:`` names (no torch import)."""
    from dlbs.launchers.preflight import zoo_folder

    folder = zoo_folder(exp)
    message = unknown_model_message(model, folder) if folder else None
    return [f"exp.model: {message}"] if message else []


def _log_collision(index: int, exp: Experiment, seen: dict[str, tuple[int, Any]]) -> list[str]:
    """Two runnable experiments (or two runs of one) must not write the same log file (a
    check of the plan, not of one experiment: ``seen`` holds the logs before)."""
    log_file = exp.log_file
    if not log_file:
        return [f"experiment {index}: exp.log_file is empty"]
    key = os.path.realpath(log_file)  # a.log, ./a.log and a symlinked folder are one
    if key in seen:
        other, other_id = seen[key]
        where = (f"experiment {index}: exp.log_file '{log_file}' is also the log of experiment "
                 f"{other}")
        repeat = exp.raw.get("exp.repeat", 1)
        if other_id == exp.raw.get("exp.id") and repeat != 1:
            fix = ("add ${exp.repeat_index} to exp.log_file, e.g. "
                   "${exp.log_dir}/${exp.id}_r${exp.repeat_index}.log")
            return [f"{where}, another run of the same experiment (exp.repeat is {repeat}); {fix}"]
        return [f"{where}; make exp.log_file differ (e.g. add ${{exp.id}})"]
    seen[key] = (index, exp.raw.get("exp.id"))
    return []
