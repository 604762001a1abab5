"""The contract every registered model keeps, checked over the whole registry.

A newly registered model is covered here without writing a test: it must build, run forward and
backward on its smallest input (batch 2), give ``(batch, num_classes)`` finite outputs
(``(batch, seq_len, vocabulary)`` for token models), give every parameter a gradient, and be
deterministic for a given seed. Models with a ``tiny`` size in the registry (transformers) are
built at that size so the suite stays fast. Full benchmark shapes are
checked for a cheap subset here and for every model under the ``slow`` marker.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_benchmarks.layers.lrn import LocalResponseNorm
from pytorch_benchmarks.models import ModelInfo, create_model, get_model_info, list_models
from torch import Tensor, nn

BATCH = 2
MODELS = list_models()
# Cheap at their benchmark shape (< ~2 GFLOPs per image): checked at full size on every run.
CHEAP_AT_FULL_SIZE = ("alexnet", "alexnet_owt", "googlenet", "resnet18")
# Too big to build for real in a test (1.2-70 B parameters, 5-282 GB in float32): their parameter
# counts are checked on the meta device, the architecture at tiny size (here and in the KV-cache
# tests).
TOO_BIG_TO_BUILD = ("llama3_1b", "llama3_3b", "llama3_8b", "llama3_70b")


def _classes(info: ModelInfo) -> int:
    """The class count (vocabulary of a token model) of the size the tests build."""
    return int(info.tiny.get("num_classes", info.num_classes))


def _sample(info: ModelInfo, shape: tuple[int, ...], batch: int = BATCH) -> Tensor:
    """A random input batch: images/features, or token ids below the vocabulary."""
    if info.inputs == "tokens":
        return torch.randint(0, _classes(info), (batch, *shape))
    return torch.randn(batch, *shape)


def _expected_shape(info: ModelInfo, shape: tuple[int, ...], batch: int = BATCH,
                    classes: int | None = None) -> tuple[int, ...]:
    """``(N, classes)``, or ``(N, T, vocabulary)`` for a token model."""
    classes = _classes(info) if classes is None else classes
    return (batch, *shape, classes) if info.inputs == "tokens" else (batch, classes)


def _seeded_forward(info: ModelInfo, seed: int = 0) -> tuple[nn.Module, Tensor]:
    """Seed, build (tiny where registered), draw a batch at the smallest input shape, run
    forward in training mode."""
    torch.manual_seed(seed)
    model = create_model(info.name, **info.tiny).train()
    return model, model(_sample(info, info.min_input_shape))


@pytest.mark.parametrize("name", MODELS)
def test_model_trains_one_step_deterministically(name: str) -> None:
    info = get_model_info(name)
    model, output = _seeded_forward(info)
    labels = torch.arange(output[..., 0].numel()).reshape(output.shape[:-1]) % _classes(info)
    loss = F.cross_entropy(output.reshape(-1, output.shape[-1]), labels.reshape(-1))
    loss.backward()

    assert output.shape == _expected_shape(info, info.min_input_shape)
    assert torch.isfinite(output).all() and torch.isfinite(loss)
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"{name}: parameters without gradient (unused?): {no_grad[:5]}"

    _, again = _seeded_forward(info)  # weights, inputs and dropout masks all from the seed
    assert torch.equal(output, again), f"{name}: not deterministic for a fixed seed"


@pytest.mark.parametrize("name", MODELS)
def test_model_metadata_is_consistent(name: str) -> None:
    info = get_model_info(name)
    assert info.name == name and info.title and info.num_classes > 0
    assert len(info.min_input_shape) == len(info.input_shape)
    assert info.min_input_shape[:-2] == info.input_shape[:-2] or len(info.input_shape) == 1
    assert all(m <= f for m, f in zip(info.min_input_shape, info.input_shape))
    assert info.builder.__doc__, f"{name}: the builder needs a docstring (shown by --list_models)"


@pytest.mark.parametrize("num_classes", [3, 17])
def test_num_classes_is_honoured(num_classes: int) -> None:
    model = create_model("resnet18", num_classes=num_classes).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, num_classes)


def _pooled_sizes(model: nn.Module) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Hooks recording (input size, output size) of every fixed-size adaptive pool."""
    sizes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    for module in model.modules():
        if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size not in (1, (1, 1)):
            module.register_forward_hook(
                lambda _m, args, out: sizes.append((args[0].shape[-2:], out.shape[-2:]))
            )
    return sizes


def _forward_full_size(name: str) -> None:
    info = get_model_info(name)
    torch.manual_seed(0)
    model = create_model(name).eval()
    pooled = _pooled_sizes(model)
    # A token model's full architecture runs on a short sequence (its length costs time only).
    shape = info.min_input_shape if info.inputs == "tokens" else info.input_shape
    with torch.inference_mode():
        output = model(_sample(info, shape, batch=1))
    assert output.shape == _expected_shape(info, shape, batch=1, classes=info.num_classes)
    assert torch.isfinite(output).all()
    # At the benchmark shape an adaptive pool (there for small test inputs) must be a no-op,
    # so the network computes exactly the published (and DLBS) architecture.
    assert all(before == after for before, after in pooled), f"{name}: {pooled}"


@pytest.mark.parametrize("name", CHEAP_AT_FULL_SIZE)
def test_model_runs_at_benchmark_shape(name: str) -> None:
    _forward_full_size(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(MODELS) - set(CHEAP_AT_FULL_SIZE)
                                         - set(TOO_BIG_TO_BUILD)))
def test_every_model_runs_at_benchmark_shape(name: str) -> None:
    _forward_full_size(name)


def test_local_response_norm_runs_in_bfloat16_on_cpu() -> None:
    # PyTorch has no CPU bfloat16 kernel for LRN; AlexNet and GoogLeNet must still run there.
    x = torch.randn(2, 8, 5, 5)
    expected = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(x)
    output = LocalResponseNorm()(x.bfloat16())
    assert output.dtype == torch.bfloat16
    torch.testing.assert_close(output.float(), expected, atol=0.02, rtol=0.02)


def test_model_runs_under_bfloat16_autocast_on_cpu() -> None:
    info = get_model_info("googlenet")
    model = create_model("googlenet")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.randn(BATCH, *info.min_input_shape))
    output.float().sum().backward()
    assert output.dtype == torch.bfloat16 and torch.isfinite(output).all()
