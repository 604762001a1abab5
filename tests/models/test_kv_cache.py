"""Decoder models decode incrementally with a KV cache exactly as a full forward pass computes
(tiny sizes), and the pieces that make that work (masking with a cache offset, RoPE scaling)."""

from __future__ import annotations

import pytest
import torch
from pytorch_benchmarks.layers.attention import KVCache, attend
from pytorch_benchmarks.models import create_model, get_model_info, list_models
from pytorch_benchmarks.models.llama import llama3_frequencies

DECODERS = [name for name in list_models() if get_model_info(name).causal]


def _tiny_decoder(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """A tiny model in eval mode and 2 x 12 random token ids."""
    info = get_model_info(name)
    torch.manual_seed(0)
    model = create_model(name, **info.tiny).eval()
    return model, torch.randint(0, int(info.tiny["num_classes"]), (2, 12))


def test_the_zoo_has_its_decoders() -> None:
    assert {"gpt2", "llama3_1b"} <= set(DECODERS) and "bert_base" not in DECODERS


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("chunks", [
    pytest.param((5, 1, 1, 1, 1, 1, 1, 1), id="prefill-then-one-by-one"),
    pytest.param((4, 3, 5), id="chunks-with-past"),
])
def test_cached_decoding_matches_a_full_forward(name: str, chunks: tuple[int, ...]) -> None:
    model, ids = _tiny_decoder(name)
    with torch.inference_mode():
        full = model(ids)
        cache = model.new_cache(ids.shape[1])
        parts, start = [], 0
        for size in chunks:
            parts.append(model(ids[:, start:start + size], cache))
            start += size
    assert cache.length == ids.shape[1]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", DECODERS)
def test_a_reset_cache_is_reused_without_new_buffers(name: str) -> None:
    model, ids = _tiny_decoder(name)
    cache = model.new_cache(16)
    with torch.inference_mode():
        first = model(ids, cache)
        buffer = cache.keys[0]
        cache.reset()
        again = model(ids, cache)
    assert cache.keys[0] is buffer
    torch.testing.assert_close(again, first)


def test_cache_overflow_is_an_error() -> None:
    cache = KVCache(num_layers=1, max_len=4)
    k = torch.zeros(1, 2, 5, 8)
    with pytest.raises(ValueError, match="KV cache of 4 positions cannot take 5"):
        cache.append(0, k, k)


def test_grouped_query_attention_equals_repeated_heads() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    repeated = attend(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), causal=True)
    torch.testing.assert_close(attend(q, k, v, causal=True), repeated)


def test_llama3_rope_scaling_keeps_high_and_divides_low_frequencies() -> None:
    plain = llama3_frequencies(64, 500000.0, factor=1.0)
    scaled = llama3_frequencies(64, 500000.0)
    assert plain.shape == (32,) and plain[0] == 1.0
    assert scaled[0] == plain[0]  # wavelength 2*pi, far below 8192 / 4: kept
    torch.testing.assert_close(scaled[-1], plain[-1] / 32)  # longest wavelength: divided
    assert bool(((scaled <= plain) & (scaled >= plain / 32)).all())


@pytest.mark.parametrize("name", DECODERS)
def test_last_only_gives_the_last_positions_logits(name: str) -> None:
    model, ids = _tiny_decoder(name)
    with torch.inference_mode():
        full = model(ids)
        last = model(ids, model.new_cache(ids.shape[1]), last_only=True)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-5, rtol=1e-4)
