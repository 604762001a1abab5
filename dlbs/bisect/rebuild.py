"""A stored run's plan, rebuilt from its facts: the ``-P`` options that make ``dlbs run`` give the
same experiment again (``dlbs regressions --confirm``).

A run's log records every parameter of its experiment beside its results. The input parameters
are the facts that are declared plan parameters (the default configs' declarations, e.g.
``config/base.json``) in the ``exp.`` and ``pytorch.`` namespaces whose declared value is not
computed from others (``exp.model``, ``exp.gpus``, not ``exp.device_type`` or
``exp.effective_batch``): those that differ from their default become ``-P`` options, and the
computed ones follow from them. What the runner sets (``exp.repeat_index``, ``exp.status``, ...),
what the re-run sets itself (``dlbs.bisect.session.OWN``) and what the user gives are left out.
The rebuilt experiment is then checked against the stored facts (:func:`differences`): a
computed parameter the original plan set otherwise makes the plan not rebuildable, with the
name and both values, rather than a re-run of another experiment.

Pure: facts and declarations in, options or a reason out; nothing is read, run or printed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dlbs.bisect.session import OWN
from dlbs.db.records import KEY_FACTS, is_serving
from dlbs.params import catalogue

#: The namespaces whose facts are a run's input parameters.
NAMESPACES = ("exp.", "pytorch.")
#: Declared parameters the runner or the plan expansion sets for each run: never an input, and
#: expected to differ in a re-run (config/*.json: ``roles.per_run``).
PER_RUN = catalogue.per_run()


class NotRebuildable(Exception):
    """The stored facts do not give back the run's plan; ``str(err)`` says why (one line)."""


def is_computed(value: Any) -> bool:
    """A declared value computed from other parameters (``${...}`` or ``$(...)``)."""
    return isinstance(value, str) and ("${" in value or "$(" in value)


def _inputs(defaults: Mapping[str, Any]) -> list[str]:
    return [name for name, value in defaults.items()
            if name.startswith(NAMESPACES) and not is_computed(value)
            and name not in OWN and name not in PER_RUN]


def plan_parameters(facts: Mapping[str, Any], defaults: Mapping[str, Any],
                    given: Iterable[str] = ()) -> dict[str, Any]:
    """The input parameters of the stored run whose value is not the default, by name, for
    ``-P`` options (``given``: names the user sets, left out). ``NotRebuildable`` for a serving
    run or a run whose facts lack a comparability parameter (an older log, another tool's)."""
    if is_serving(dict(facts)):
        raise NotRebuildable("a serving run (exp.phase serve): its plan needs the server it "
                             "measured; not re-run")
    inputs = _inputs(defaults)
    missing = [name for name in KEY_FACTS if name in inputs and name not in facts]
    if missing:
        raise NotRebuildable(f"the stored run has no {', '.join(missing)}: its plan cannot be "
                             "rebuilt from the stored facts")
    skip = set(given)
    return {name: facts[name] for name in inputs
            if name in facts and name not in skip and facts[name] != defaults[name]}


def as_options(parameters: Mapping[str, Any]) -> list[str]:
    """``NAME=JSON`` texts, as ``-P`` takes them (a string stays a string)."""
    return [f"{name}={json.dumps(value)}" for name, value in parameters.items()]


def differences(experiment: Mapping[str, Any], facts: Mapping[str, Any],
                defaults: Mapping[str, Any], given: Iterable[str] = ()) -> list[str]:
    """``name: rebuilt X, stored Y`` for each declared parameter of the rebuilt experiment
    whose value is not the stored run's (what the re-run and the user set left out)."""
    skip = {*OWN, *PER_RUN, *given}
    return [f"{name}: rebuilt {experiment[name]!r}, stored {facts[name]!r}"
            for name in defaults
            if name.startswith(NAMESPACES) and name not in skip and name in facts
            and name in experiment and experiment[name] != facts[name]]
