"""DLBS's SensorNet: a fully connected net for sensor data (784 inputs, three 1024-unit layers,
16 classes).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pytorch_benchmarks.layers.mlp import mlp
from pytorch_benchmarks.models._zoo.registry import register_model


@register_model(title="SensorNet", input_shape=(784,), num_classes=16)
def sensor_net(*, num_classes: int = 16, **kw: Any) -> nn.Module:
    """784 -> 3 x 1024 -> 16; 2.9 M parameters."""
    return mlp(784, (1024,) * 3, num_classes, **kw)
