"""The options shared by the plan actions (print, build, validate, run) and plan loading.

``add_plan_arguments`` adds DLBS's options; ``open_plan`` turns parsed options into the built,
unexpanded plan (from config files and ``-P``/``-V``/``-E``, or from a ``--plan`` file), and
``load_experiments`` into the expanded experiments, lazily, one at a time, so that a large
plan streams in constant memory. Merging, building and expanding are the engine's; this module
only gathers the inputs (files, command line, environment).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dlbs
from dlbs.cli.argtypes import int_range
from dlbs.cli.paramnames import check_unknown_names, set_names
from dlbs.config import (
    load_config_file,
    load_default_configs,
    parse_extension_args,
    parse_param_args,
    parse_variable_args,
)
from dlbs.engine import Config, ParamSpec, build_plan, count_plan, expand_plan, merge_configs
from dlbs.engine.expand import REPEAT, REPEAT_INDEX, repeat_count
from dlbs.errors import ExpansionError, PlanError, UsageError
from dlbs.params import catalogue
from dlbs.planfile import read_plan

TIMESTAMP_PARAM = "sys.timestamp"
#: The names that choose the device (config/*.json: ``roles.chooses_device``, as
#: ``dlbs.dispatch.device.DEVICE_NAMES``): a plan that sets none only inherits DLBS's default
#: GPU 0.
DEVICE_NAMES = catalogue.device_choosers()
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
#: Experiments (runs, repeats included: what ``print --count`` prints) a plan may have before
#: the commands that expand it refuse it (``--max-experiments N``, 0: no limit). ``validate``,
#: ``run`` and ``status`` hold every expanded experiment in memory (about 5 KB each): this
#: many is about half a gigabyte and some minutes of expansion on 2 cores.
MAX_EXPERIMENTS = 100_000


@dataclass
class PlanSource:
    """A built plan ready to expand: experiments (lazy), parameter specs and environment."""

    experiments: Iterator[dict[str, Any]]
    specs: Mapping[str, ParamSpec]
    environ: Mapping[str, str]
    #: parameter name -> what to add to an expansion error about it (``shadowed_parameters``)
    hints: Mapping[str, str] = field(default_factory=dict)
    #: True when nothing the user gave sets the device (``exp.gpus``, ``exp.device_type``):
    #: the plan only inherits DLBS's default GPU 0 (``dlbs.dispatch.device``)
    device_inherited: bool = False
    #: the merged configuration the plan is built from (None for a ``--plan`` file)
    config: Config | None = None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that select config files: ``--config`` and ``--discard-default-config``."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", action="append", dest="configs", default=[], metavar="FILE",
                       help="a JSON or YAML config file (.yaml/.yml); repeat to merge several, "
                            "later ones win")
    group.add_argument("--discard-default-config", "--discard_default_config",
                       dest="discard_default_config", action="store_true",
                       help="do not load the default configs (config/*.json)")


def add_plan_arguments(parser: argparse.ArgumentParser, *, plan_is_output: bool = False) -> None:
    """Add DLBS's plan options. ``--plan`` names a plan file to read, or, for ``build``
    (``plan_is_output``), the file to write (as DLBS's ``build --plan FILE`` did)."""
    add_config_arguments(parser)
    group = parser.add_argument_group("plan")
    group.add_argument("--plan", metavar="FILE",
                       help="write the built plan to FILE" if plan_is_output else
                       "a plan file written by 'build' (or a DLBS plan: a JSON list of "
                       "experiments) to use instead of building one")
    group.add_argument("-P", action="append", dest="params", default=[], metavar="NAME=VALUE",
                       help="set a parameter; VALUE is JSON, or a plain string when it is not "
                            "valid JSON (-Pexp.model=resnet50, -Pexp.replica_batch=64)")
    group.add_argument("-V", action="append", dest="variables", default=[], metavar="NAME=VALUE",
                       help="set a variable (a list of values; a scalar is a one-value list), "
                            "e.g. -Vexp.model='[\"alexnet\", \"resnet50\"]'")
    group.add_argument("-E", action="append", dest="extensions", default=[], metavar="JSON",
                       help="append an extension: a JSON object with 'condition', "
                            "'parameters' and/or 'cases'")
    group.add_argument("--max-experiments", "--max_experiments", dest="max_experiments",
                       type=int_range(0, 2**63 - 1), default=MAX_EXPERIMENTS, metavar="N",
                       help=f"refuse a plan of more than N experiments (repeats included, as "
                            f"'print --count' counts them) before expanding it (default "
                            f"{MAX_EXPERIMENTS}; 0: no limit)")
    group.add_argument("--allow-unknown", "--allow_unknown", dest="allow_unknown",
                       action="store_true",
                       help="a parameter name that looks like a typo of a declared one "
                            "(exp.replica_bacth) is a warning, not an error: keep it as a name "
                            "of your own")
    group.add_argument("--strict", action="store_true",
                       help="any unknown parameter name in dlbs's namespaces (exp., pytorch., "
                            "runtime., monitor., slurm., sys.) is an error (exit 2), not a "
                            "warning")
    group = parser.add_argument_group("run")
    group.add_argument("--no-validation", "--no_validation", dest="no_validation",
                       action="store_true", help="run does not validate the plan first")
    group.add_argument("--progress-file", "--progress_file", dest="progress_file",
                       metavar="FILE", help="run writes its progress to FILE (JSON)")


Sources = list[tuple[str, dict[str, Any]]]


def config_sources(args: argparse.Namespace) -> tuple[Sources, Sources]:
    """Load ``(user configs, default configs)`` as ``(origin, raw config)`` pairs."""
    defaults = [] if getattr(args, "discard_default_config", False) else load_default_configs()
    sources = [(path, load_config_file(path)) for path in getattr(args, "configs", None) or []]
    return sources, defaults


def load_config(args: argparse.Namespace, *, with_command_line: bool = True) -> Config:
    """Merge the default configs, each ``--config`` and (optionally) ``-P``/``-V``/``-E``."""
    sources, defaults = config_sources(args)
    if not with_command_line:
        return merge_configs(sources, defaults=defaults)
    return merge_configs(sources, parse_param_args(getattr(args, "params", None)),
                         parse_variable_args(getattr(args, "variables", None)),
                         parse_extension_args(getattr(args, "extensions", None)),
                         defaults=defaults)


def shadowed_parameters(sources: Sources, params: Mapping[str, Any],
                        variables: Mapping[str, Any]) -> dict[str, str]:
    """``-P`` names that a config's variable of the same name beats (a variable beats a
    parameter, as in DLBS), unless ``-V`` replaces that variable: name -> what to do."""
    hints = {}
    for name, value in params.items():
        if name in variables:
            continue
        owners = [origin for origin, raw in sources
                  if isinstance(raw, Mapping) and isinstance(raw.get("variables"), Mapping)
                  and name in raw["variables"]]
        if owners:
            hints[name] = (f"-P{name} is not used: {owners[-1]} makes {name} a variable, and a "
                           f"variable beats a parameter of the same name (as in DLBS); give "
                           f"-V{name}='{json.dumps([value])}' to replace its values")
    return hints


#: What to use instead of each parameter of DLBS's launch plumbing that dlbs declares (so that
#: DLBS's configs and plans resolve) but does not use (config/*.json: ``roles.dlbs_unused``;
#: ``dlbs.engine.expand``'s ``UNUSED_DLBS_PARAMETERS``, kept out of ``exp.id``).
INSTEAD_OF_DLBS: dict[str, str] = catalogue.unused_dlbs()
_UNSET: tuple[Any, ...] = ("", None, [])


def default_values(defaults: Sources) -> dict[str, Any]:
    """The values the default configs give the parameters of :data:`INSTEAD_OF_DLBS`."""
    values = {}
    for _, raw in defaults:
        for name, value in (raw.get("parameters") or {}).items():
            if name in INSTEAD_OF_DLBS:
                values[name] = value.get("val") if isinstance(value, Mapping) else value
    return values


def unused_dlbs_parameters(settings: Iterable[Mapping[str, Any]],
                           defaults: Mapping[str, Any]) -> list[str]:
    """The names of :data:`INSTEAD_OF_DLBS` that ``settings`` (parameters, extension values,
    experiments; a variable as one mapping per value) set to something else than their
    default, in the order of that table."""
    found: set[str] = set()
    for values in settings:
        for name in INSTEAD_OF_DLBS.keys() & values.keys():
            value, default = values[name], defaults.get(name, "")
            if value not in _UNSET and value != default and _text(value) != _text(default) \
                    and _text(value) != _resolved(_text(default), values):
                found.add(name)
        if len(found) == len(INSTEAD_OF_DLBS):
            break
    return [name for name in INSTEAD_OF_DLBS if name in found]


def _resolved(default: str, values: Mapping[str, Any]) -> str:
    """``default`` with its ``${name}`` references replaced by the values of an expanded
    experiment (a plan written by ``print``: ``CUDA_VISIBLE_DEVICES=${runtime.visible_gpus}``
    is there ``CUDA_VISIBLE_DEVICES=0``, still the default); unknown references stay."""
    return re.sub(r"\$\{([^}]+)\}",
                  lambda m: _text(values[m.group(1)]) if m.group(1) in values else m.group(0),
                  default)


def _text(value: Any) -> str:
    """A value as expansion substitutes it (``-Pexp.model_opts={}`` is DLBS's ``"{}"``)."""
    if isinstance(value, list):
        return " ".join(map(str, value))
    return json.dumps(value) if isinstance(value, dict) else str(value)


def warn_unused_dlbs_parameters(names: list[str]) -> None:
    """One warning naming the DLBS plumbing that is set but not used, and what to use."""
    if not names:
        return
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(INSTEAD_OF_DLBS[name], []).append(name)
    uses = "; ".join(f"{', '.join(group)} ({advice})" for advice, group in groups.items())
    print(f"warning: dlbs builds the benchmark's launch itself; these DLBS parameters are set "
          f"but not used: {uses}", file=sys.stderr)


def _config_settings(config: Config) -> Iterator[Mapping[str, Any]]:
    """Every mapping of names to values in ``config``: parameters, each value of each variable,
    the parameters and cases of each extension."""
    yield config.parameters
    for name, values in config.variables.items():
        for value in values:
            yield {name: value}
    for ext in config.extensions:
        yield ext["parameters"]
        yield from ext["cases"]


#: Environment variables that expansion sees as empty when they are not set, as in DLBS
#: (its ``experimenter.py`` sets them to '' in ``os.environ``; its configs refer to them, e.g.
#: ``${http_proxy}`` in the Docker arguments of its OpenVINO backend, found in every plan its
#: ``build`` writes).
EMPTY_WHEN_UNSET = ("CUDA_CACHE_PATH", "http_proxy", "https_proxy")


def make_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment that expansion sees: ``os.environ`` (or ``base``) plus
    ``DLBS_ROOT``, ``DLBS_PYTHON`` (also ``sys.executable`` in an expression) and ``PWD``
    where they are not set, and :data:`EMPTY_WHEN_UNSET` as ''. (Only expansion sees these: the
    benchmark's environment is built by the launcher.)"""
    environ = dict(os.environ if base is None else base)
    environ.setdefault("DLBS_ROOT", str(dlbs.PROJECT_ROOT))
    environ.setdefault("DLBS_PYTHON", sys.executable)
    environ.setdefault("PWD", os.getcwd())
    for name in EMPTY_WHEN_UNSET:
        environ.setdefault(name, "")
    return environ


def set_timestamp(config: Config, now: float | None = None) -> None:
    """Set ``sys.timestamp`` to the current time (``YYYYMMDD-HHMMSS``) when it is empty."""
    if config.parameters.get(TIMESTAMP_PARAM, None) == "":
        config.parameters[TIMESTAMP_PARAM] = time.strftime(TIMESTAMP_FORMAT, time.localtime(now))


def open_plan(args: argparse.Namespace) -> PlanSource:
    """Return the built, unexpanded plan that the options describe.

    With ``--plan FILE`` the plan is read from the file (and may not be combined with
    ``--config``, ``-P``, ``-V`` or ``-E``: it is built already); otherwise the configs are
    merged, ``sys.timestamp`` is set when empty and the plan is built lazily.
    """
    if getattr(args, "plan", None):
        return _open_plan_file(args)
    sources, defaults = config_sources(args)
    params = parse_param_args(getattr(args, "params", None))
    variables = parse_variable_args(getattr(args, "variables", None))
    extensions = parse_extension_args(getattr(args, "extensions", None))
    config = merge_configs(sources, params, variables, extensions, defaults=defaults)
    given = [*sources, ("-P", {"parameters": params}), ("-V", {"variables": variables}),
             ("-E", {"extensions": extensions})]
    check_unknown_names(config, given, allow_unknown=bool(getattr(args, "allow_unknown", False)),
                        strict=bool(getattr(args, "strict", False)))
    hints = shadowed_parameters([*defaults, *sources], params, variables)
    for hint in hints.values():
        print(f"warning: {hint}", file=sys.stderr)
    warn_unused_dlbs_parameters(unused_dlbs_parameters(_config_settings(config),
                                                       default_values(defaults)))
    set_timestamp(config)
    inherited = not any(name in DEVICE_NAMES for _, name in set_names(given))
    return PlanSource(build_plan(config), config.specs, make_environ(), hints, inherited, config)


def _open_plan_file(args: argparse.Namespace) -> PlanSource:
    mixed = [option for option, dest in (("--config", "configs"), ("-P", "params"),
                                         ("-V", "variables"), ("-E", "extensions"))
             if getattr(args, dest, None)]
    if mixed:
        raise UsageError(f"--plan {args.plan} cannot be combined with {', '.join(mixed)}: the "
                         "plan is built already; rebuild it with 'experimenter build'")
    experiments, specs = read_plan(args.plan)
    sources, defaults = config_sources(args)
    if specs is None:  # a DLBS plan: declarations come from the default configs
        specs = merge_configs(sources, defaults=defaults).specs
    warn_unused_dlbs_parameters(unused_dlbs_parameters(experiments, default_values(defaults)))
    return PlanSource(iter(experiments), specs, make_environ())


def load_experiments(args: argparse.Namespace, *,
                     on_this_host: Callable[[str], None] | None = None,
                     differs_here: Callable[[str], None] | None = None
                     ) -> Iterator[dict[str, Any]]:
    """Return the expanded experiments of the plan the options describe, lazily, in order.

    Configs and the plan file are read now (so that their errors surface at once); each
    experiment is built and expanded only when the iterator reaches it. ``on_this_host``
    (``run``, ``validate``, ``status``): a plan that only inherits DLBS's default GPU runs its
    local bare-metal experiments on the CPU of a host without one (``dlbs.dispatch.device``);
    ``on_this_host`` gets the line that says so, for the caller to print once the plan is
    found runnable. ``differs_here`` (``print``): the plan stays as written, and gets one line
    when ``run`` would place an experiment on this host's CPU instead.
    """
    source = open_plan(args)
    limit = max_experiments(args)
    check_plan_size(source, limit)
    built: Iterable[Mapping[str, Any]] = source.experiments
    if on_this_host is not None and source.device_inherited:
        from dlbs.dispatch.device import on_this_host as place  # lazy: print never needs it
        built = place(built, source.specs, source.environ, inherited=True, say=on_this_host)
    experiments = expand_plan(built, source.specs, source.environ)
    if differs_here is not None and source.device_inherited and not _host_has_gpu_driver():
        experiments = _noting_cpu_fallback(experiments, differs_here)
    if limit:
        experiments = _within(experiments, limit)
    return _with_hints(experiments, source.hints) if source.hints else experiments


def _host_has_gpu_driver() -> bool:
    """Whether the NVIDIA kernel driver is loaded (``dlbs.runner.provenance``'s file, read
    without importing the runner)."""
    return os.path.exists("/proc/driver/nvidia/version")


def _noting_cpu_fallback(experiments: Iterator[dict[str, Any]], say: Callable[[str], None]
                         ) -> Iterator[dict[str, Any]]:
    """``experiments`` unchanged; ``say`` once, at the first that ``run`` here would place on
    the CPU (:func:`dlbs.dispatch.device.falls_back`)."""
    from dlbs.dispatch.device import falls_back

    said = False
    for experiment in experiments:
        if not said and falls_back(experiment):
            say("note: printed as the plan says (DLBS's default exp.gpus='0', a GPU); this host "
                "has no NVIDIA GPU, so 'run' here would run its local bare-metal experiments on "
                "the CPU (exp.gpus=''), as 'validate' and 'run' say; -Pexp.gpus='\"\"' prints "
                "that plan")
            said = True
        yield experiment


class _Computed(Exception):
    """An experiment whose runs are only known once it is expanded."""


def literal_runs(experiment: Mapping[str, Any]) -> int:
    """The runs of a built experiment, from its literal ``exp.repeat``; raise ``_Computed``
    when ``exp.repeat`` is computed or the experiment gives a single run itself (a non-zero
    ``exp.repeat_index``): then only expanding tells."""
    repeat = experiment.get(REPEAT, 1)
    if isinstance(repeat, str) or experiment.get(REPEAT_INDEX, 0) != 0:
        raise _Computed
    return repeat_count({REPEAT: repeat})


def _at_least_one_run(experiment: Mapping[str, Any]) -> int:
    """``literal_runs``, or 1 (a lower bound) when only expanding tells."""
    try:
        return literal_runs(experiment)
    except _Computed:
        return 1


def count_built_runs(config: Config) -> int | None:
    """The runs of the plan built from ``config`` (``print --count``), counted without building
    every experiment (``count_plan``); None when an experiment's runs are only known once it is
    expanded (a computed ``exp.repeat``)."""
    try:
        return count_plan(config, literal_runs, reads=(REPEAT, REPEAT_INDEX))
    except _Computed:
        return None


def max_experiments(args: argparse.Namespace) -> int:
    """``--max-experiments`` (0: no limit)."""
    return int(getattr(args, "max_experiments", MAX_EXPERIMENTS))


def check_plan_size(source: PlanSource, limit: int) -> None:
    """Refuse, before anything is expanded, a plan of more than ``limit`` runs (0: no limit).

    The runs of a built plan are counted without building each experiment (a lower bound when
    ``exp.repeat`` is computed: ``load_experiments`` then stops the expansion at the limit);
    a plan file's experiments are counted as they are."""
    if not limit:
        return
    if source.config is not None:
        count = count_plan(source.config, _at_least_one_run, reads=(REPEAT, REPEAT_INDEX),
                           stop_above=limit)
    else:
        experiments = list(source.experiments)
        source.experiments = iter(experiments)
        count = len(experiments)
    if count > limit:
        raise PlanError(too_large(limit, count))


def too_large(limit: int, count: int | None = None) -> str:
    """The one line that refuses a plan of more than ``limit`` experiments."""
    known = f" (at least {count:,})" if count else ""
    return (f"the plan has more than {limit:,} experiments{known}, the limit of the commands "
            f"that expand it ('experimenter print --count' gives the number): use fewer values "
            f"in the variables, or give --max-experiments N (0: no limit) to go on")


def _within(experiments: Iterator[dict[str, Any]], limit: int) -> Iterator[dict[str, Any]]:
    """``experiments``, refused (``PlanError``) at the first one past ``limit``: runs that only
    expansion knows (a computed ``exp.repeat``) stop there, not when memory runs out."""
    for count, experiment in enumerate(experiments, start=1):
        if count > limit:
            raise PlanError(too_large(limit))
        yield experiment


def _with_hints(experiments: Iterator[dict[str, Any]],
                hints: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """``experiments``, with the hint about a parameter added to an expansion error about it
    (``-Pexp.framework=pytorch`` beaten by a config's variable: the error names the
    variable's value, which the user did not give)."""
    try:
        yield from experiments
    except ExpansionError as err:
        hint = hints.get(err.param or "")
        if hint is None:
            raise
        raise ExpansionError(f"{err} ({hint})", param=err.param) from None
