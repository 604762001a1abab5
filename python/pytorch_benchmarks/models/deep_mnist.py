"""DLBS's DeepMNIST: a deep fully connected net on flattened 28x28 MNIST images (784 inputs,
layers 2500-2000-1500-1000-500, 10 classes), after Ciresan et al., 2010.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pytorch_benchmarks.layers.mlp import mlp
from pytorch_benchmarks.models._zoo.registry import register_model


@register_model(title="DeepMNIST", input_shape=(784,), num_classes=10)
def deep_mnist(*, num_classes: int = 10, **kw: Any) -> nn.Module:
    """784 -> 2500-2000-1500-1000-500 -> 10; 12.0 M parameters."""
    return mlp(784, (2500, 2000, 1500, 1000, 500), num_classes, **kw)
