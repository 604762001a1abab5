"""ResNet family (He et al., 2015): ``resnet18/34/50/101/152`` and the deeper ``resnet200``
(bottleneck units 3-24-36-3) and ``resnet269`` (3-30-48-8) that DLBS benchmarks.

The layout is torchvision's "v1.5" (the stride sits on the 3x3 convolution of a bottleneck, as in
DLBS and MXNet); a projection shortcut only where the shape changes. Global average pooling is
adaptive, so the nets accept any input from 32x32 up; the benchmark shape is 3x224x224.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from pytorch_benchmarks.models._zoo.registry import register_model


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """A bias-free convolution ("same" padding) followed by batch normalisation."""
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(cout)]


class Residual(nn.Module):
    """``relu(body(x) + shortcut(x))``: the unit every ResNet is made of."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _basic_body(cin: int, width: int, stride: int) -> nn.Sequential:
    """Two 3x3 convolutions (ResNet-18/34); ``width`` output channels."""
    return nn.Sequential(
        *_conv_bn(cin, width, 3, stride), nn.ReLU(inplace=True), *_conv_bn(width, width, 3)
    )


def _bottleneck_body(cin: int, width: int, stride: int) -> nn.Sequential:
    """1x1 reduce, 3x3 (strided), 1x1 expand to ``4 * width`` channels (ResNet-50 and up)."""
    return nn.Sequential(
        *_conv_bn(cin, width, 1),
        nn.ReLU(inplace=True),
        *_conv_bn(width, width, 3, stride),
        nn.ReLU(inplace=True),
        *_conv_bn(width, 4 * width, 1),
    )


def _unit(cin: int, width: int, stride: int, bottleneck: bool) -> tuple[Residual, int]:
    """One residual unit and its number of output channels."""
    cout = 4 * width if bottleneck else width
    body = (_bottleneck_body if bottleneck else _basic_body)(cin, width, stride)
    if stride == 1 and cin == cout:
        return Residual(body, nn.Identity()), cout
    return Residual(body, nn.Sequential(*_conv_bn(cin, cout, 1, stride))), cout


def _stages(units: tuple[int, ...], bottleneck: bool) -> tuple[nn.Sequential, int]:
    """The four residual stages (widths 64-128-256-512) and the final channel count."""
    layers: list[nn.Module] = []
    cin = 64
    for index, (count, width) in enumerate(zip(units, (64, 128, 256, 512))):
        for position in range(count):
            stride = 2 if index > 0 and position == 0 else 1
            unit, cin = _unit(cin, width, stride, bottleneck)
            layers.append(unit)
    return nn.Sequential(*layers), cin


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), residual stages, global pool, classifier."""

    def __init__(self, units: tuple[int, ...], bottleneck: bool, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(3, 64, 7, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, padding=1)
        )
        self.stages, channels = _stages(units, bottleneck)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.stages(self.stem(x)))
        return self.fc(x.flatten(1))


_INPUT, _MIN_INPUT = (3, 224, 224), (3, 32, 32)


@register_model(
    title="ResNet-18",
    aliases=("resnet_18",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet18(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-18: basic units 2-2-2-2; 11.7 M parameters."""
    return ResNet((2, 2, 2, 2), bottleneck=False, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-34",
    aliases=("resnet_34",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet34(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-34: basic units 3-4-6-3; 21.8 M parameters."""
    return ResNet((3, 4, 6, 3), bottleneck=False, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-50",
    aliases=("resnet_50",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet50(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-50: bottleneck units 3-4-6-3; 25.6 M parameters."""
    return ResNet((3, 4, 6, 3), bottleneck=True, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-101",
    aliases=("resnet_101",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet101(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-101: bottleneck units 3-4-23-3; 44.5 M parameters."""
    return ResNet((3, 4, 23, 3), bottleneck=True, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-152",
    aliases=("resnet_152",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet152(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-152: bottleneck units 3-8-36-3; 60.2 M parameters."""
    return ResNet((3, 8, 36, 3), bottleneck=True, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-200",
    aliases=("resnet_200",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet200(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-200: bottleneck units 3-24-36-3; 64.7 M parameters."""
    return ResNet((3, 24, 36, 3), bottleneck=True, num_classes=num_classes, **kw)


@register_model(
    title="ResNet-269",
    aliases=("resnet_269",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def resnet269(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """ResNet-269: bottleneck units 3-30-48-8; 102 M parameters."""
    return ResNet((3, 30, 48, 8), bottleneck=True, num_classes=num_classes, **kw)
