"""``experimenter print-config``: the merged configuration as JSON on stdout.

Default configs and each ``--config`` are merged; parameter definitions are reduced to their
values; ``-P``/``-V`` are not shown (they are plan inputs, not configuration) while ``-E``
extensions are appended after the configs' extensions. Nothing is built or expanded.
"""
from __future__ import annotations

import argparse
import json
import sys

from dlbs.cli.planargs import add_plan_arguments, config_sources
from dlbs.config import parse_extension_args, parse_param_args, parse_variable_args
from dlbs.engine import merge_configs

HELP = "print the merged configuration (definitions reduced to values, -E appended) as JSON"
EXAMPLE = "experimenter print-config --config sweep.yaml -E '{\"parameters\": {\"exp.num_batches\": 5}}'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plan options (``-P``/``-V`` are accepted and not shown)."""
    add_plan_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Merge the configs and print ``{"parameters", "variables", "extensions"}``; return 0."""
    parse_param_args(args.params)  # not shown, but a malformed one is still an error
    parse_variable_args(args.variables)
    sources, defaults = config_sources(args)
    config = merge_configs(sources, extensions=parse_extension_args(args.extensions),
                           defaults=defaults)
    merged = {"parameters": config.parameters, "variables": config.variables,
              "extensions": config.extensions}
    json.dump(merged, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
