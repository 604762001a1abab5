"""The options shared by the plan actions (print, build, validate, run) and plan loading.

``add_plan_arguments`` adds DLBS's options; ``open_plan`` turns parsed options into the built,
unexpanded plan (from config files and ``-P``/``-V``/``-E``, or from a ``--plan`` file), and
``load_experiments`` into the expanded experiments, lazily, one at a time, so that a large
plan streams in constant memory. Merging, building and expanding are the engine's; this module
only gathers the inputs (files, command line, environment).
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dlbs
from dlbs.config import (
    load_config_file,
    load_default_configs,
    parse_extension_args,
    parse_param_args,
    parse_variable_args,
)
from dlbs.engine import Config, ParamSpec, build_plan, expand_plan, merge_configs
from dlbs.errors import UsageError
from dlbs.planfile import read_plan

TIMESTAMP_PARAM = "sys.timestamp"
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"


@dataclass
class PlanSource:
    """A built plan ready to expand: experiments (lazy), parameter specs and environment."""

    experiments: Iterator[dict[str, Any]]
    specs: Mapping[str, ParamSpec]
    environ: Mapping[str, str]


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
    group.add_argument("--strict", action="store_true",
                       help="an unknown parameter name in dlbs's namespaces (exp., pytorch., "
                            "runtime., monitor., slurm.) is an error, not a warning")
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


#: Namespaces whose names dlbs declares: a name there that no config declares is a typo or a
#: DLBS parameter dlbs does not use (``runtime.env.<NAME>`` names are the user's own).
OWN_NAMESPACES = ("exp.", "pytorch.", "runtime.", "monitor.", "slurm.")


def unknown_parameters(config: Config) -> list[str]:
    """Names set in our namespaces that no config declares (no description)."""
    names = [*config.parameters, *config.variables]
    return sorted({n for n in names if n.startswith(OWN_NAMESPACES)
                   and not n.startswith("runtime.env.")
                   and not (config.specs.get(n) and config.specs[n].desc)})


def check_unknown_parameters(config: Config, strict: bool) -> None:
    """Warn (or, with ``--strict``, fail) on each unknown name, with "did you mean"."""
    declared = [n for n, spec in config.specs.items() if spec.desc]
    for name in unknown_parameters(config):
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.75)
        hint = f"; did you mean '{close[0]}'?" if close else \
            " (DLBS lets configs add parameters: it only matters if something refers to it)"
        message = f"parameter '{name}' is not one dlbs knows{hint}"
        if strict:
            raise UsageError(f"{message} (--strict)")
        print(f"warning: {message}", file=sys.stderr)


def make_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment that expansion sees: ``os.environ`` (or ``base``) plus
    ``DLBS_ROOT``, ``DLBS_PYTHON`` and ``PWD`` where they are not set."""
    environ = dict(os.environ if base is None else base)
    environ.setdefault("DLBS_ROOT", str(dlbs.PROJECT_ROOT))
    environ.setdefault("DLBS_PYTHON", sys.executable)
    environ.setdefault("PWD", os.getcwd())
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
    config = load_config(args)
    check_unknown_parameters(config, bool(getattr(args, "strict", False)))
    set_timestamp(config)
    return PlanSource(build_plan(config), config.specs, make_environ())


def _open_plan_file(args: argparse.Namespace) -> PlanSource:
    mixed = [option for option, dest in (("--config", "configs"), ("-P", "params"),
                                         ("-V", "variables"), ("-E", "extensions"))
             if getattr(args, dest, None)]
    if mixed:
        raise UsageError(f"--plan {args.plan} cannot be combined with {', '.join(mixed)}: the "
                         "plan is built already; rebuild it with 'experimenter build'")
    experiments, specs = read_plan(args.plan)
    if specs is None:  # a DLBS plan: declarations come from the default configs
        specs = load_config(args, with_command_line=False).specs
    return PlanSource(iter(experiments), specs, make_environ())


def load_experiments(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Return the expanded experiments of the plan the options describe, lazily, in order.

    Configs and the plan file are read now (so that their errors surface at once); each
    experiment is built and expanded only when the iterator reaches it.
    """
    source = open_plan(args)
    return expand_plan(source.experiments, source.specs, source.environ)
