"""Attention shared by the transformer families: multi-head attention over ``scaled_dot_product
_attention`` and the key/value cache that decoder models (gpt2, llama) generate with.

Responsibility: the tensor plumbing every transformer repeats (split heads, causal masking with
a cache offset, grouped-query attention). It registers no model and knows no architecture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class KVCache:
    """Keys and values of the positions seen so far, one pair of buffers per layer.

    The buffers are ``(N, kv_heads, max_len, head_dim)``, allocated on the first write with
    the dtype of the keys (so an autocast run caches half precision) and reused after
    :meth:`reset`: a benchmark that generates again and again allocates nothing per iteration.
    ``length`` is the number of cached positions; the model advances it once per forward pass
    (:meth:`advance`), after every layer has written its keys and values.
    """

    def __init__(self, num_layers: int, max_len: int) -> None:
        self.max_len = max_len
        self.length = 0
        self.keys: list[Tensor | None] = [None] * num_layers
        self.values: list[Tensor | None] = [None] * num_layers

    def reset(self) -> None:
        """Forget every position (keep the buffers)."""
        self.length = 0

    def append(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Write ``key``/``value`` ``(N, H, T, D)`` after the cached positions of ``layer``;
        return that layer's keys and values up to and including them."""
        end = self.length + key.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache of {self.max_len} positions cannot take {end}")
        keys, values = self.keys[layer], self.values[layer]
        if keys is None or values is None or keys.shape[0] != key.shape[0] \
                or keys.dtype != key.dtype:
            shape = (key.shape[0], key.shape[1], self.max_len, key.shape[3])
            keys = key.new_empty(shape)
            values = value.new_empty(shape)
            self.keys[layer], self.values[layer] = keys, values
        keys[:, :, self.length:end] = key
        values[:, :, self.length:end] = value
        return keys[:, :, :end], values[:, :, :end]

    def advance(self, steps: int) -> None:
        """Count ``steps`` more cached positions (once per forward pass)."""
        self.length += steps


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``(N, T, H*D)`` -> ``(N, H, T, D)``."""
    n, t, _ = x.shape
    return x.view(n, t, heads, -1).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``(N, H, T, D)`` -> ``(N, T, H*D)``."""
    n, _, t, _ = x.shape
    return x.transpose(1, 2).reshape(n, t, -1)


def attend(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, past: int = 0,
           dropout: float = 0.0) -> Tensor:
    """Scaled dot-product attention of ``q`` ``(N, H, T, D)`` over ``k``/``v`` ``(N, Hkv,
    past + T, D)``; fewer key/value heads than query heads is grouped-query attention.

    Causal with a cache (``past`` > 0): a single new position sees everything (no mask, the
    fast path of decoding); several new positions see the past and their own prefix.
    """
    gqa = k.shape[1] != q.shape[1]
    mask: Tensor | None = None
    is_causal = causal and past == 0 and q.shape[2] > 1
    if causal and past > 0 and q.shape[2] > 1:
        t = q.shape[2]
        mask = torch.ones(t, past + t, dtype=torch.bool, device=q.device).tril(diagonal=past)
    # enable_gqa only where the heads differ: the keyword is torch >= 2.5's, and a model with
    # as many key/value heads as query heads then runs on any torch
    extra = {"enable_gqa": True} if gqa else {}
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout,
                                          is_causal=is_causal, **extra)
