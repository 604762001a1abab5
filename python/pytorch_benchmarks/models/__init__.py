"""The model zoo: a registry of small builder functions, one module per family (timm style).

Public API::

    register_model(title=..., input_shape=..., num_classes=..., aliases=...)  # decorator
    create_model(name, **kwargs) -> nn.Module
    list_models(pattern=None) -> list[str]
    get_model_info(name) -> ModelInfo

Every module in this package is imported here (found with :mod:`pkgutil`), so a new family
module registers its models just by existing: adding a model is a builder and a decorator.
Then the ``dlbs.models`` entry points of other installed packages are loaded
(:mod:`pytorch_benchmarks.plugins`), and ``hf:<model_type>`` names make Hugging Face models on
demand (:mod:`pytorch_benchmarks.models.hf`).
This package never imports ``dlbs``.
"""

from __future__ import annotations

import importlib
import pkgutil

from pytorch_benchmarks.models.registry import (
    ModelInfo,
    ModelRegistryError,
    UnknownModelError,
    create_model,
    get_model_info,
    list_models,
    register_model,
)
from pytorch_benchmarks.plugins import load_plugins

__all__ = [
    "ModelInfo",
    "ModelRegistryError",
    "UnknownModelError",
    "create_model",
    "get_model_info",
    "list_models",
    "register_model",
]


def _import_families() -> None:
    """Import every module of this package so that the builders in it register."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_families()
load_plugins()  # models of other packages: the dlbs.models entry points (plugins.py)
