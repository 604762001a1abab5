"""Models from other packages: the ``dlbs.models`` entry point group.

Responsibility: load, once, every entry point of the group so that the models it defines
join the registry. A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."dlbs.models"]
    mymodels = "mypkg.models"            # a module: importing it runs its @register_model
    # or: mymodels = "mypkg.models:register"   (a callable, called with no arguments)

A plugin that fails to load (an import error, a name already taken, a raising callable) is a
:class:`PluginWarning` naming the entry point; the zoo goes on without it. This module imports
no torch (:mod:`pytorch_benchmarks.models.names` lists the group with it) and never ``dlbs``.
"""
from __future__ import annotations

import warnings
from importlib import metadata
from types import ModuleType

GROUP = "dlbs.models"

_LOADED: set[str] = set()
#: The entry points that failed to load (``name = value``) and why: :func:`failures`.
_FAILED: dict[str, str] = {}


class PluginWarning(UserWarning):
    """A ``dlbs.models`` entry point that could not be loaded."""


def entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, each once (a distribution seen twice on sys.path counts
    once), sorted by name."""
    unique = {(ep.name, ep.value): ep for ep in metadata.entry_points(group=GROUP)}
    return sorted(unique.values(), key=lambda ep: (ep.name, ep.value))


def describe(ep: metadata.EntryPoint) -> str:
    """``name = value``, as the entry point was declared."""
    return f"{ep.name} = {ep.value}"


def load_plugins() -> list[str]:
    """Load every entry point not loaded yet; return those loaded now (``name = value``)."""
    loaded = []
    for ep in entry_points():
        key = describe(ep)
        if key in _LOADED:
            continue
        _LOADED.add(key)
        try:
            target = ep.load()
            if callable(target) and not isinstance(target, ModuleType):
                target()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the benchmark
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            _FAILED[key] = reason
            warnings.warn(failure_message(key, reason), PluginWarning, stacklevel=2)
            continue
        loaded.append(key)
    return loaded


def failure_message(key: str, reason: str) -> str:
    """The warning about the entry point ``key`` that failed to load."""
    return (f"model plugin '{key}' (entry point group {GROUP}) is skipped, it failed to "
            f"load: {reason}")


def failures() -> list[str]:
    """A warning for each plugin that failed to load so far (for ``exp.warnings``)."""
    return [failure_message(key, reason) for key, reason in sorted(_FAILED.items())]
