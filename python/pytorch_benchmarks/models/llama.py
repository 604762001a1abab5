"""Llama 3 (Grattafiori et al., 2024): the shapes of Llama 3.2 1B and 3B and Llama 3.1 8B and 70B
(``llama3_1b``, ``llama3_3b``, ``llama3_8b``, ``llama3_70b``, as in their released configs).

Hugging Face's ``LlamaForCausalLM`` layout: token embeddings, pre-norm decoder layers (RMSNorm,
grouped-query attention with rotary position embeddings, SwiGLU MLP), a final RMSNorm and an LM
head (tied to the embeddings in the 3.2 models, its own weights in the 3.1 ones); no biases.
RoPE has theta 500000 and Llama 3's frequency scaling (factor 32 in 3.2, 8 in 3.1; low/high
frequency factors 1/4, original context 8192). Built under ``torch.device("meta")`` a model
has shapes and no storage: an 8B or 70B model is counted and planned on any machine.
Input ``(N, T)`` token ids, output ``(N, T, 128256)`` logits; ``forward(ids, cache)`` with a
:class:`~pytorch_benchmarks.layers.attention.KVCache` decodes incrementally (``--generate``).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytorch_benchmarks.layers.attention import KVCache, attend, merge_heads, split_heads
from pytorch_benchmarks.models._zoo.registry import register_sizes
from pytorch_benchmarks.models._zoo.settings import check_transformer, sequence_fields

LLAMA_VOCAB, LLAMA_CONTEXT = 128256, 131072
#: The benchmark's usual sequence length for llama3_1b (its context is far longer).
LLAMA_SEQ_LEN = 2048


def llama3_frequencies(head_dim: int, theta: float, factor: float = 32.0, low: float = 1.0,
                       high: float = 4.0, context: int = 8192) -> Tensor:
    """RoPE inverse frequencies with Llama 3's scaling: long wavelengths divided by
    ``factor``, short ones kept, a smooth blend in between (``factor`` 1: plain RoPE)."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    if factor == 1.0:
        return inv
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > context / low, inv / factor, inv)
    smooth = (context / wavelen - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= context / high) & (wavelen <= context / low)
    return torch.where(medium, blended, scaled)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Apply rotary embeddings to ``x`` ``(N, H, T, D)`` (the two halves form the pairs)."""
    first, second = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # float32 tables, half precision under autocast
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class Attention(nn.Module):
    """Grouped-query attention: ``heads`` query heads share ``kv_heads`` key/value heads."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, index: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.index = heads, kv_heads, index
        head_dim = hidden // heads
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], cache: KVCache | None) -> Tensor:
        q = rotate(split_heads(self.q_proj(x), self.heads), *rope)
        k = rotate(split_heads(self.k_proj(x), self.kv_heads), *rope)
        v = split_heads(self.v_proj(x), self.kv_heads)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(self.index, k, v)
        return self.o_proj(merge_heads(attend(q, k, v, causal=True, past=past)))


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``."""

    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, intermediate: int,
                 index: int) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(hidden, eps=1e-5)
        self.self_attn = Attention(hidden, heads, kv_heads, index)
        self.post_attention_layernorm = nn.RMSNorm(hidden, eps=1e-5)
        self.mlp = SwiGLU(hidden, intermediate)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], cache: KVCache | None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """Embeddings, decoder layers, final RMSNorm, LM head (``tied``: the embeddings')."""

    def __init__(self, *, num_classes: int, hidden: int, layers: int, heads: int,
                 kv_heads: int, intermediate: int, theta: float, rope_factor: float,
                 positions: int = LLAMA_CONTEXT, tied: bool = True) -> None:
        super().__init__()
        self.positions = positions  # the longest context (RoPE has no table to outgrow)
        self.embed_tokens = nn.Embedding(num_classes, hidden)
        self.layers = nn.ModuleList(DecoderLayer(hidden, heads, kv_heads, intermediate, i)
                                    for i in range(layers))
        self.norm = nn.RMSNorm(hidden, eps=1e-5)
        self.lm_head = nn.Linear(hidden, num_classes, bias=False)
        if tied:
            self.lm_head.weight = self.embed_tokens.weight
        self.rope_settings = (hidden // heads, theta, rope_factor)
        frequencies = llama3_frequencies(*self.rope_settings)
        self.register_buffer("inv_freq", frequencies, persistent=False)
        if not self.embed_tokens.weight.is_meta:
            self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Give every parameter its starting value, and the RoPE frequencies theirs: the
        model's own initialisation, callable after ``to_empty`` on a model built on the meta
        device and sharded (FSDP2, tensor parallel), where each rank allocates its shards only.

        Each parameter is drawn whole from a generator of its own (seeded by torch's seed and
        the parameter's name) and this rank keeps its part of it: the same values whatever the
        layout, so a sharded run starts from the model a single process builds (its loss can
        be compared), and no value depends on the order modules were built in. One whole
        parameter at a time is the only unsharded memory (the 70B's embeddings: 4.2 GB).
        Embeddings: normal, std 0.02; norms: ones; projections and an untied LM head: uniform
        within 1/sqrt(fan_in) (``nn.Linear``'s own default)."""
        for name, param in self.named_parameters():  # a tied LM head is the embeddings'
            whole = _initial_value(_unwrapped(name), tuple(param.shape), param.dtype,
                                   _local(param).device)
            param.copy_(_placed_like(whole, param))
        inv_freq: Tensor = self.inv_freq  # type: ignore[assignment]  # a buffer
        inv_freq.copy_(llama3_frequencies(*self.rope_settings).to(inv_freq.device))

    def new_cache(self, max_len: int) -> KVCache:
        """An empty key/value cache for sequences of up to ``max_len`` positions."""
        return KVCache(len(self.layers), max_len)

    def _rope(self, start: int, length: int) -> tuple[Tensor, Tensor]:
        """cos and sin ``(T, D)`` (float32) of positions ``start .. start + length - 1``."""
        inv_freq: Tensor = self.inv_freq  # type: ignore[assignment]  # a buffer
        positions = torch.arange(start, start + length, device=inv_freq.device,
                                 dtype=torch.float32)
        angles = positions[:, None] * inv_freq.float()[None, :]  # no autocast here
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()

    def forward(self, ids: Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> Tensor:
        """Logits ``(N, T, V)`` of ``ids`` ``(N, T)`` following the ``cache``'s positions
        (which it extends); ``last_only``: of the last position only (generation needs no
        more: the LM head over a long prompt is a large part of a prefill)."""
        start = cache.length if cache is not None else 0
        if start + ids.shape[1] > self.positions:
            raise ValueError(f"{start + ids.shape[1]} positions exceed the model's "
                             f"{self.positions}")
        x = self.embed_tokens(ids)
        rope = self._rope(start, ids.shape[1])
        for layer in self.layers:
            x = layer(x, rope, cache)
        if cache is not None:
            cache.advance(ids.shape[1])
        if last_only:
            x = x[:, -1:]
        return self.lm_head(self.norm(x))


def _initial_value(name: str, shape: tuple[int, ...], dtype: torch.dtype,
                   device: torch.device) -> Tensor:
    """Parameter ``name``'s whole starting value, from a generator of its own on ``device``."""
    generator = torch.Generator(device=device)
    generator.manual_seed((torch.initial_seed() * 1_000_003 + zlib.crc32(name.encode()))
                          % 2**63)
    value = torch.empty(shape, dtype=dtype, device=device)
    if name.endswith("embed_tokens.weight"):
        return value.normal_(0.0, 0.02, generator=generator)
    if name.endswith("norm.weight"):
        return value.fill_(1.0)
    bound = 1.0 / math.sqrt(shape[1])
    return value.uniform_(-bound, bound, generator=generator)


#: Name parts that wrappers add (``torch.compile``'s, activation checkpointing's): a parameter
#: is the same parameter, with the same starting value, in a compiled or checkpointed block.
WRAPPER_PARTS = ("_orig_mod.", "_checkpoint_wrapped_module.")


def _unwrapped(name: str) -> str:
    for part in WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


def _local(param: Tensor) -> Tensor:
    """The part of ``param`` this rank holds (all of it when it is not a DTensor)."""
    from torch.distributed.tensor import DTensor

    return param.to_local() if isinstance(param, DTensor) else param


def _placed_like(whole: Tensor, param: Tensor) -> Tensor:
    """``whole`` laid out as ``param`` is (a DTensor: this rank's shard of it, cut locally:
    every rank drew the same whole, so nothing is sent)."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(param, DTensor):
        return whole
    return distribute_tensor(whole, param.device_mesh, param.placements, src_data_rank=None)


def _check(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The transformer checks, RoPE's (an even head size, a positive base, a scaling factor
    of at least 1); ``positions`` is the longest context and caps the default length."""
    check_transformer(settings)
    head_dim = settings["hidden"] // settings["heads"]
    if head_dim % 2:
        raise ValueError(f"settings 'hidden' / 'heads' ({head_dim}) must be even: rotary "
                         "embeddings turn pairs of dimensions")
    if settings["theta"] <= 0:
        raise ValueError(f"setting 'theta' must be > 0, got {settings['theta']}")
    if settings["rope_factor"] < 1:
        raise ValueError(f"setting 'rope_factor' must be >= 1 (1: plain RoPE), got "
                         f"{settings['rope_factor']}")
    return sequence_fields(settings, LLAMA_SEQ_LEN)


#: The Llama 3 sizes, one row each (torchtitan's flavours): the title and alias it registers and
#: the settings it gives :func:`llama3` (the rest are the builder's defaults: the vocabulary,
#: the 131072-token context, RoPE base 500000). 1B: 1.24 B parameters, 3B: 3.21 B (both
#: Llama 3.2: tied embeddings, RoPE factor 32); 8B: 8.03 B, 70B: 70.55 B (Llama 3.1: an LM head
#: of their own, factor 8). A literal of constants: ``validate`` reads it without torch.
LLAMA_SIZES: dict[str, dict[str, Any]] = {
    "llama3_1b": {"title": "Llama 3.2 1B", "aliases": ("llama3_2_1b",), "settings": {
        "hidden": 2048, "layers": 16, "heads": 32, "kv_heads": 8, "intermediate": 8192,
        "rope_factor": 32.0, "tied": True}},
    "llama3_3b": {"title": "Llama 3.2 3B", "aliases": ("llama3_2_3b",), "settings": {
        "hidden": 3072, "layers": 28, "heads": 24, "kv_heads": 8, "intermediate": 8192,
        "rope_factor": 32.0, "tied": True}},
    "llama3_8b": {"title": "Llama 3.1 8B", "aliases": ("llama3_1_8b",), "settings": {
        "hidden": 4096, "layers": 32, "heads": 32, "kv_heads": 8, "intermediate": 14336,
        "rope_factor": 8.0, "tied": False}},
    "llama3_70b": {"title": "Llama 3.1 70B", "aliases": ("llama3_1_70b",), "settings": {
        "hidden": 8192, "layers": 80, "heads": 64, "kv_heads": 8, "intermediate": 28672,
        "rope_factor": 8.0, "tied": False}},
}

#: What every Llama size registers alike. A literal of constants, as the table.
_LLAMA: dict[str, Any] = {
    "optimizer": "adamw", "tensor_parallel": True, "input_shape": (LLAMA_SEQ_LEN,),
    "num_classes": LLAMA_VOCAB, "min_input_shape": (8,), "inputs": "tokens", "causal": True,
    "max_seq_len": LLAMA_CONTEXT,
    "tiny": {"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2,
             "intermediate": 64}}


def llama3(*, num_classes: int = LLAMA_VOCAB, positions: int = LLAMA_CONTEXT, hidden: int,
           layers: int, heads: int, kv_heads: int, intermediate: int, theta: float = 500000.0,
           rope_factor: float, tied: bool, **kw: Any) -> nn.Module:
    """A Llama 3 of the given shape (each size of :data:`LLAMA_SIZES` is this builder with its
    row as defaults; ``num_classes`` is the vocabulary, ``positions`` the longest context)."""
    return Llama(num_classes=num_classes, positions=positions, hidden=hidden, layers=layers,
                 heads=heads, kv_heads=kv_heads, intermediate=intermediate, theta=theta,
                 rope_factor=rope_factor, tied=tied, **kw)


register_sizes(llama3, LLAMA_SIZES, check=_check, **_LLAMA)


def flops_per_token(model: nn.Module, seq_len: int, training: bool = True) -> int:
    """The analytic FLOPs of one token, as torchtitan counts them: 2 per multiply-add of every
    matrix product with a weight (the LM head's included, tied or not; the embedding lookup is
    no product), plus attention's two products over ``seq_len`` keys (counted in full, causal
    or not, as torch's FLOP counter counts them); forward and backward (3x the forward) when
    ``training``. Works on a model built on the meta device."""
    if not isinstance(model, Llama):
        raise TypeError("flops_per_token needs a Llama model")
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    attentions = [m for m in model.modules() if isinstance(m, Attention)]
    attention = sum(4 * a.q_proj.out_features * seq_len for a in attentions)  # heads x head size
    forward = 2 * linear + attention
    return 3 * forward if training else forward
