"""The pure parameter-expansion engine: merge configs, build plans, expand experiments.

Public API (see ``docs/architecture.md``): ``ParamSpec``, ``Config``, ``merge_configs``,
``build_plan``, ``count_plan``, ``expand_experiment``, ``expand_plan``. The engine imports only
the standard library, ``dlbs.errors`` and ``regex`` (user regular expressions with a timeout,
in ``bounded_re``): no file I/O, no environment, no processes, no printing.
"""
from dlbs.engine.expand import expand_experiment, expand_plan
from dlbs.engine.merge import merge_configs
from dlbs.engine.model import Config, ParamSpec
from dlbs.engine.plan import build_plan, count_plan

__all__ = ["Config", "ParamSpec", "build_plan", "count_plan", "expand_experiment", "expand_plan",
           "merge_configs"]
