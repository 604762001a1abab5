"""GPT-2 (Radford et al., 2019): ``gpt2``, the 124 M "small" model, a causal language model.

Hugging Face's ``GPT2LMHeadModel`` layout: token and learned position embeddings (1024
positions), 12 pre-norm blocks (fused QKV projection, causal ``scaled_dot_product_attention``,
GELU MLP of width 3072), a final LayerNorm and an LM head tied to the token embeddings (no
bias). Input ``(N, T)`` token ids, output ``(N, T, 50257)`` logits. ``forward(ids, cache)``
with a :class:`~pytorch_benchmarks.layers.attention.KVCache` decodes incrementally
(``--generate``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from pytorch_benchmarks.layers.attention import KVCache, attend, merge_heads, split_heads
from pytorch_benchmarks.models._zoo.registry import register_model
from pytorch_benchmarks.models._zoo.settings import check_transformer, sequence_fields

GPT2_VOCAB, GPT2_POSITIONS = 50257, 1024


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with an optional key/value cache."""

    def __init__(self, hidden: int, heads: int, dropout: float, index: int) -> None:
        super().__init__()
        self.heads, self.dropout, self.index = heads, dropout, index
        self.c_attn = nn.Linear(hidden, 3 * hidden)
        self.c_proj = nn.Linear(hidden, hidden)

    def forward(self, x: Tensor, cache: KVCache | None) -> Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.c_attn(x).chunk(3, dim=-1))
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(self.index, k, v)
        dropout = self.dropout if self.training else 0.0
        return self.c_proj(merge_heads(attend(q, k, v, causal=True, past=past, dropout=dropout)))


class Block(nn.Module):
    """``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float,
                 index: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden, heads, dropout, index)
        self.ln_2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(approximate="tanh"),
                                 nn.Linear(intermediate, hidden), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: KVCache | None) -> Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), cache))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """Embeddings, blocks, final LayerNorm, tied LM head."""

    def __init__(self, *, num_classes: int, positions: int, hidden: int, layers: int,
                 heads: int, intermediate: int, dropout: float) -> None:
        super().__init__()
        self.wte = nn.Embedding(num_classes, hidden)
        self.wpe = nn.Embedding(positions, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden, heads, intermediate, dropout, i)
                                    for i in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.lm_head = nn.Linear(hidden, num_classes, bias=False)
        self.lm_head.weight = self.wte.weight
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)

    def new_cache(self, max_len: int) -> KVCache:
        """An empty key/value cache for sequences of up to ``max_len`` positions."""
        return KVCache(len(self.blocks), max_len)

    def forward(self, ids: Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> Tensor:
        """Logits ``(N, T, V)`` of ``ids`` ``(N, T)`` following the ``cache``'s positions
        (which it extends); ``last_only``: of the last position only (generation needs no
        more: the LM head over a long prompt is a large part of a prefill)."""
        start = cache.length if cache is not None else 0
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.drop(self.wte(ids) + self.wpe(positions))
        for block in self.blocks:
            x = block(x, cache)
        if cache is not None:
            cache.advance(ids.shape[1])
        if last_only:
            x = x[:, -1:]
        return self.lm_head(self.ln_f(x))


def _check(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The transformer checks; ``positions`` is the longest sequence and caps the default."""
    check_transformer(settings)
    return sequence_fields(settings, GPT2_POSITIONS)


@register_model(
    optimizer="adamw",
    title="GPT-2 small",
    aliases=("gpt2_small",),
    input_shape=(GPT2_POSITIONS,),
    num_classes=GPT2_VOCAB,
    min_input_shape=(8,),
    inputs="tokens",
    causal=True,
    max_seq_len=GPT2_POSITIONS,
    tiny={"num_classes": 64, "positions": 32, "hidden": 32, "layers": 2, "heads": 2},
    check=_check,
)
def gpt2(*, num_classes: int = GPT2_VOCAB, positions: int = GPT2_POSITIONS, hidden: int = 768,
         layers: int = 12, heads: int = 12, intermediate: int | None = None,
         dropout: float = 0.1, **kw: Any) -> nn.Module:
    """GPT-2 small: 12 layers, width 768, 12 heads, MLP 4 x width (``intermediate``), 1024
    positions, tied LM head; 124.4 M parameters (``num_classes`` is the vocabulary)."""
    return GPT2(num_classes=num_classes, positions=positions, hidden=hidden, layers=layers,
                heads=heads, intermediate=intermediate or 4 * hidden, dropout=dropout, **kw)
