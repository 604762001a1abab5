"""VGG family (Simonyan & Zisserman, 2014): ``vgg11/13/16/19`` (configurations A, B, D, E,
without batch normalisation, as DLBS).

An adaptive 7x7 pool before the classifier (a no-op at the 3x224x224 benchmark shape) lets
tests use 32x32 images.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from pytorch_benchmarks.models._zoo.registry import register_model

_WIDTHS = (64, 128, 256, 512, 512)


def _features(convs_per_stage: tuple[int, ...]) -> nn.Sequential:
    """Five stages of 3x3 convolutions + ReLU, each closed by a 2x2 max pool."""
    layers: list[nn.Module] = []
    cin = 3
    for count, width in zip(convs_per_stage, _WIDTHS):
        for _ in range(count):
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
            cin = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Convolutional features, adaptive 7x7 pool, three fully connected layers."""

    def __init__(
        self, convs_per_stage: tuple[int, ...], num_classes: int, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = _features(convs_per_stage)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


_INPUT, _MIN_INPUT = (3, 224, 224), (3, 32, 32)


@register_model(
    title="VGG-11",
    aliases=("vgg_11",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def vgg11(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """VGG-11 (configuration A); 132.9 M parameters."""
    return VGG((1, 1, 2, 2, 2), num_classes=num_classes, **kw)


@register_model(
    title="VGG-13",
    aliases=("vgg_13",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def vgg13(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """VGG-13 (configuration B); 133.0 M parameters."""
    return VGG((2, 2, 2, 2, 2), num_classes=num_classes, **kw)


@register_model(
    title="VGG-16",
    aliases=("vgg_16",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def vgg16(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """VGG-16 (configuration D); 138.4 M parameters."""
    return VGG((2, 2, 3, 3, 3), num_classes=num_classes, **kw)


@register_model(
    title="VGG-19",
    aliases=("vgg_19",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def vgg19(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """VGG-19 (configuration E); 143.7 M parameters."""
    return VGG((2, 2, 4, 4, 4), num_classes=num_classes, **kw)
