"""DLBS's fully connected acoustic model (speech recognition): a 540-dim feature frame through
five 2048-unit ReLU layers to 8192 senones.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pytorch_benchmarks.layers.mlp import mlp
from pytorch_benchmarks.models._zoo.registry import register_model


@register_model(
    title="Acoustic model",
    input_shape=(540,),
    num_classes=8192,
    aliases=("eng_acoustic_model",),
)
def acoustic_model(*, num_classes: int = 8192, **kw: Any) -> nn.Module:
    """540 -> 5 x 2048 -> 8192; 34.7 M parameters."""
    return mlp(540, (2048,) * 5, num_classes, **kw)
