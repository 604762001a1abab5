"""Models of Hugging Face ``transformers``: ``--model hf:<model_type>`` (``hf:gpt2``, ``hf:bert``).

Responsibility: turn ``hf:<model_type>`` and its ``--model_config`` overrides into a
:class:`~pytorch_benchmarks.models._zoo.registry.ModelInfo` whose builder makes the model with
random weights from the type's default config (``AutoConfig.for_model(type, **overrides)``,
then ``from_config``): nothing is downloaded (``HF_HUB_OFFLINE=1``, no ``from_pretrained``).

The head: a masked-LM head when the type has one (encoders: bert, roberta...), else a
causal-LM head (decoders: gpt2, llama...; ``causal=True``, ``--generate`` works); other types
are refused. The model is wrapped so that ``model(input_ids)`` returns the ``(N, T, V)``
logits; a generation's prefill asks for the last position's logits only
(``logits_to_keep=1``, the LM head then runs on that position, as the zoo's decoders do).
A token model: ``input_shape`` is ``(seq_len,)``, the config's maximum positions capped
at :data:`DEFAULT_SEQ_LEN_CAP`; ``num_classes`` is its ``vocab_size``.

Overrides transformers refuses (a wrong type, a width that the heads do not divide, a size
below 1) are one line naming the config, raised while the model is resolved: the model is
built once on the meta device (no memory, no time) to find them before anything runs. The
title names the overrides that differ from the default config.

This module is imported with the zoo: ``transformers`` is imported only when an ``hf:`` model
is resolved, so the zoo works without it.
"""
from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import nn

from pytorch_benchmarks.models._zoo.config import compact_json, config_label
from pytorch_benchmarks.models._zoo.registry import (
    ModelInfo,
    ModelRegistryError,
    register_model_prefix,
)

PREFIX = "hf:"
#: The default sequence length is the config's maximum positions, at most this many tokens.
DEFAULT_SEQ_LEN_CAP = 1024
#: Config attributes that hold a model's maximum positions, by the names transformers uses.
POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
#: Token ids of a config that must lie in its vocabulary.
SPECIAL_TOKEN_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id")
INSTALL_HINT = "pip install 'dlbs[hf]'"
#: Config settings that count something (layers, heads, widths, positions, tokens): an
#: override must be an integer >= 1 (transformers would build a model without layers, or
#: fail deep inside it).
SIZE_KEYS = frozenset({
    "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size",
    "intermediate_size", "vocab_size", "max_position_embeddings", "head_dim", "n_layer",
    "n_head", "n_embd", "n_inner", "n_positions", "n_ctx", "num_layers", "num_heads",
    "d_model", "ffn_dim", "d_ff", "type_vocab_size"})
#: The keyword arguments by which transformers' causal LMs compute the logits of the last
#: positions only (4.45+: ``logits_to_keep``; 4.4x before it: ``num_logits_to_keep``).
KEEP_KWARGS = ("logits_to_keep", "num_logits_to_keep")
#: What transformers raises for a config or model it cannot make from the settings given.
CONFIG_ERRORS = (ValueError, TypeError, AssertionError, AttributeError, IndexError, KeyError,
                 ZeroDivisionError)


def import_transformers() -> ModuleType:
    """``transformers``, offline (it never reaches the Hub here); one clear line when it is
    missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import transformers
    except ImportError as err:
        raise ModelRegistryError(f"hf: models need Hugging Face transformers ({err}); "
                                 f"{INSTALL_HINT}") from None
    return transformers


class HFCache:
    """A key/value cache for :class:`HFLogits` in the shape ``--generate`` expects
    (``new_cache(max_len)``, ``reset()``): a transformers ``DynamicCache``, made anew on reset."""

    def __init__(self, transformers: ModuleType) -> None:
        self._transformers = transformers
        self.past: Any = None
        self.reset()

    def reset(self) -> None:
        """Forget every cached position."""
        self.past = self._transformers.DynamicCache()


#: How a transformers model takes and returns its KV cache, newest name last.
CACHE_KWARGS = ("past_key_values", "cache")


class HFLogits(nn.Module):
    """A transformers LM whose ``forward(input_ids[, cache][, last_only])`` returns the
    logits tensor."""

    def __init__(self, model: nn.Module, causal: bool) -> None:
        super().__init__()
        self.model = model
        self.causal = causal
        parameters = inspect.signature(model.forward).parameters
        #: How the model is asked for the last position's logits only (None: it cannot be).
        self.keep_kwarg = next((k for k in KEEP_KWARGS if k in parameters), None)
        #: Whether ``last_only`` saves the LM head over the prompt (read by --generate).
        self.prefill_last_only = self.keep_kwarg is not None
        #: The keyword of the model's KV cache: ``past_key_values`` (transformers 5.0 to 5.2x),
        #: ``cache`` (later), None when it keeps none.
        self.cache_kwarg = next((k for k in CACHE_KWARGS if k in parameters), None)
        #: Whether the model keeps a KV cache (read by --generate).
        self.can_cache = causal and self.cache_kwarg is not None

    def new_cache(self, max_len: int) -> HFCache:
        """An empty cache (``max_len`` is not needed: the cache grows)."""
        del max_len
        return HFCache(import_transformers())

    def forward(self, input_ids: torch.Tensor, cache: HFCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """The logits ``(N, T, V)``; ``last_only``: ``(N, 1, V)``, of the last position (the
        LM head runs on it alone when the model takes ``logits_to_keep``)."""
        options: dict[str, Any] = {}
        if last_only and self.keep_kwarg is not None:
            options[self.keep_kwarg] = 1
        if cache is None:
            logits = self.model(input_ids=input_ids, **options).logits
        else:
            options[str(self.cache_kwarg)] = cache.past
            output = self.model(input_ids=input_ids, use_cache=True, **options)
            cache.past = next((getattr(output, k) for k in CACHE_KWARGS
                               if getattr(output, k, None) is not None), None)
            if cache.past is None:
                raise ModelRegistryError(f"--generate: {type(self.model).__name__} returned no "
                                         "KV cache (past_key_values or cache); it cannot "
                                         "generate")
            logits = output.logits
        return logits[:, -1:] if last_only else logits


#: Config settings that change the dtype of the weights (refused: see _check_overrides).
PRECISION_KEYS = frozenset({"dtype", "torch_dtype"})


def _default_config(transformers: ModuleType, model_type: str) -> Any:
    """The default config of ``model_type``; an unknown type names the close ones."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        close = difflib.get_close_matches(model_type.lower(), list(CONFIG_MAPPING_NAMES), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ModelRegistryError(
            f"unknown Hugging Face model type '{model_type}' in '{PREFIX}{model_type}'{hint} "
            f"(transformers {transformers.__version__} knows {len(CONFIG_MAPPING_NAMES)} types: "
            "the keys of transformers.models.auto.configuration_auto.CONFIG_MAPPING_NAMES)")
    return transformers.AutoConfig.for_model(model_type)


def _check_overrides(config: Any, overrides: Mapping[str, Any], model_type: str) -> None:
    """Every override must be a setting of the config (transformers would accept any key);
    the precision of the weights is the benchmark's (``--dtype``), never the config's."""
    for key in PRECISION_KEYS & set(overrides):
        raise ModelRegistryError(f"--model_config: '{key}' would set the precision of the "
                                 f"weights, which the benchmark decides and logs: leave it out "
                                 "and give --dtype (float32, float16, bfloat16)")
    known = set(config.to_dict()) | set(getattr(config, "attribute_map", {}))
    for key in overrides:
        if key not in known and not hasattr(config, key):
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ModelRegistryError(f"--model_config: '{key}' is not a setting of the "
                                     f"{model_type} config ({type(config).__name__}){hint}")


def _head_class(transformers: ModuleType, model_type: str) -> tuple[Any, str, bool]:
    """The auto class that makes the LM of ``model_type``, the class it makes, and whether it
    is causal."""
    from transformers.models.auto import modeling_auto

    masked = modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    if model_type in masked:
        return transformers.AutoModelForMaskedLM, str(masked[model_type]), False
    causal = modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if model_type in causal:
        return transformers.AutoModelForCausalLM, str(causal[model_type]), True
    raise ModelRegistryError(f"'{PREFIX}{model_type}' has neither a masked-LM nor a causal-LM "
                             "head in transformers; the benchmark runs text models only")


def _fit_special_tokens(default: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides``, plus ``None`` for the default special token ids that a smaller
    ``vocab_size`` leaves out of the vocabulary (transformers would warn about each)."""
    vocab = overrides.get("vocab_size")
    fitted = dict(overrides)
    if not isinstance(vocab, int):
        return fitted
    for key in SPECIAL_TOKEN_KEYS:
        value = getattr(default, key, None)
        if key not in overrides and isinstance(value, int) and value >= vocab:
            fitted[key] = None
    return fitted


def max_positions(config: Any) -> int:
    """The config's maximum positions (0 when it has none)."""
    for key in POSITION_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def _check_sizes(config: Any, overrides: Mapping[str, Any], model_type: str) -> None:
    """Every override of a size (:data:`SIZE_KEYS`, by its name or the name it stands for)
    is an integer >= 1 (``None`` where the config allows it: transformers then derives it)."""
    aliases = getattr(config, "attribute_map", {})
    for key, value in overrides.items():
        if key not in SIZE_KEYS and aliases.get(key) not in SIZE_KEYS:
            continue
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelRegistryError(f"--model_config: setting '{key}' of the {model_type} "
                                     f"config ({type(config).__name__}) must be an integer "
                                     f">= 1, got {compact_json(value)}")


def _check_heads(config: Any, overrides: Mapping[str, Any], model_type: str) -> None:
    """With overrides, the query heads must share the key/value heads in equal groups
    (transformers builds such a model, then fails in its first forward pass)."""
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None)
    if not overrides or not isinstance(heads, int) or not isinstance(kv_heads, int):
        return
    if kv_heads > 0 and heads % kv_heads:
        raise ModelRegistryError(
            f"--model_config: setting 'num_key_value_heads' ({kv_heads}) of the {model_type} "
            f"config ({type(config).__name__}) must divide num_attention_heads ({heads}): "
            "query heads share key/value heads in equal groups")


def _refused(model_type: str, overrides: Mapping[str, Any], config_class: str,
             err: BaseException) -> ModelRegistryError:
    """transformers' refusal of ``overrides`` as one line naming the config."""
    reason = " ".join(str(err).split()) or type(err).__name__
    return ModelRegistryError(f"--model_config {compact_json(dict(overrides))}: the {model_type} "
                              f"config ({config_class}) cannot take it: {reason}")


def _changed(default: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides whose value differs from the default config's."""
    unset = object()
    return {key: value for key, value in overrides.items()
            if getattr(default, key, unset) != value}


def resolve_hf(name: str, overrides: Mapping[str, Any]) -> ModelInfo:
    """The :class:`ModelInfo` of ``hf:<model_type>`` with ``overrides`` applied to its config."""
    model_type = name[len(PREFIX):]
    if not model_type:
        raise ModelRegistryError(f"'{name}' names no model type; e.g. {PREFIX}gpt2 or "
                                 f"{PREFIX}bert")
    transformers = import_transformers()
    default = _default_config(transformers, model_type)
    config_class = type(default).__name__
    _check_overrides(default, overrides, model_type)
    _check_sizes(default, overrides, model_type)
    try:  # strict configs (transformers 5) check types here: their errors are no ValueError
        config = transformers.AutoConfig.for_model(model_type,
                                                   **_fit_special_tokens(default, overrides))
    except Exception as err:  # any refusal of the settings is a config error
        if isinstance(err, MemoryError):
            raise
        raise _refused(model_type, overrides, config_class, err) from None
    _check_heads(config, overrides, model_type)
    auto_class, class_name, causal = _head_class(transformers, model_type)
    vocab = getattr(config, "vocab_size", None)
    if not isinstance(vocab, int) or vocab < 1:
        raise ModelRegistryError(f"'{name}': its config has no vocab_size; the benchmark runs "
                                 "text models only")
    positions = max_positions(config)
    seq_len = min(positions, DEFAULT_SEQ_LEN_CAP) if positions else DEFAULT_SEQ_LEN_CAP

    def make() -> nn.Module:
        try:
            return auto_class.from_config(config)
        except CONFIG_ERRORS as err:
            raise _refused(model_type, overrides, config_class, err) from None

    def build(*, num_classes: int = vocab) -> nn.Module:
        config.vocab_size = num_classes
        if hasattr(config, "use_cache"):
            config.use_cache = False  # a forward pass keeps no cache unless --generate asks
        return HFLogits(make(), causal)

    if overrides:  # what transformers refuses only when it builds the model, found now
        with torch.device("meta"):
            make()
    changed = _changed(default, overrides)
    label = f"{model_type}, {config_label(changed)}" if changed else model_type
    return ModelInfo(name=name, title=f"Hugging Face {class_name} ({label})",
                     input_shape=(seq_len,), num_classes=vocab, builder=build,
                     min_input_shape=(min(8, seq_len),), family="hf", inputs="tokens",
                     causal=causal, max_seq_len=positions, optimizer="adamw")


register_model_prefix(PREFIX, resolve_hf)
