"""The value every launcher layer passes on: a command as an argument list plus its environment.

A launch is composed by wrapping (milabench style): the benchmark command is built first, then
each layer that applies to the experiment wraps it (torchrun, a prefix such as numactl, the
environment, a container). Layers are pure: they read the experiment's typed view
(``dlbs.experiment.Experiment``) and return a new ``Command``; they never start a process,
read files or look at ``os.environ``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Protocol

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment

#: A valid name of an environment variable (also what is safe to print unquoted in a script).
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Values known only when the script runs, as fixed shell text (constants here, never built
#: from parameters): a ``Command`` refers to them by key (``with_runtime_env``), and the launch
#: script writes ``export NAME=<text>`` with the text as it is. ``slurm_node_rank``: this node's
#: rank in a Slurm job step (``srun`` sets ``SLURM_NODEID``); outside one the script stops.
RUNTIME_VALUES: dict[str, str] = {
    "slurm_node_rank": '"${SLURM_NODEID:?not in a Slurm job step}"',
}


@dataclass(frozen=True)
class Command:
    """A command line (``argv``, never a shell string) and the variables to export for it."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(default=())
    #: Variables exported from a ``RUNTIME_VALUES`` entry: ``(NAME, key)``.
    runtime_env: tuple[tuple[str, str], ...] = field(default=())
    #: Folders put in front of a search-path variable's value from the calling environment
    #: (``NAME=value${NAME:+:$NAME}``): ``(NAME, value)``, e.g. DLBS's ``pytorch.host_libpath``.
    prepend_env: tuple[tuple[str, str], ...] = field(default=())

    def with_env(self, name: str, value: str) -> Command:
        """Return a copy with ``name=value`` set (replacing an earlier value of ``name``, run-time
        or not: the last layer to set a variable wins, so ``runtime.env.*`` wins over all)."""
        if not ENV_NAME_RE.match(name):
            raise ValidationError(f"environment variable name '{name}' is not valid: use letters, "
                                  "digits and '_' (runtime.env.<NAME>)")
        kept = tuple((k, v) for k, v in self.env if k != name)
        runtime = tuple((k, v) for k, v in self.runtime_env if k != name)
        return replace(self, env=kept + ((name, value),), runtime_env=runtime)

    def with_runtime_env(self, name: str, key: str) -> Command:
        """Return a copy that exports ``name`` from the run-time value ``key`` (a key of
        ``RUNTIME_VALUES``: the shell text is a constant, so no parameter reaches it)."""
        if key not in RUNTIME_VALUES or not ENV_NAME_RE.match(name):
            raise ValidationError(f"no run-time value '{key}' for {name}")
        kept = tuple((k, v) for k, v in self.runtime_env if k != name)
        env = tuple((k, v) for k, v in self.env if k != name)
        return replace(self, env=env, runtime_env=kept + ((name, key),))

    def with_prepended(self, name: str, value: str) -> Command:
        """Return a copy that puts ``value`` in front of ``$name`` (a ':'-separated path list).

        A variable set outright (``with_env``, e.g. ``runtime.env.<NAME>``) wins: it replaces the
        whole value, so nothing is prepended to it.
        """
        if not ENV_NAME_RE.match(name):
            raise ValidationError(f"environment variable name '{name}' is not valid")
        if not value or any(k == name for k, _ in (*self.env, *self.runtime_env)):
            return self
        kept = tuple((k, v) for k, v in self.prepend_env if k != name)
        return replace(self, prepend_env=kept + ((name, value),))

    def env_dict(self) -> dict[str, str]:
        """The environment as a dict (insertion order kept)."""
        return dict(self.env)


class Layer(Protocol):
    """One wrapping step of a launch (Hydra-style small interface; see tests/runner)."""

    name: str

    def applies(self, exp: Experiment) -> bool:
        """Whether this layer takes part in launching ``exp``."""

    def wrap(self, exp: Experiment, cmd: Command) -> Command:
        """Return ``cmd`` wrapped for ``exp``; never mutates or runs anything."""


#: Re-exported for the Slurm modules until they read ``dlbs.experiment`` (issue 33, phase 2).
__all__ = ["ENV_NAME_RE", "RUNTIME_VALUES", "Command", "Layer"]
