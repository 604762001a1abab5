"""OverFeat (Sermanet et al., 2013), the "fast" model as in DLBS and tf_cnn_benchmarks:
five convolutions (96-256-512-1024-1024) and three fully connected layers on 3x231x231.

An adaptive 6x6 pool (a no-op at the benchmark shape) lets tests use smaller images.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from pytorch_benchmarks.models._zoo.registry import register_model


def _features() -> nn.Sequential:
    """Layers 1-5: convolutions with ReLU, 2x2 max pools after layers 1, 2 and 5."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        nn.Conv2d(96, 256, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        nn.Conv2d(256, 512, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
    )  # fmt: skip


class OverFeat(nn.Module):
    """Features, adaptive 6x6 pool, layers 6-8 (3072-4096-classes) with dropout."""

    def __init__(self, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = _features()
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Linear(1024 * 6 * 6, 3072),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(3072, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model(
    title="OverFeat", input_shape=(3, 231, 231), num_classes=1000, min_input_shape=(3, 71, 71)
)
def overfeat(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """OverFeat "fast" model; 145.9 M parameters."""
    return OverFeat(num_classes=num_classes, **kw)
