"""Running experiments: the sweep (``core``), written once, over small executors.

- ``core``: what to run (``exp.status``, ``exp.rerun``), the log header and trailer, the
  progress and the summary; ``job``: what the core hands an executor and gets back;
- ``local``: a process group on this host (bare metal, torchrun, Docker);
- Slurm batch jobs (``exp.scheduler=slurm``) are ``dlbs.slurm``'s, made by
  ``dlbs.dispatch.executors`` (above both packages) and reached only through the ``Executor``
  protocol; ``experimenter status`` is ``dlbs.dispatch.status``;
- what only the runner needs: ``runlog`` (log files and the rerun policy), ``progress``,
  ``monitor``, ``provenance`` (host facts), ``dockerengine`` (the Docker engine client).

The names below are loaded on first use (PEP 562): ``experimenter print`` reads
``dlbs.dispatch.device`` to say where a plan would run (it once lived here), and importing the sweep's core (the
launchers, Jinja) for it cost about 45 ms of every ``print``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbs.runner.core import Outcome, Runner, Summary
    from dlbs.runner.job import Ending, Executor, Job

#: Each public name and the module that defines it.
_HOMES = {"Outcome": "dlbs.runner.core", "Runner": "dlbs.runner.core",
          "Summary": "dlbs.runner.core", "Ending": "dlbs.runner.job",
          "Executor": "dlbs.runner.job", "Job": "dlbs.runner.job"}

__all__ = ["Ending", "Executor", "Job", "Outcome", "Runner", "Summary"]


def __getattr__(name: str) -> Any:
    """Import ``name``'s module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dlbs.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
