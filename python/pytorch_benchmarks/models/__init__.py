"""The model zoo: a registry of small builder functions, one module per family (timm style).

Public API::

    register_model(title=..., input_shape=..., num_classes=..., aliases=...)  # decorator
    register_sizes(builder, SIZES, **shared)  # one builder under each size of a table
    create_model(name, **kwargs) -> nn.Module
    list_models(pattern=None) -> list[str]
    get_model_info(name) -> ModelInfo

Owns: one module per model family (``resnet``, ``gpt2``...; Hugging Face models on demand,
``hf:<model_type>``, :mod:`.hf`), the zoo's names read from the sources without importing
torch (:mod:`.names`, which ``dlbs validate`` imports), and the zoo's machinery apart from the
families, as timm keeps it (:mod:`._zoo`: the registry, ``--model_config`` text and the
transformers' shared settings, the metadata read without torch, the plugins of the
``dlbs.models`` entry point group, the loader). The layers the families share (attention, LRN,
the MLP) are :mod:`pytorch_benchmarks.layers`.

May import: torch, the standard library, :mod:`pytorch_benchmarks.errors`,
:mod:`pytorch_benchmarks.layers`; never the run, the runtime, the data, the measurements, the
output nor ``dlbs``.

Importing this package is cheap (no torch, no family): ``names``, ``_zoo.plugins`` and
``_zoo.config`` serve the command line and ``dlbs validate`` before torch is imported. The zoo
(:mod:`._zoo.loader`: every family, then the plugins) is loaded by the first ``create_model``,
``get_model_info`` or ``list_models`` taken from this package, or by :func:`load_zoo`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Served from :mod:`._zoo.registry` once the whole zoo is registered.
_ZOO_API = frozenset({"create_model", "get_model_info", "list_models"})
#: Served from :mod:`._zoo.registry` as they are (a plugin registers through them while the zoo
#: loads).
_REGISTRY_API = frozenset({"ModelInfo", "ModelRegistryError", "UnknownModelError",
                           "register_model", "register_sizes"})

__all__ = [
    "ModelInfo",
    "ModelRegistryError",
    "UnknownModelError",
    "create_model",
    "get_model_info",
    "list_models",
    "load_zoo",
    "register_model",
    "register_sizes",
]


def load_zoo() -> None:
    """Register every family of the zoo and the plugins' models (once)."""
    importlib.import_module(f"{__name__}._zoo.loader")


def __getattr__(name: str) -> Any:
    """The registry's API (PEP 562): the zoo is loaded before a model is looked up."""
    if name in _ZOO_API:
        load_zoo()
    elif name not in _REGISTRY_API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}._zoo.registry"), name)
