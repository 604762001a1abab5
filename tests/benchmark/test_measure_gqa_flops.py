"""Grouped-query attention (llama: fewer key/value heads than query heads) is counted on every
torch the benchmark supports, with the benchmark's own attention formulas, as torch 2.13
counts it; torch up to 2.11 rejected it in its own formulas and the run failed.

The fixture :func:`torch_2_11_formulas` stands for torch 2.11.0's ``sdpa_flop_count`` and
``sdpa_backward_flop_count`` (``torch/utils/flop_counter.py``). Their behaviour, as read from
the 2.11.0 wheel by the GPU review (``shared/spec/gpu-review.md``, D1): both require as many
key/value heads as query heads and raise ``AssertionError("sdpa_flop_count: query/key/value
shapes are incompatible")`` otherwise; 2.12 accepted ``h_q % h_kv == 0`` (pytorch PRs
#177169/#177188). The same equality stands in every earlier release (``assert b == _b2 == _b3
and h == _h2 == _h3 and d_q == _d2 and s_k == _s3``, e.g. pytorch's source at commit 0140b62d,
read through the code index). The 2.11 text itself could not be fetched here; the fixture
reproduces its checks and arithmetic, not its wording beyond the message.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from pytorch_benchmarks.measure.flops import (
    SDPA_BACKWARD,
    SDPA_FORWARD,
    attention_formulas,
    count_step_flops,
)
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.run.phases import InferRunner, TrainRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from torch.utils import flop_counter

#: Query heads and key/value heads of a grouped-query attention (llama3_1b: 32 and 8).
Q_HEADS, KV_HEADS = 8, 2


def _bmm(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return 2 * a[0] * a[1] * a[2] * b[2]


def _sdpa_flop_count_2_11(query_shape: Any, key_shape: Any, value_shape: Any) -> int:
    """torch 2.11.0's ``sdpa_flop_count``: equal heads required."""
    b, h, s_q, d_q = query_shape
    _b2, _h2, s_k, _d2 = key_shape
    _b3, _h3, _s3, d_v = value_shape
    if not (b == _b2 == _b3 and h == _h2 == _h3 and d_q == _d2 and s_k == _s3):
        raise AssertionError("sdpa_flop_count: query/key/value shapes are incompatible")
    return _bmm((b * h, s_q, d_q), (b * h, d_q, s_k)) + _bmm((b * h, s_q, s_k), (b * h, s_k, d_v))


def _sdpa_backward_flop_count_2_11(grad_out_shape: Any, query_shape: Any, key_shape: Any,
                                   value_shape: Any) -> int:
    """torch 2.11.0's ``sdpa_backward_flop_count``: equal heads required; recomputes Q K^T."""
    b, h, s_q, d_q = query_shape
    _b2, _h2, s_k, _d2 = key_shape
    _b3, _h3, _s3, d_v = value_shape
    _b4, _h4, _s4, _d4 = grad_out_shape
    if not (b == _b2 == _b3 == _b4 and h == _h2 == _h3 == _h4 and d_q == _d2
            and d_v == _d4 and s_k == _s3 and s_q == _s4):
        raise AssertionError("sdpa_flop_count: query/key/value shapes are incompatible")
    return (_bmm((b * h, s_q, d_q), (b * h, d_q, s_k))
            + _bmm((b * h, s_q, d_v), (b * h, d_v, s_k)) + _bmm((b * h, s_k, s_q), (b * h, s_q, d_v))
            + _bmm((b * h, s_q, s_k), (b * h, s_k, d_q)) + _bmm((b * h, d_q, s_q), (b * h, s_q, s_k)))


@pytest.fixture
def torch_2_11_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's attention formulas as torch 2.11 has them (its registered ``sdpa_flop`` and
    ``sdpa_backward_flop`` call these module functions)."""
    monkeypatch.setattr(flop_counter, "sdpa_flop_count", _sdpa_flop_count_2_11)
    monkeypatch.setattr(flop_counter, "sdpa_backward_flop_count", _sdpa_backward_flop_count_2_11)


def _tiny_llama() -> torch.nn.Module:
    info = get_model_info("llama3_1b")
    torch.manual_seed(0)
    return create_model("llama3_1b", {**info.tiny, "heads": Q_HEADS, "kv_heads": KV_HEADS})


def _tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(0))
    return ids, ids


def _count(phase: str) -> int:
    setup = DeviceSetup(torch.device("cpu"))
    if phase == "inference":
        runner: Any = InferRunner(_tiny_llama(), _tokens, setup)
        with runner.context():
            return count_step_flops(runner.step)
    return count_step_flops(TrainRunner(_tiny_llama(), _tokens, setup).step)


@pytest.mark.parametrize("phase", ["inference", "training"])
def test_a_gqa_model_is_counted_with_torch_2_11s_formulas_as_torch_2_13_counts_it(
        phase: str, request: pytest.FixtureRequest) -> None:
    """The CPU's fused kernel takes llama's un-expanded key/value heads (as the GPU's flash
    and cuDNN kernels do in float16/bfloat16): with torch 2.11's formulas the count failed."""
    expected = _count(phase)  # torch 2.13's own formulas
    request.getfixturevalue("torch_2_11_formulas")
    with pytest.raises(AssertionError, match="incompatible"):  # the fixture is 2.11's
        flop_counter.sdpa_flop_count((1, Q_HEADS, 4, 8), (1, KV_HEADS, 4, 8), (1, KV_HEADS, 4, 8))
    assert _count(phase) == expected > 0


def _torch_sdpa_ops(formula_name: str) -> list[Any]:
    """The fused attention ops torch's counter registers a formula named ``formula_name`` for
    (``sdpa_flop``: the forwards, ``sdpa_backward_flop``: the backwards)."""
    return [op for op, formula in flop_counter.flop_registry.items()
            if getattr(formula, "__name__", "") == formula_name]


def test_every_fused_attention_kernel_torch_counts_has_the_benchmarks_formula() -> None:
    """flash, memory-efficient and cuDNN (the GPU's), forward and backward: none is left to
    torch's own formula (which rejects GQA up to torch 2.11)."""
    mapping = attention_formulas()
    torch_ops = _torch_sdpa_ops("sdpa_flop") + _torch_sdpa_ops("sdpa_backward_flop")
    assert len(torch_ops) == 6
    assert [op for op in torch_ops if op not in mapping] == []


@pytest.mark.parametrize("names, leading", [(SDPA_FORWARD, ["query", "key", "value"]),
                                             (SDPA_BACKWARD, ["query", "key", "value"])])
def test_every_mapped_kernel_takes_query_key_value_where_the_formula_reads_them(
        names: tuple[str, ...], leading: list[str]) -> None:
    """The formulas read their arguments by position: the schemas must put them there."""
    aten = torch.ops.aten
    for name in names:
        if not hasattr(aten, name):
            continue
        arguments = [a.name for a in getattr(aten, name).default._schema.arguments]
        offset = 1 if name.endswith("_backward") else 0  # after grad_out
        assert arguments[offset:offset + 3] == leading, name


SHAPES = [pytest.param((2, Q_HEADS, 16, 8), (2, KV_HEADS, 24, 8), (2, KV_HEADS, 24, 4), id="gqa"),
          pytest.param((2, 4, 16, 8), (2, 4, 16, 8), (2, 4, 16, 8), id="equal-heads"),
          pytest.param((1, 8, 1, 16), (1, 1, 40, 16), (1, 1, 40, 16), id="mqa-decode")]


@pytest.mark.parametrize("query, key, value", SHAPES)
def test_the_formulas_count_what_torch_2_13_counts(query: tuple[int, ...], key: tuple[int, ...],
                                                   value: tuple[int, ...]) -> None:
    """Forward: torch 2.13's ``sdpa_flop_count``; backward: its ``sdpa_backward_flop_count``
    less the recomputed Q K^T (the module's convention); for each of the GPU's kernels."""
    torch_forward = flop_counter.sdpa_flop_count(query, key, value)
    b, h, s_q, d = query
    recomputed = 2 * b * h * s_q * d * key[2]
    grad_out = (*query[:3], value[3])
    torch_backward = flop_counter.sdpa_backward_flop_count(grad_out, query, key, value) - recomputed
    mapping: dict[Any, Callable[..., int]] = attention_formulas()
    for op in _torch_sdpa_ops("sdpa_flop"):
        assert mapping[op](query, key, value) == torch_forward, op
    for op in _torch_sdpa_ops("sdpa_backward_flop"):
        assert mapping[op](grad_out, query, key, value) == torch_backward == 2 * torch_forward, op


def test_shapes_that_do_not_go_together_are_refused_by_the_formula() -> None:
    """A count that cannot be made raises (the run then states MFU null with the reason)."""
    forward = attention_formulas()[torch.ops.aten._scaled_dot_product_flash_attention]
    with pytest.raises(ValueError, match="do not go together"):
        forward((2, 6, 16, 8), (2, 4, 16, 8), (2, 4, 16, 8))
