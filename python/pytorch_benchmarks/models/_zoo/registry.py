"""The model registry: ``register_model``, ``create_model``, ``list_models``, ``get_model_info``.

Responsibility: map model names (and aliases) to small builder functions and the metadata the
benchmark needs (input shape, class count). It must not import ``dlbs`` nor any model family;
the families register themselves when :mod:`pytorch_benchmarks.models._zoo.loader` imports them.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from torch import nn

from pytorch_benchmarks.models._zoo import plugins
from pytorch_benchmarks.models._zoo.config import config_label

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)
#: Checks a model's settings (its builder's defaults updated with ``--model_config``) before
#: anything is built: raises :class:`ValueError` (one sentence naming the setting and what is
#: allowed) for a bad value; may return the :class:`ModelInfo` fields the settings change
#: (e.g. ``{"max_seq_len": 64, "input_shape": (64,)}``), or ``None``.
ConfigCheck = Callable[[Mapping[str, Any]], "Mapping[str, Any] | None"]
#: ``--model_config`` names that mean a builder argument of another name: a token model's
#: vocabulary is its ``num_classes``.
TOKEN_SYNONYMS = {"vocab": "num_classes"}

__all__ = [
    "ModelInfo",
    "ModelRegistryError",
    "UnknownModelError",
    "create_model",
    "get_model_info",
    "list_models",
    "register_model",
    "register_sizes",
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

    ``optimizer`` is the optimizer its training uses unless ``--optimizer`` says otherwise:
    ``"sgd"`` (momentum, what DLBS's CNN benchmarks used) or ``"adamw"`` (what transformers
    are trained with: torchtitan's Llama, timm's ViT).

    ``max_seq_len`` is the longest sequence a token model takes (its learned positions; 0: no
    limit). ``tiny`` holds builder keyword arguments for a tiny version of the model (few
    layers, small width and vocabulary) that the contract tests build instead of the full one;
    a token model's ``tiny`` may set ``num_classes`` (its vocabulary). ``check`` validates
    ``--model_config`` settings (:data:`ConfigCheck`).
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
    max_seq_len: int = 0
    optimizer: str = "sgd"
    tiny: Mapping[str, Any] = field(default_factory=dict, compare=False)
    check: ConfigCheck | None = field(default=None, compare=False)
    #: Whether ``--parallelism fsdp_tp`` can split its blocks (``runtime.tensor_parallel``).
    tensor_parallel: bool = False
    #: The builder's keyword settings: its defaults and the ``--model_config`` given.
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.min_input_shape:
            object.__setattr__(self, "min_input_shape", self.input_shape)


#: What a sample can be (:attr:`ModelInfo.inputs`).
INPUT_KINDS = ("dense", "tokens")
#: The optimizers a model's training may use (:attr:`ModelInfo.optimizer`, ``--optimizer``).
OPTIMIZERS = ("sgd", "adamw")

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
    max_seq_len: int = 0,
    tiny: Mapping[str, Any] | None = None,
    check: ConfigCheck | None = None,
    optimizer: str = "sgd",
    tensor_parallel: bool = False,
) -> Callable[[B], B]:
    """Register a builder under its function name (or ``name``) with its metadata.

    The builder is a keyword-only function ``(*, num_classes=..., **kw) -> nn.Module``; it is
    returned unchanged. A duplicate name or alias raises :class:`ModelRegistryError`.
    ``check`` validates the settings ``--model_config`` gives (:data:`ConfigCheck`).
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
        if optimizer not in OPTIMIZERS:
            raise ModelRegistryError(
                f"model '{model_name}': optimizer must be one of {OPTIMIZERS}, got {optimizer!r}"
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
            max_seq_len=max_seq_len,
            optimizer=optimizer,
            tiny=dict(tiny or {}),
            check=check,
            tensor_parallel=tensor_parallel,
            settings={n: p.default for n, p in _signature(builder).parameters.items()
                      if p.default is not p.empty} | {"num_classes": num_classes},
        )
        _MODELS[model_name] = info
        _ALIASES.update({alias: model_name for alias in aliases})
        return builder

    return decorate


def register_sizes(builder: Builder, sizes: Mapping[str, Mapping[str, Any]],
                   **shared: Any) -> None:
    """Register ``builder`` under each name of ``sizes``, a table of the sizes of one family
    (torchtitan's flavours: one row a size, one builder for all).

    A row holds the :func:`register_model` keywords of its own (``title``, ``aliases``...) and
    under ``"settings"`` the values it gives the builder's keyword parameters; ``shared`` holds
    the keywords every size registers alike. Each size's builder is ``builder`` with the row's
    settings as its defaults (its signature says so: the registry reads a model's settings,
    ``--model_config`` keys and their types from it), so a size is registered exactly as a
    decorated builder with those defaults would be. A setting the builder does not take, or a
    parameter left with no value, raises :class:`ModelRegistryError`. Keep the table a literal
    of constants: ``validate`` reads it from the source without torch (``_zoo/sources``).
    """
    signature = _signature(builder)
    for name, row in sizes.items():
        own = dict(row)
        settings = dict(own.pop("settings", {}))
        unknown = sorted(set(settings) - set(signature.parameters))
        if unknown:
            raise ModelRegistryError(f"model '{name}': its size sets {unknown}, which "
                                     f"{builder.__qualname__} does not take")
        params = [p.replace(default=settings[p.name]) if p.name in settings else p
                  for p in signature.parameters.values()]
        unset = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
        if unset:
            raise ModelRegistryError(f"model '{name}': its size gives no value to {unset}")
        register_model(name=name, **shared, **own)(
            _sized(builder, name, settings, signature.replace(parameters=params)))


def _sized(builder: Builder, name: str, settings: Mapping[str, Any],
           signature: inspect.Signature) -> Builder:
    """``builder`` with ``settings`` as its defaults, named ``name``, of ``signature``."""

    @functools.wraps(builder)
    def sized(**kwargs: Any) -> nn.Module:
        return builder(**{**settings, **kwargs})

    sized.__name__ = sized.__qualname__ = name
    sized.__signature__ = signature  # type: ignore[attr-defined]
    return sized


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


#: Resolves a prefixed name (``hf:gpt2``) and its ``--model_config`` overrides to a ModelInfo.
Resolver = Callable[[str, Mapping[str, Any]], ModelInfo]

#: Name prefixes whose models are made on demand (``hf:`` from models/hf.py), not registered.
_PREFIXES: dict[str, Resolver] = {}


def register_model_prefix(prefix: str, resolver: Resolver) -> None:
    """Make ``resolver`` answer every name that starts with ``prefix`` (e.g. ``"hf:"``).

    Such models are not listed by :func:`list_models`: there is one per name the resolver
    accepts. A prefix already taken raises :class:`ModelRegistryError`.
    """
    if prefix in _PREFIXES:
        raise ModelRegistryError(f"model name prefix '{prefix}' is already registered")
    _PREFIXES[prefix] = resolver


def _prefix_of(name: str) -> str | None:
    """The registered prefix ``name`` starts with, if any."""
    return next((prefix for prefix in _PREFIXES if name.startswith(prefix)), None)


def _resolve(name: str) -> str:
    """Return the registered name for ``name`` or an alias; raise a did-you-mean error."""
    if name in _MODELS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    close = _suggestions(name)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    broken = plugins.failures()
    why = (f" It may be a model of a plugin that failed to load: {'; '.join(broken)}."
           if broken else "")
    raise UnknownModelError(
        f"unknown model '{name}'{hint}{why} Run benchmarks.py --list_models to see all models."
    )


def _signature(builder: Builder) -> inspect.Signature:
    """The builder's signature, its annotations evaluated where they can be."""
    try:
        return inspect.signature(builder, eval_str=True)
    except (NameError, SyntaxError, TypeError):  # an annotation that does not evaluate here
        return inspect.signature(builder)


_SCALARS = (bool, int, float, str)


def _value_types(param: inspect.Parameter) -> tuple[type, ...] | None:
    """The JSON-able types a builder parameter takes (from its annotation, else its default);
    ``None`` when they are unknown (no check)."""
    annotation = param.annotation
    if annotation in _SCALARS:
        return (annotation,)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = typing.get_args(annotation)
        if all(arg in (*_SCALARS, type(None)) for arg in args):
            return tuple(args)
        return None
    default = param.default
    if annotation is param.empty and type(default) in _SCALARS:
        return (type(default),)
    return None


def _type_error(value: Any, allowed: tuple[type, ...]) -> str | None:
    """Why ``value`` (from JSON) is not of the ``allowed`` types, or ``None`` when it is."""
    if value is None:
        return None if type(None) in allowed else "not null"
    if isinstance(value, bool):
        return None if bool in allowed else "not a boolean"
    if isinstance(value, int) and (int in allowed or float in allowed):
        return None
    if isinstance(value, float) and float in allowed:
        return None if math.isfinite(value) else "finite"
    if isinstance(value, str) and str in allowed:
        return None
    return ""


_TYPE_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               type(None): "null"}


def _check_types(name: str, config: Mapping[str, Any],
                 params: Mapping[str, inspect.Parameter]) -> None:
    """Every value of ``config`` has the type of its builder parameter."""
    for key, value in config.items():
        allowed = _value_types(params[key if key in params else TOKEN_SYNONYMS[key]])
        if allowed is None:
            continue
        problem = _type_error(value, allowed)
        if problem is not None:
            words = " or ".join(_TYPE_WORDS[t] for t in allowed)
            raise ModelRegistryError(
                f"--model_config: model '{name}': setting '{key}' must be "
                f"{'a finite number' if problem == 'finite' else words}, got "
                f"{json.dumps(value)}")


def accepted_settings(info: ModelInfo) -> list[str]:
    """The ``--model_config`` keys a registered model takes: its builder's named keyword
    parameters (and ``vocab`` for a token model's ``num_classes``), sorted."""
    params = _signature(info.builder).parameters
    names = {n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    if info.inputs == "tokens":
        names |= {alias for alias, target in TOKEN_SYNONYMS.items()
                  if target in names and alias not in names}
    return sorted(names)


def _builder_config(info: ModelInfo, config: Mapping[str, Any],
                    params: Mapping[str, inspect.Parameter]) -> dict[str, Any]:
    """``config`` with its synonyms (``vocab``) replaced by the builder's names."""
    bound: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in config.items():
        target = key if key in params else TOKEN_SYNONYMS.get(key, key)
        if target in bound and bound[target] != value:
            raise ModelRegistryError(
                f"--model_config: model '{info.name}': '{given[target]}' and '{key}' are the "
                f"same setting and disagree ({json.dumps(bound[target])} and "
                f"{json.dumps(value)}); give one of them")
        bound[target], given[target] = value, key
    return bound


def _configured(info: ModelInfo, config: Mapping[str, Any]) -> ModelInfo:
    """``info`` with its builder's keyword arguments set from ``config`` (``--model_config``).

    Only the builder's named keyword parameters are accepted (a token model's ``vocab`` is its
    ``num_classes``, which also sets the class count); each value must have the parameter's
    type and pass the model's :attr:`ModelInfo.check`, which may change the info (a token
    model's ``positions`` its ``max_seq_len`` and default length). The title names the
    settings that differ from the defaults: ``GPT-2 small (layers=2)``.
    """
    accepted = accepted_settings(info)
    unknown = [key for key in config if key not in accepted]
    if unknown:
        raise ModelRegistryError(
            f"--model_config: model '{info.name}' has no setting '{unknown[0]}'; it takes "
            f"{', '.join(accepted) or 'none'}")
    params = _signature(info.builder).parameters
    _check_types(info.name, config, params)
    bound = _builder_config(info, config, params)
    defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}
    defaults["num_classes"] = info.num_classes
    settings = {**defaults, **bound}
    if not isinstance(settings["num_classes"], int) or settings["num_classes"] < 1:
        raise ModelRegistryError(f"--model_config: model '{info.name}': setting "
                                 f"'{'vocab' if 'vocab' in config else 'num_classes'}' must be "
                                 f"an integer >= 1, got {json.dumps(settings['num_classes'])}")
    changes: dict[str, Any] = {}
    if info.check is not None:
        try:
            changes = dict(info.check(settings) or {})
        except ValueError as err:
            raise ModelRegistryError(f"--model_config: model '{info.name}': {err}") from None
        known = {f.name for f in fields(ModelInfo)} - {"name", "builder", "check"}
        if set(changes) - known:
            raise ModelRegistryError(f"model '{info.name}': its check returned "
                                     f"{sorted(set(changes) - known)}, not ModelInfo fields")
    unset = object()
    changed = {key: value for key, value in config.items()
               if defaults.get(key if key in params else TOKEN_SYNONYMS[key], unset) != value}
    title = f"{info.title} ({config_label(changed)})" if changed else info.title
    changes.setdefault("num_classes", settings["num_classes"])
    changes.setdefault("settings", settings)
    return replace(info, builder=functools.partial(info.builder, **bound), title=title,
                   **changes)


def get_model_info(name: str, config: Mapping[str, Any] | None = None) -> ModelInfo:
    """Return the :class:`ModelInfo` of a registered model or alias, or of a prefixed name
    (``hf:gpt2``) made on demand.

    ``config`` (``--model_config``) overrides settings: a prefixed model's own (for ``hf:``,
    its Hugging Face config), or a registered builder's keyword arguments. The returned
    info's builder has them bound, its title names them and its metadata follows them (a
    token model's ``positions``); an unknown setting or a bad value raises
    :class:`ModelRegistryError`, one line naming the setting.
    """
    prefix = _prefix_of(name)
    if prefix is not None:
        return _PREFIXES[prefix](name, dict(config or {}))
    info = _MODELS[_resolve(name)]
    return _configured(info, config) if config else info


def create_model(name: str, config: Mapping[str, Any] | None = None, **kwargs: Any
                 ) -> nn.Module:
    """Build the model ``name`` (or an alias, or a prefixed name) with the ``config``
    overrides of :func:`get_model_info`; ``kwargs`` go to its builder.

    ``num_classes`` defaults to the registered class count.
    """
    info = get_model_info(name, config)
    kwargs.setdefault("num_classes", info.num_classes)
    return info.builder(**kwargs)


def list_models(pattern: str | None = None) -> list[str]:
    """Return the sorted registered names (not aliases), filtered by an fnmatch ``pattern``."""
    names = sorted(_MODELS)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
