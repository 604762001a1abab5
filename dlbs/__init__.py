"""dlbs: a deep-learning benchmarking suite (experiment planner, launcher, log parser, reports).

The project root (``DLBS_ROOT``) holds ``config/``, ``scripts/launchers/`` and
``python/pytorch_benchmarks``; the package is installed editable (``pip install -e .``) so
those folders are found next to it.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

#: The project root: the folder that holds ``dlbs/``, ``config/`` and ``python/``.
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent
