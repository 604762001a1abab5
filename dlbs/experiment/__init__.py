"""One experiment of a plan, as the launch side reads it: typed, frozen, made once.

The engine expands a plan into flat dicts (``{"exp.model": "resnet50", "exp.docker": true}``);
the dict stays the plan's and the log's format (DLBS compatibility). Launchers, the runner,
``validate`` and ``status`` read an :class:`Experiment` view of it instead of literal keys:
``view`` (the fields), ``values`` (the readers of a value that may still be a string),
``checks`` (the one registry of per-experiment checks ``validate`` runs). Imports only the
standard library and ``dlbs.errors``.
"""
from __future__ import annotations

from dlbs.experiment.view import Experiment, ExperimentLike

__all__ = ["Experiment", "ExperimentLike"]
