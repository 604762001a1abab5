"""The ``--model_config`` settings the transformer builders share, and their checks.

Responsibility: one vocabulary for the structure of the zoo's transformers (``gpt2``,
``bert_base``, ``llama3_1b``, ``vit_b16``) and the checks the registry runs on their values
before anything is built (:data:`~pytorch_benchmarks.models._zoo.registry.ConfigCheck`): a bad
value is one sentence naming the setting and what is allowed, never a traceback from deep in
the model. It registers no model.

The names (each builder takes those that apply to it; docs/pytorch-benchmark.md lists them):

- ``layers``: blocks; ``heads``: attention (query) heads; ``kv_heads``: key/value heads
  (grouped-query attention, llama); ``hidden``: the model width, a multiple of ``heads``;
- ``intermediate``: the MLP's inner width;
- ``positions``: the longest sequence of a token model (learned position embeddings, or for
  RoPE the longest context); it is also the default ``--seq_len`` when shorter than the
  model's usual length;
- ``vocab``: the vocabulary of a token model (its ``num_classes``);
- ``dropout``: the dropout probability, in [0, 1); ``types``: BERT's token types;
- ``image_size``, ``patch``: a ViT's input size (also the benchmark's default input) and its
  patch size; ``theta``, ``rope_factor``: llama's RoPE base and frequency scaling.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Integer settings that must be at least 1 wherever a builder takes them.
POSITIVE = ("layers", "heads", "kv_heads", "hidden", "intermediate", "positions",
            "num_classes", "types", "patch", "image_size")
#: The fewest positions a token model keeps by default in tests (``min_input_shape``).
MIN_TOKENS = 8


def check_transformer(settings: Mapping[str, Any]) -> None:
    """The checks every transformer's settings pass: positive sizes, ``hidden`` a multiple
    of ``heads`` (and ``heads`` of ``kv_heads``), ``dropout`` a probability."""
    for key in POSITIVE:
        value = settings.get(key)
        if value is not None and value < 1:
            raise ValueError(f"setting '{key}' must be an integer >= 1, got {value}")
    hidden, heads = settings.get("hidden"), settings.get("heads")
    if hidden is not None and heads is not None and hidden % heads:
        raise ValueError(f"setting 'hidden' ({hidden}) must be a multiple of 'heads' ({heads}): "
                         "each head takes hidden / heads dimensions")
    kv_heads = settings.get("kv_heads")
    if kv_heads is not None and heads is not None and heads % kv_heads:
        raise ValueError(f"setting 'heads' ({heads}) must be a multiple of 'kv_heads' "
                         f"({kv_heads}): query heads share key/value heads in equal groups")
    dropout = settings.get("dropout")
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise ValueError(f"setting 'dropout' must be a probability in [0, 1), got {dropout}")


def sequence_fields(settings: Mapping[str, Any], usual_len: int) -> dict[str, Any]:
    """What a token model's ``positions`` changes in its ModelInfo: the longest sequence
    (``max_seq_len``) and the default one (its usual length, at most ``positions``)."""
    positions = int(settings["positions"])
    return {"max_seq_len": positions, "input_shape": (min(usual_len, positions),),
            "min_input_shape": (min(MIN_TOKENS, positions),)}
