"""The zoo's model metadata without importing torch: read from the models' registrations.

Responsibility: what the benchmark's own checks (:mod:`pytorch_benchmarks.checks`) need to
know of a zoo model before anything is built, for ``experimenter validate``: what a sample is
(``inputs``), whether it can generate (``causal``), its longest sequence (``max_seq_len``) and
its input shapes. The values are the registration's own keywords (an ``@register_model``
decorator's, or a ``register_sizes`` table row's and its shared ones), read with ``ast`` by
:mod:`.sources` with the module's constant assignments (``GPT2_VOCAB, GPT2_POSITIONS = 50257,
1024``) substituted, so they cannot drift from the registry (a test compares the two for every
model). A keyword that is not a literal of constants is unknown (``None``: its checks are left
to the run). Plugins and ``hf:`` models have no metadata here: the run checks them. Standard
library only.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytorch_benchmarks.models._zoo.settings import sequence_fields
from pytorch_benchmarks.models._zoo.sources import PACKAGE_DIR, registrations, zoo_sources

#: The decorator keywords read (the rest are the registry's business).
FIELDS = ("inputs", "causal", "max_seq_len", "input_shape", "min_input_shape",
          "tensor_parallel", "optimizer")


@dataclass(frozen=True)
class ModelMeta:
    """The checked part of a :class:`~pytorch_benchmarks.models._zoo.registry.ModelInfo` (which has
    the same attributes, so the checks take either)."""

    name: str
    input_shape: tuple[int, ...]
    min_input_shape: tuple[int, ...] = ()
    inputs: str = "dense"
    causal: bool = False
    max_seq_len: int = 0
    tensor_parallel: bool = False
    optimizer: str = "sgd"
    #: The builder's keyword settings that are literals (its defaults, then --model_config).
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)


def _metas(tree: ast.Module) -> dict[str, ModelMeta]:
    """Every model the module registers, by name and alias."""
    metas: dict[str, ModelMeta] = {}
    for reg in registrations(tree):
        meta = _meta(reg.keywords, reg.name, reg.settings)
        if meta is not None:
            for name in (meta.name, *reg.aliases):
                metas[name] = meta
    return metas


def _meta(keywords: Mapping[str, Any], function: str,
          settings: Mapping[str, Any] | None = None) -> ModelMeta | None:
    """The metadata of one decorator's keywords; ``None`` when the shape is not a literal."""
    name = keywords.get("name") or function
    shape = keywords.get("input_shape")
    if not isinstance(name, str) or not isinstance(shape, tuple):
        return None
    low = keywords.get("min_input_shape")
    return ModelMeta(name=name, input_shape=shape,
                     min_input_shape=low if isinstance(low, tuple) and low else shape,
                     inputs=str(keywords.get("inputs") or "dense"),
                     causal=bool(keywords.get("causal") or False),
                     max_seq_len=int(keywords.get("max_seq_len") or 0),
                     tensor_parallel=bool(keywords.get("tensor_parallel") or False),
                     optimizer=str(keywords.get("optimizer") or "sgd"),
                     settings=dict(settings or {}))


@lru_cache(maxsize=8)
def zoo_metadata(models_dir: Path = PACKAGE_DIR) -> dict[str, ModelMeta]:
    """Every zoo model's metadata in ``models_dir``, by name and alias."""
    found: dict[str, ModelMeta] = {}
    for tree in zoo_sources(models_dir):
        found.update(_metas(tree))
    return found


def model_metadata(name: str, config: Mapping[str, Any] | None = None,
                   models_dir: Path = PACKAGE_DIR) -> ModelMeta | None:
    """The metadata of zoo model ``name`` with the ``--model_config`` settings that change it
    (a token model's ``positions``, through the zoo's own :func:`sequence_fields`); ``None``
    for a plugin, an ``hf:`` model, or a setting that changes metadata in a way only the
    model's module knows (an image model's ``image_size``, ``patch``)."""
    meta = zoo_metadata(models_dir).get(name)
    if meta is None or not config:
        return meta
    settings = {**meta.settings, **config}
    if meta.inputs == "tokens" and "positions" in config:
        positions = config["positions"]
        if not isinstance(positions, int) or isinstance(positions, bool) or positions < 1:
            return None  # the registry refuses the setting itself, at run time
        fields = sequence_fields({"positions": positions}, meta.input_shape[0])
        return ModelMeta(name=meta.name, inputs=meta.inputs, causal=meta.causal,
                         tensor_parallel=meta.tensor_parallel, optimizer=meta.optimizer,
                         settings=settings, **fields)
    if meta.inputs != "tokens" and {"image_size", "patch"} & set(config):
        return None
    return replace(meta, settings=settings)
