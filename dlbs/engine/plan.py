"""Build the plan: the cartesian product of variables, then extensions in order (spec §2).

Experiments are plain dicts of unexpanded values. Unchanged values are shared between
experiments (never deep-copied), so callers must treat them as read-only. The plan is a lazy
generator in plan order.
"""
from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dlbs.engine.conditions import Condition
from dlbs.engine.model import CAPTURE_PREFIX, VAR_ORDER_PARAM, Config
from dlbs.errors import PlanError

_CAPTURE_REF = re.compile(r"\$\{(" + re.escape(CAPTURE_PREFIX) + r"[^${}]*)\}")


def build_plan(config: Config) -> Iterator[dict[str, Any]]:
    """Yield the experiments of ``config`` lazily, in plan order.

    Variables vary as ``itertools.product`` (the first slowest) in the order given by
    ``sys.plan_builder.var_order`` then insertion order; a variable beats a parameter of the same
    name; then each extension is applied in order. Raises ``PlanError``.
    """
    names = _checked_variables(config)
    extensions = [_Extension(i, ext) for i, ext in enumerate(config.extensions, start=1)]
    base = config.parameters
    for combo in itertools.product(*(config.variables[name] for name in names)):
        experiment = dict(base)
        experiment.update(zip(names, combo))
        yield from _apply(experiment, extensions, 0)


def count_plan(config: Config, runs: Callable[[Mapping[str, Any]], int] | None = None,
               reads: Iterable[str] = (), stop_above: int | None = None) -> int:
    """Return how many experiments ``build_plan(config)`` yields, each counted ``runs(it)``
    times (1 without ``runs``), without building them all.

    Only the variables that an extension's condition names, or ``reads`` (the names ``runs``
    looks at), are iterated, each combination through the extensions as ``build_plan`` would;
    every other variable multiplies the count by its number of values (8 million experiments
    of three unconditioned variables are counted at once). With ``stop_above``, counting stops
    as soon as the count is known to pass it (every combination of the variables yields at
    least one experiment, counted at least once), and the number returned, above
    ``stop_above``, is then a lower bound. Raises ``PlanError`` as ``build_plan`` does.
    """
    names = _checked_variables(config)
    lowest = math.prod(len(config.variables[name]) for name in names)
    if stop_above is not None and lowest > stop_above:
        return lowest
    extensions = [_Extension(i, ext) for i, ext in enumerate(config.extensions, start=1)]
    watched = set(reads).union(*(ext.condition.names() for ext in extensions))
    iterated = [name for name in names if name in watched]
    free = math.prod(len(config.variables[name]) for name in names if name not in watched)
    weigh = runs or _one
    total = 0
    for combo in itertools.product(*(config.variables[name] for name in iterated)):
        experiment = dict(config.parameters)
        experiment.update(zip(iterated, combo))
        for built in _apply(experiment, extensions, 0):
            total += free * weigh(built)
            if stop_above is not None and total > stop_above:
                return total
    return total


def _one(_: Mapping[str, Any]) -> int:
    return 1


def _checked_variables(config: Config) -> list[str]:
    """The variables in plan order; a ``PlanError`` for one without values."""
    names = variable_order(config)
    for name in names:
        if not config.variables[name]:
            raise PlanError(f"variable '{name}' has no values; give it at least one value")
    return names


def variable_order(config: Config) -> list[str]:
    """Return the variable names: those in ``sys.plan_builder.var_order`` first, then the rest."""
    order = config.parameters.get(VAR_ORDER_PARAM, [])
    if isinstance(order, str):
        order = order.split()
    elif not isinstance(order, list):
        order = []
    # Names in NFKC form, as the names of configs are read (a full-width name is the ASCII one).
    order = [unicodedata.normalize("NFKC", name) for name in order if isinstance(name, str)]
    first = [name for name in dict.fromkeys(order) if name in config.variables]
    return first + [name for name in config.variables if name not in first]


def _apply(experiment: dict[str, Any], extensions: Sequence[_Extension],
           start: int) -> Iterator[dict[str, Any]]:
    """Yield what extensions ``start..`` make of ``experiment`` (which this call may modify)."""
    for position in range(start, len(extensions)):
        ext = extensions[position]
        captures = ext.condition.match(experiment)
        if captures is None:
            continue
        experiment.update(ext.values(ext.parameters, captures))
        if not ext.cases:
            continue
        for case in ext.cases:
            copy = dict(experiment)
            copy.update(ext.values(case, captures))
            yield from _apply(copy, extensions, position + 1)
        return
    yield experiment


class _Extension:
    """One extension, prepared for fast application."""

    def __init__(self, index: int, ext: Mapping[str, Any]) -> None:
        """Compile the condition; note which values use condition captures."""
        self.index = index
        self.condition = Condition(index, ext.get("condition", {}))
        self.parameters = _prepare(ext.get("parameters", {}))
        self.cases = [_prepare(case) for case in ext.get("cases", [])]

    def values(self, prepared: tuple[dict[str, Any], frozenset[str]],
               captures: Mapping[str, str]) -> dict[str, Any]:
        """Return the values to set, with ``${__condition.*}`` replaced by ``captures``."""
        values, templated = prepared
        if not templated:
            return values
        return {name: self._substitute(name, value, captures) if name in templated else value
                for name, value in values.items()}

    def _substitute(self, name: str, value: Any, captures: Mapping[str, str]) -> Any:
        """Replace capture references in a string or in the items of a list."""
        if isinstance(value, list):
            return [self._substitute(name, item, captures) for item in value]
        if not isinstance(value, str):
            return value

        def capture(found: re.Match) -> str:
            key = found.group(1)
            if key not in captures:
                raise PlanError(
                    f"extension #{self.index}: parameter '{name}': ${{{key}}} is not captured by "
                    f"the condition (no such regex group, or the conditioned parameter is "
                    f"missing); use ${{{CAPTURE_PREFIX}<name>_<n>}} with n <= number of groups")
            return captures[key]

        return _CAPTURE_REF.sub(capture, value)


def _prepare(values: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Return ``values`` and the names of those that use ``${__condition.*}`` references."""
    templated = []
    for name, value in values.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and CAPTURE_PREFIX in item for item in items):
            templated.append(name)
    return dict(values), frozenset(templated)
