"""BERT (Devlin et al., 2018): ``bert_base``, the base encoder with its masked-LM head.

Hugging Face's ``BertForMaskedLM`` layout: word, position (512) and token-type (2) embeddings
with LayerNorm, 12 post-norm encoder layers (bidirectional ``scaled_dot_product_attention``,
GELU MLP of width 3072), then the MLM head (dense + GELU + LayerNorm, a decoder tied to the
word embeddings with its own bias). As in ``BertForMaskedLM`` there is no pooler: the
registered model has 109,514,298 parameters; :class:`Bert` with ``pooler=True`` is
``BertModel`` (109,482,240). Input ``(N, T)`` token ids (one segment: token type 0, no
padding), output ``(N, T, 30522)`` logits.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from pytorch_benchmarks.layers.attention import attend, merge_heads, split_heads
from pytorch_benchmarks.models._zoo.registry import register_model
from pytorch_benchmarks.models._zoo.settings import check_transformer, sequence_fields

BERT_VOCAB, BERT_POSITIONS, BERT_TYPES = 30522, 512, 2


class EncoderLayer(nn.Module):
    """Post-norm: ``ln(x + attn(x))``, then ``ln(x + mlp(x))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.mlp = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(),
                                 nn.Linear(intermediate, hidden), nn.Dropout(dropout))
        self.mlp_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        dropout = self.dropout if self.training else 0.0
        attended = merge_heads(attend(q, k, v, causal=False, dropout=dropout))
        x = self.attn_norm(x + self.drop(self.attn_out(attended)))
        return self.mlp_norm(x + self.mlp(x))


class Bert(nn.Module):
    """The encoder (``BertModel``): embeddings and layers, with an optional pooler. Returns
    the hidden states ``(N, T, hidden)`` (and the pooled first token with ``pooler``)."""

    def __init__(self, *, vocab: int, positions: int, types: int, hidden: int, layers: int,
                 heads: int, intermediate: int, dropout: float, pooler: bool = False) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.Sequential(*(EncoderLayer(hidden, heads, intermediate, dropout)
                                      for _ in range(layers)))
        self.pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh()) if pooler else None
        for table in (self.word_embeddings, self.position_embeddings,
                      self.token_type_embeddings):
            nn.init.normal_(table.weight, std=0.02)

    def forward(self, ids: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        positions = torch.arange(ids.shape[1], device=ids.device)
        types = torch.zeros_like(ids)
        x = (self.word_embeddings(ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(types))
        x = self.layers(self.drop(self.embed_norm(x)))
        return x if self.pooler is None else (x, self.pooler(x[:, 0]))


class BertForMaskedLM(nn.Module):
    """The encoder (no pooler) and the MLM head, its decoder tied to the word embeddings."""

    def __init__(self, encoder: Bert, vocab: int, hidden: int) -> None:
        super().__init__()
        self.bert = encoder
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(),
                                       nn.LayerNorm(hidden, eps=1e-12))
        self.decoder = nn.Linear(hidden, vocab)
        self.decoder.weight = encoder.word_embeddings.weight
        nn.init.zeros_(self.decoder.bias)

    def forward(self, ids: Tensor) -> Tensor:
        hidden = self.bert(ids)
        assert isinstance(hidden, Tensor)  # built without a pooler
        return self.decoder(self.transform(hidden))


def bert_encoder(*, vocab: int = BERT_VOCAB, positions: int = BERT_POSITIONS,
                 types: int = BERT_TYPES, hidden: int = 768, layers: int = 12, heads: int = 12,
                 intermediate: int = 3072, dropout: float = 0.1, pooler: bool = False) -> Bert:
    """The BERT-base encoder (``BertModel``; 109,482,240 parameters with ``pooler``)."""
    return Bert(vocab=vocab, positions=positions, types=types, hidden=hidden, layers=layers,
                heads=heads, intermediate=intermediate, dropout=dropout, pooler=pooler)


def _check(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The transformer checks; ``positions`` is the longest sequence and caps the default."""
    check_transformer(settings)
    return sequence_fields(settings, BERT_POSITIONS)


@register_model(
    optimizer="adamw",
    title="BERT-base (masked LM)",
    aliases=("bert_base_uncased",),
    input_shape=(BERT_POSITIONS,),
    num_classes=BERT_VOCAB,
    min_input_shape=(8,),
    inputs="tokens",
    max_seq_len=BERT_POSITIONS,
    tiny={"num_classes": 64, "positions": 32, "hidden": 32, "layers": 2, "heads": 2,
          "intermediate": 64},
    check=_check,
)
def bert_base(*, num_classes: int = BERT_VOCAB, positions: int = BERT_POSITIONS,
              types: int = BERT_TYPES, hidden: int = 768, layers: int = 12, heads: int = 12,
              intermediate: int = 3072, dropout: float = 0.1) -> nn.Module:
    """BERT-base with its masked-LM head: 12 layers, width 768, 12 heads, MLP 3072, 512
    positions; 109.5 M parameters (``num_classes`` is the vocabulary)."""
    encoder = bert_encoder(vocab=num_classes, positions=positions, types=types, hidden=hidden,
                           layers=layers, heads=heads, intermediate=intermediate,
                           dropout=dropout)
    return BertForMaskedLM(encoder, num_classes, hidden)
