"""Attention FLOPs count the same on every kernel: the CPU's fused SDPA kernel (which torch's
counter does not know), the math fallback that dropout takes, and the GPU's fused kernels."""
from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pytorch_benchmarks.measure.flops import attention_formulas, count_step_flops
from pytorch_benchmarks.models import create_model
from pytorch_benchmarks.run.phases import InferRunner, TrainRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten

#: A tiny gpt2 at 128 tokens.
SEQ, HIDDEN, LAYERS, HEADS, VOCAB, BATCH = 128, 32, 2, 2, 64, 2


def _gpt2(dropout: float) -> torch.nn.Module:
    return create_model("gpt2", {"num_classes": VOCAB, "positions": SEQ, "hidden": HIDDEN,
                                 "layers": LAYERS, "heads": HEADS, "dropout": dropout})


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
    return ids, ids


def analytic_forward_per_sample() -> int:
    """Per block: QKV (3 d^2), projection (d^2) and MLP (8 d^2) matmuls, 2 T d^2 FLOPs each
    unit, plus attention's Q K^T and P V, 2 x 2 T^2 d (causal or not); then the LM head."""
    matmuls = LAYERS * 2 * SEQ * 12 * HIDDEN**2 + 2 * SEQ * HIDDEN * VOCAB
    attention = LAYERS * 4 * SEQ**2 * HIDDEN
    return matmuls + attention


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("phase", ["inference", "training"])
def test_gpt2_counts_its_attention_whatever_the_kernel(phase: str, dropout: float) -> None:
    """Dropout 0 runs the CPU's fused kernel, 0.1 (in training) the math fallback: both
    count the analytic figure; training is 3x the forward (every matmul's input needs its
    gradient: the embeddings' output does)."""
    setup = DeviceSetup(torch.device("cpu"))
    torch.manual_seed(0)
    if phase == "inference":
        runner: Any = InferRunner(_gpt2(dropout), _source, setup)
        with runner.context():
            flops = count_step_flops(runner.step)
        expected = analytic_forward_per_sample()
    else:
        runner = TrainRunner(_gpt2(dropout), _source, setup)
        flops = count_step_flops(runner.step)
        expected = 3 * analytic_forward_per_sample()
    assert flops == BATCH * expected


def _qkv(requires_grad: bool = False) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return tuple(torch.randn(2, 4, 64, 16, requires_grad=requires_grad) for _ in range(3))


@pytest.mark.parametrize("causal", [False, True])
def test_the_cpu_fused_kernel_is_counted_as_torch_counts_the_gpu_ones(causal: bool) -> None:
    """Forward: torch's sdpa_flop_count, causal not halved (torch's GPU formulas, and the
    math fallback, count the whole score matrix)."""
    q, k, v = _qkv()
    flops = count_step_flops(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    assert flops == sdpa_flop_count(q.shape, k.shape, v.shape) == 4 * 2 * 4 * 64 * 64 * 16


def test_a_tensor_parallel_ranks_attention_is_counted_for_its_group() -> None:
    """Under fsdp_tp a rank's attention runs on its share of the heads (plain tensors) while
    the split matmuls count the group's shapes: the attention counts ``tp`` times, the
    matmuls once."""
    q, k, v = _qkv()
    weight = torch.randn(16, 16)

    def step() -> None:
        F.scaled_dot_product_attention(q, k, v) @ weight

    matmul = 2 * 2 * 4 * 64 * 16 * 16
    attention = sdpa_flop_count(q.shape, k.shape, v.shape)
    assert count_step_flops(step) == attention + matmul
    assert count_step_flops(step, tp=4) == 4 * attention + matmul


@pytest.mark.parametrize("causal", [False, True])
def test_fused_and_math_attention_count_the_same_forward_and_backward(causal: bool) -> None:
    """The fused kernel (no dropout) and the math fallback (dropout) count alike: the
    backward is 2x the forward (no recomputation of Q K^T)."""
    forward = sdpa_flop_count((2, 4, 64, 16), (2, 4, 64, 16), (2, 4, 64, 16))
    def step(dropout: float) -> None:
        q, k, v = _qkv(requires_grad=True)
        F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                       dropout_p=dropout).sum().backward()

    counts = [count_step_flops(functools.partial(step, dropout)) for dropout in (0.0, 0.5)]
    assert counts == [3 * forward, 3 * forward]


def test_cpu_and_gpu_backward_formulas_agree() -> None:
    """The GPU's fused backward kernels get the CPU's formula (2x the forward): a GPU and a
    CPU run count the same training FLOPs. Grouped-query attention (fewer K/V heads) too."""
    registry = FlopCounterMode(display=False, custom_mapping=attention_formulas()).flop_registry
    meta = torch.device("meta")
    for kv_heads in (8, 2):
        q = torch.empty(2, 8, 128, 64, device=meta)
        k = v = torch.empty(2, kv_heads, 256, 64, device=meta)
        out = torch.empty(2, 8, 128, 64, device=meta)
        forward = registry[aten._scaled_dot_product_flash_attention_for_cpu](
            q, k, v, out_val=(out, None))
        assert forward == sdpa_flop_count(q.shape, k.shape, v.shape)
        assert forward == registry[aten._scaled_dot_product_flash_attention](
            q, k, v, out_val=(out, None))  # torch's own GPU formula
        backwards = {name: registry[getattr(aten, name)](out, q, k, v, out_val=(q, k, v))
                     for name in ("_scaled_dot_product_flash_attention_for_cpu_backward",
                                  "_scaled_dot_product_flash_attention_backward",
                                  "_scaled_dot_product_efficient_attention_backward",
                                  "_scaled_dot_product_cudnn_attention_backward")}
        assert set(backwards.values()) == {2 * forward}, backwards
