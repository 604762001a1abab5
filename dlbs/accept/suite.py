"""The suite of ``dlbs accept``, read from an ordinary plan file (``examples/acceptance.json``)
through the project's plan machinery: the default configs and the plan merged, built and
expanded by :mod:`dlbs.engine`, as ``experimenter run`` reads a plan. The ``accept.*``
parameters (``config/accept.json``) say which checks run and their settings; each experiment of
the plan is a reference training run, its command line the benchmark's own flags
(:func:`dlbs.launchers.benchmark.benchmark_flags`).

A bad value is a :class:`dlbs.errors.ConfigError` of one line naming the file and the
parameter. Reads files; starts nothing.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbs.errors import ConfigError, DLBSError
from dlbs.params import catalogue

#: The checks a suite may name (``accept.checks``, ``--checks``): those of the check program
#: (``pytorch_benchmarks.measure.acceptance.CHECKS``) and the reference training run.
CHECK_NAMES = ("matmul", "memcopy", "allreduce", "environment", "dcgmi", "pair", "training")
#: The precisions ``accept.matmul_precisions`` takes (the check program's dtypes).
PRECISIONS = ("fp32", "bf16", "fp16", "fp64")
#: The name of each experiment's reference run (one a run: it may differ between them).
TRAINING_CHECK = "accept.training_check"
#: The suite's own parameters (config/accept.json's group ``accept``, less the run's name);
#: each must be the same in every experiment of the plan.
SUITE_PARAMETERS = tuple(name for name in catalogue.groups()["accept"] if name != TRAINING_CHECK)
#: Said when a plan that sets no device runs on this host's CPU (it has no GPU).
ON_THE_CPU = ("the plan sets no exp.gpus and this host has no NVIDIA GPU: its reference runs "
              "run on the CPU (exp.gpus '')")
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_SIZE = re.compile(r"^(\d+)([KMG]?)$", re.IGNORECASE)
_CHECK_NAME = re.compile(r"^training\w*$")
#: What a reference training run's figure depends on, recorded with it (a reference row is used
#: only at the same values): the model, its batch, precision, device kind (``exp.device_type``:
#: cpu or gpu), the batches timed and warmed up, and the model's own config (a Llama block):
#: each parameter's ``roles.reference_setting`` in config/*.json, in its place.
TRAINING_SETTINGS = catalogue.reference_settings()


@dataclass(frozen=True)
class Training:
    """One reference training run: the check it is, the benchmark's arguments, in words, and
    the GPU it runs on (``exp.gpus``: ``CUDA_VISIBLE_DEVICES``, as the launcher sets it; ''
    on the CPU)."""

    check: str
    args: tuple[str, ...]
    what: str
    gpus: str = ""
    settings: tuple[tuple[str, str], ...] = ()  # TRAINING_SETTINGS, as setting_text gives them


@dataclass(frozen=True)
class Suite:
    """What ``dlbs accept`` runs on each node, as the plan file says."""

    path: str
    checks: tuple[str, ...]
    matmul_size: int = 1024
    matmul_precisions: tuple[str, ...] = ("fp32", "bf16")
    memcopy_megabytes: int = 128
    allreduce_sizes: tuple[int, ...] = (1 << 20, 1 << 22, 1 << 24)
    trainings: tuple[Training, ...] = ()

    def program_options(self) -> list[str]:
        """The check program's options for these settings
        (``python -m pytorch_benchmarks.measure.acceptance OPTIONS CHECK ...``)."""
        return ["--matmul-size", str(self.matmul_size),
                "--matmul-precisions", ",".join(self.matmul_precisions),
                "--memcopy-megabytes", str(self.memcopy_megabytes),
                "--allreduce-sizes", ",".join(map(str, self.allreduce_sizes))]

    def figure_checks(self) -> list[str]:
        """The names of the figures these checks give (what the verdicts are on)."""
        names = {"matmul": [f"matmul_{p}" for p in self.matmul_precisions],
                 "memcopy": ["memcopy"], "allreduce": ["allreduce_busbw"],
                 "pair": ["pair_busbw"], "training": [t.check for t in self.trainings]}
        return [name for check in self.checks for name in names.get(check, [])]

    def check_settings(self, check: str) -> dict[str, str] | None:
        """The settings a figure check is measured at (parameter -> :func:`setting_text`),
        what a reference row must have been measured at to judge it; None for a check this
        suite has no settings of (a reference run it does not hold)."""
        if check.startswith("matmul_"):  # the precision is the check's own name
            return {"accept.matmul_size": str(self.matmul_size)}
        if check == "memcopy":
            return {"accept.memcopy_megabytes": str(self.memcopy_megabytes)}
        if check in ("allreduce_busbw", "pair_busbw"):
            return {"accept.allreduce_sizes": sizes_text(self.allreduce_sizes)}
        for run in self.trainings:
            if run.check == check:
                return dict(run.settings)
        return None


def _bad(path: str, name: str, value: Any, what: str) -> ConfigError:
    return ConfigError(f"{path}: parameter {name} = {value!r}: {what} (docs/acceptance.md)")


def _words(path: str, name: str, value: Any) -> list[str]:
    """A comma-separated string or a list of strings, as words; a ConfigError else."""
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):  # a list in the plan is expanded into words: "fp32 bf16"
        return [w for w in re.split(r"[,\s]+", value) if w]
    raise _bad(path, name, value, "give a comma-separated string or a list")


def _chosen(path: str, name: str, value: Any, known: Sequence[str]) -> tuple[str, ...]:
    words = _words(path, name, value)
    unknown = [w for w in words if w not in known]
    if unknown or not words:
        raise _bad(path, name, value, f"{'no ' + repr(unknown[0]) if unknown else 'none named'}"
                   f"; give some of {','.join(known)}")
    return tuple(dict.fromkeys(words))


def _positive(path: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(path, name, value, "give a whole number, 1 or more")
    return value


def _size(path: str, name: str, word: str, value: Any) -> int:
    found = _SIZE.match(word)
    size = int(found[1]) * _UNITS.get(found[2].upper(), 1) if found else 0
    if size < 4 or size % 4:
        raise _bad(path, name, value, f"{word!r} is not a size of 4 bytes or more, a multiple "
                   "of 4 (bytes, or with K, M, G: 1M,4M,16M)")
    return size


def sizes_text(sizes: Sequence[int]) -> str:
    """Sizes in bytes as the plan writes them, each in the largest of G, M, K that divides it
    (``1M,4M,16M``): one form for one sweep, however it was written."""
    words = []
    for size in sizes:
        unit = next((u for u in "GMK" if size % _UNITS[u] == 0), "")
        words.append(f"{size // _UNITS[unit]}{unit}" if unit else str(size))
    return ",".join(words)


def setting_text(path: str, name: str, value: Any) -> str:
    """One setting of a check in the one form rows and plans are compared in: a sweep's sizes
    as :func:`sizes_text`, a JSON config with its keys sorted, unset as ''; a ConfigError
    naming ``path`` for a sweep that is no sweep."""
    if name == "accept.allreduce_sizes":
        words = _words(path, name, value)
        return sizes_text([_size(path, name, w, value) for w in words])
    if value is None:
        return ""
    if isinstance(value, str) and name == "pytorch.model_config" and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            return value.strip()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def settings(path: str, experiment: Mapping[str, Any]) -> dict[str, Any]:
    """The suite's settings of one expanded experiment (a ConfigError on a bad value)."""
    sizes = experiment.get("accept.allreduce_sizes", "1M,4M,16M")
    words = _words(path, "accept.allreduce_sizes", sizes)
    if not words:
        raise _bad(path, "accept.allreduce_sizes", sizes, "give one size or more")
    return {
        "checks": _chosen(path, "accept.checks", experiment.get("accept.checks", ""),
                          CHECK_NAMES),
        "matmul_size": _positive(path, "accept.matmul_size",
                                 experiment.get("accept.matmul_size", 1024)),
        "matmul_precisions": _chosen(path, "accept.matmul_precisions",
                                     experiment.get("accept.matmul_precisions", "fp32,bf16"),
                                     PRECISIONS),
        "memcopy_megabytes": _positive(path, "accept.memcopy_megabytes",
                                       experiment.get("accept.memcopy_megabytes", 128)),
        "allreduce_sizes": tuple(_size(path, "accept.allreduce_sizes", w, sizes) for w in words),
    }


def training(path: str, experiment: Mapping[str, Any]) -> Training:
    """One experiment as a reference training run on one process (a ConfigError else)."""
    from dlbs.experiment import Experiment
    from dlbs.launchers.benchmark import benchmark_flags, num_replicas

    name = experiment.get(TRAINING_CHECK, "training")
    if not isinstance(name, str) or not _CHECK_NAME.match(name):
        raise _bad(path, TRAINING_CHECK, name, "give a name of letters, digits and _ that "
                   "starts with 'training', e.g. training_${exp.model}")
    if not experiment.get("exp.model"):
        raise _bad(path, "exp.model", experiment.get("exp.model"), "a reference run needs a "
                   "model of the zoo, e.g. resnet50 (benchmarks.py --list_models)")
    if experiment.get("exp.phase") != "training":
        raise _bad(path, "exp.phase", experiment.get("exp.phase"), "a reference run of the "
                   "suite is a training run: give training")
    try:
        view = Experiment.of(experiment)
        replicas = num_replicas(view)
        flags = benchmark_flags(view)
    except (DLBSError, ValueError, TypeError) as err:
        raise ConfigError(f"{path}: the reference run {name}: {err}") from None
    if replicas != 1:
        raise _bad(path, "exp.gpus", experiment.get("exp.gpus"), f"{replicas} replicas: a "
                   "reference run of the suite is one process; give one GPU (0) or none ('')")
    gpus = experiment.get("exp.gpus")
    measured_at = {**{name: experiment.get(name) for name in TRAINING_SETTINGS},
                   "exp.device_type": view.device}
    what = (f"{experiment.get('exp.model')} batch {experiment.get('exp.replica_batch')} "
            f"training on {f'GPU {gpus}' if gpus else 'the CPU'}")
    return Training(name, ("-m", "pytorch_benchmarks.benchmarks", *flags, "--facts", "stdout"),
                    what, str(experiment.get("exp.gpus") or ""),
                    tuple((name, setting_text(path, name, measured_at[name]))
                          for name in TRAINING_SETTINGS))


def from_experiments(path: str, experiments: Sequence[Mapping[str, Any]]) -> Suite:
    """The suite of a plan's expanded experiments: its settings (the same in each; a
    ConfigError naming the first that differs) and a reference run each (names distinct)."""
    if not experiments:
        raise ConfigError(f"{path}: the plan has no experiment (its variables hold no value)")
    first = settings(path, experiments[0])
    for experiment in experiments[1:]:
        for name in SUITE_PARAMETERS:
            if experiment.get(name) != experiments[0].get(name):
                raise _bad(path, name, experiment.get(name), f"differs between the plan's "
                           f"experiments ({experiments[0].get(name)!r} in the first): set it "
                           "once, as a parameter, not in a variable or an extension")
    runs = tuple(training(path, e) for e in experiments)
    seen: set[str] = set()
    for run in runs:
        if run.check in seen:
            raise _bad(path, TRAINING_CHECK, run.check, f"{len(runs)} reference runs share "
                       "this name; give each its own, e.g. training_${exp.model}")
        seen.add(run.check)
    return Suite(path, trainings=runs, **first)


def narrowed(suite: Suite, checks: Sequence[str] | None) -> Suite:
    """The suite with ``--checks`` instead of the plan's ``accept.checks`` (None: the plan's)."""
    if checks is None:
        return suite
    return Suite(suite.path, tuple(checks), suite.matmul_size, suite.matmul_precisions,
                 suite.memcopy_megabytes, suite.allreduce_sizes, suite.trainings)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_suite(path: Path, say: Callable[[str], None] | None = None) -> Suite:
    """The suite of the plan file ``path`` (JSON or YAML config: parameters, variables,
    extensions), merged with the default configs, built, placed on this host (a plan that sets
    no device runs on its CPU when it has no GPU, as ``run`` does) and expanded; a
    ConfigError of one line naming the file for anything wrong."""
    from dlbs.cli.param_ranges import check_ranges, declared_ranges
    from dlbs.cli.paramnames import check_unknown_names, closest_declared, set_names
    from dlbs.cli.planargs import make_environ
    from dlbs.config import load_config_file, load_default_configs
    from dlbs.dispatch.device import on_this_host
    from dlbs.engine import build_plan, expand_plan, merge_configs
    from dlbs.params.catalogue import device_choosers

    shown = str(path)
    try:
        sources = [(shown, load_config_file(path))]
        config = merge_configs(sources, defaults=load_default_configs())
        declared = [n for n, spec in config.specs.items()
                    if n.startswith("accept.") and spec.desc]
        for _, name in set_names(sources):
            if name.startswith("accept.") and name not in declared:
                close = closest_declared(name, declared)
                raise ConfigError(f"{shown}: parameter {name} is not one dlbs accept knows"
                                  f"{f'; did you mean {close}?' if close else ''} (its "
                                  f"parameters: {', '.join(declared)})")
        check_unknown_names(config, sources, offers_allow=False)
        environ = make_environ()
        inherited = not any(name in device_choosers() for _, name in set_names(sources))
        built = on_this_host(build_plan(config), config.specs, environ, inherited=inherited,
                             say=lambda _: (say or _stderr)(f"{shown}: {ON_THE_CPU}"))
        experiments = list(expand_plan(built, config.specs, environ))
        ranges = declared_ranges()
        for experiment in experiments:
            problems = check_ranges(experiment, ranges)
            if problems:
                raise ConfigError(f"{shown}: {problems[0]}")
    except DLBSError as err:
        text = str(err)
        raise ConfigError(text if text.startswith(shown) else f"{shown}: {text}") from None
    return from_experiments(shown, experiments)
