"""AlexNet family: ``alexnet`` (Krizhevsky et al., 2012, one tower, with LRN) and
``alexnet_owt`` ("one weird trick", Krizhevsky 2014; the torchvision variant).

Both take DLBS's 3x227x227 input (conv1 without padding) and end in an adaptive 6x6 pool, a
no-op at the benchmark shape that lets tests use smaller images.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from pytorch_benchmarks.layers.lrn import LocalResponseNorm
from pytorch_benchmarks.models._zoo.registry import register_model


def _classifier(num_classes: int, dropout: float) -> nn.Sequential:
    """The three fully connected layers shared by both variants (6x6x256 -> classes)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    """A convolution followed by an in-place ReLU."""
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding), nn.ReLU(inplace=True)]


class AlexNet(nn.Module):
    """Feature extractor + adaptive 6x6 pool + classifier."""

    def __init__(self, features: nn.Sequential, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(num_classes, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _original_features() -> nn.Sequential:
    """Conv layers of the paper's AlexNet (96-256-384-384-256 filters, LRN after conv1/2)."""
    return nn.Sequential(
        *_conv(3, 96, 11, stride=4), LocalResponseNorm(), nn.MaxPool2d(3, 2),
        *_conv(96, 256, 5, padding=2), LocalResponseNorm(), nn.MaxPool2d(3, 2),
        *_conv(256, 384, 3, padding=1),
        *_conv(384, 384, 3, padding=1),
        *_conv(384, 256, 3, padding=1), nn.MaxPool2d(3, 2),
    )  # fmt: skip


def _owt_features() -> nn.Sequential:
    """Conv layers of the "one weird trick" AlexNet (64-192-384-256-256 filters, no LRN)."""
    return nn.Sequential(
        *_conv(3, 64, 11, stride=4), nn.MaxPool2d(3, 2),
        *_conv(64, 192, 5, padding=2), nn.MaxPool2d(3, 2),
        *_conv(192, 384, 3, padding=1),
        *_conv(384, 256, 3, padding=1),
        *_conv(256, 256, 3, padding=1), nn.MaxPool2d(3, 2),
    )  # fmt: skip


@register_model(
    title="AlexNet", input_shape=(3, 227, 227), num_classes=1000, min_input_shape=(3, 67, 67)
)
def alexnet(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """AlexNet as in the paper (single tower, LRN); 62.4 M parameters."""
    return AlexNet(_original_features(), num_classes=num_classes, **kw)


@register_model(
    title="AlexNet OWT", input_shape=(3, 227, 227), num_classes=1000, min_input_shape=(3, 67, 67)
)
def alexnet_owt(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """AlexNet "one weird trick" (torchvision's variant); 61.1 M parameters."""
    return AlexNet(_owt_features(), num_classes=num_classes, **kw)
