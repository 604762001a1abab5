"""The one registry of per-experiment checks: what keeps an experiment from running
(problems) and what it sets but will not use (warnings).

A check is a function of one :class:`~dlbs.experiment.view.Experiment` returning its
messages (empty when fine); ``@experiment_check`` registers it, in order. ``validate`` (and
``run`` before it starts) runs :func:`problems` and :func:`warnings` over the registry; the
modules that define checks (``dlbs.cli.validate``) register them when imported. A check
marked ``only_if_clean`` runs only when the checks before it found nothing (building the
launch script, asking the benchmark: their errors would repeat an earlier problem's).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dlbs.experiment.view import Experiment

#: A check: one experiment in, its messages out.
CheckFunction = Callable[[Experiment], list[str]]


@dataclass(frozen=True)
class Check:
    """One registered check."""

    name: str
    function: CheckFunction
    warning: bool = False        # a warning (the experiment runs), not a problem
    only_if_clean: bool = False  # run only when the checks before found no problem


#: Every check, in the order they run.
REGISTRY: list[Check] = []


def experiment_check(*, warning: bool = False, only_if_clean: bool = False
                     ) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a check of one experiment (see the module)."""
    def register(function: CheckFunction) -> CheckFunction:
        name = f"{function.__module__}.{function.__qualname__}"
        REGISTRY[:] = [check for check in REGISTRY if check.name != name]  # a reload
        REGISTRY.append(Check(name, function, warning, only_if_clean))
        return function
    return register


def problems(exp: Experiment) -> list[str]:
    """What keeps ``exp`` from running, from every registered problem check."""
    found: list[str] = []
    for check in REGISTRY:
        if not check.warning and not (check.only_if_clean and found):
            found += check.function(exp)
    return found


def warnings(exp: Experiment) -> list[str]:
    """What ``exp`` sets but will not use, from every registered warning check."""
    return [message for check in REGISTRY if check.warning for message in check.function(exp)]
