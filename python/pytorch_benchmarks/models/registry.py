"""The model registry: ``register_model``, ``create_model``, ``list_models``, ``get_model_info``.

Responsibility: map model names (and aliases) to small builder functions and the metadata the
benchmark needs (input shape, class count). It must not import ``dlbs`` nor any model family;
the families register themselves when :mod:`pytorch_benchmarks.models` imports them.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

__all__ = [
    "ModelInfo",
    "ModelRegistryError",
    "UnknownModelError",
    "create_model",
    "get_model_info",
    "list_models",
    "register_model",
]


class ModelRegistryError(ValueError):
    """A registry misuse: a duplicate name or alias, or invalid metadata."""


class UnknownModelError(ModelRegistryError, KeyError):
    """A model name that is neither registered nor an alias."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ModelInfo:
    """What the benchmark needs to know about a registered model.

    ``input_shape`` is the benchmark's per-sample input shape (no batch dimension), e.g.
    ``(3, 224, 224)``; ``min_input_shape`` is the smallest shape the model accepts, used by tests
    to keep them fast (equal to ``input_shape`` when the net needs its full size).

    ``inputs`` says what a sample is: ``"dense"`` (a float tensor of ``input_shape``: images,
    features) or ``"tokens"`` (a sequence of token ids: ``input_shape`` is ``(seq_len,)`` with the
    model's usual length, ``num_classes`` is the vocabulary size, the output is ``(N, T, V)``
    logits and the labels are ``(N, T)`` token ids). ``causal`` marks decoder models that can
    generate (``--generate``).
    """

    name: str
    title: str
    input_shape: tuple[int, ...]
    num_classes: int
    builder: Builder
    aliases: tuple[str, ...] = ()
    min_input_shape: tuple[int, ...] = ()
    family: str = ""
    inputs: str = "dense"
    causal: bool = False

    def __post_init__(self) -> None:
        if not self.min_input_shape:
            object.__setattr__(self, "min_input_shape", self.input_shape)


#: What a sample can be (:attr:`ModelInfo.inputs`).
INPUT_KINDS = ("dense", "tokens")

_MODELS: dict[str, ModelInfo] = {}
_ALIASES: dict[str, str] = {}


def _check_free(name: str, builder: Builder) -> None:
    """Raise when ``name`` is already taken by a model or an alias."""
    owner = _MODELS.get(name) or _MODELS.get(_ALIASES.get(name, ""))
    if owner is not None:
        raise ModelRegistryError(
            f"cannot register model '{name}' ({builder.__module__}.{builder.__qualname__}): "
            f"the name is already taken by '{owner.name}' "
            f"({owner.builder.__module__}.{owner.builder.__qualname__}); choose another name"
        )


def _check_shape(name: str, label: str, shape: tuple[int, ...]) -> None:
    """Raise unless ``shape`` is a non-empty tuple of positive ints."""
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ModelRegistryError(
            f"model '{name}': {label} must be a non-empty tuple of positive ints, got {shape!r}"
        )


def register_model(
    *,
    title: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    aliases: tuple[str, ...] = (),
    min_input_shape: tuple[int, ...] = (),
    name: str | None = None,
    inputs: str = "dense",
    causal: bool = False,
) -> Callable[[B], B]:
    """Register a builder under its function name (or ``name``) with its metadata.

    The builder is a keyword-only function ``(*, num_classes=..., **kw) -> nn.Module``; it is
    returned unchanged. A duplicate name or alias raises :class:`ModelRegistryError`.
    """

    def decorate(builder: B) -> B:
        model_name = name or builder.__name__
        for taken in (model_name, *aliases):
            _check_free(taken, builder)
        _check_shape(model_name, "input_shape", tuple(input_shape))
        if min_input_shape:
            _check_shape(model_name, "min_input_shape", tuple(min_input_shape))
        if inputs not in INPUT_KINDS:
            raise ModelRegistryError(
                f"model '{model_name}': inputs must be one of {INPUT_KINDS}, got {inputs!r}"
            )
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ModelRegistryError(
                f"model '{model_name}': num_classes must be a positive int, got {num_classes!r}"
            )
        info = ModelInfo(
            name=model_name,
            title=title,
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            builder=builder,
            aliases=tuple(aliases),
            min_input_shape=tuple(min_input_shape),
            family=builder.__module__.rsplit(".", 1)[-1],
            inputs=inputs,
            causal=causal,
        )
        _MODELS[model_name] = info
        _ALIASES.update({alias: model_name for alias in aliases})
        return builder

    return decorate


def unregister_model(name: str) -> None:
    """Remove a model and its aliases (for tests that register throw-away models)."""
    info = _MODELS.pop(name)
    for alias in info.aliases:
        _ALIASES.pop(alias, None)


def _suggestions(name: str, limit: int = 3) -> list[str]:
    """Registered names or aliases close to ``name``, best first, one per model."""
    known = sorted([*_MODELS, *_ALIASES])
    by_model: dict[str, str] = {}
    for match in difflib.get_close_matches(name, known, n=2 * limit, cutoff=0.6):
        by_model.setdefault(_ALIASES.get(match, match), match)
    return list(by_model.values())[:limit]


def _resolve(name: str) -> str:
    """Return the registered name for ``name`` or an alias; raise a did-you-mean error."""
    if name in _MODELS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    close = _suggestions(name)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    raise UnknownModelError(
        f"unknown model '{name}'{hint} Run benchmarks.py --list_models to see all models."
    )


def get_model_info(name: str) -> ModelInfo:
    """Return the :class:`ModelInfo` of a registered model or alias."""
    return _MODELS[_resolve(name)]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model ``name`` (or an alias); ``kwargs`` go to its builder.

    ``num_classes`` defaults to the registered class count.
    """
    info = get_model_info(name)
    kwargs.setdefault("num_classes", info.num_classes)
    return info.builder(**kwargs)


def list_models(pattern: str | None = None) -> list[str]:
    """Return the sorted registered names (not aliases), filtered by an fnmatch ``pattern``."""
    names = sorted(_MODELS)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
