"""GoogLeNet (Szegedy et al., 2014, "Going deeper with convolutions"), as in DLBS and Caffe's
bvlc_googlenet: true 5x5 branches, biases, local response normalisation, no batch
normalisation, no auxiliary classifiers; 3x224x224 input.

Pools round up (Caffe's ``ceil_mode``) so the feature maps are the paper's 56-28-14-7; the final
pool is adaptive so tests can use 32x32 images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pytorch_benchmarks.layers.lrn import LocalResponseNorm
from pytorch_benchmarks.models._zoo.registry import register_model


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Convolution ("same" padding) + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.ReLU(inplace=True)
    )


class Inception(nn.Module):
    """The inception module: 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max pool->1x1, concatenated."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, proj: int) -> None:
        super().__init__()
        self.branch1 = _conv(cin, c1, 1)
        self.branch3 = nn.Sequential(_conv(cin, c3r, 1), _conv(c3r, c3, 3))
        self.branch5 = nn.Sequential(_conv(cin, c5r, 1), _conv(c5r, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), _conv(cin, proj, 1))
        self.out_channels = c1 + c3 + c5 + proj

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


def _pool() -> nn.MaxPool2d:
    """The 3x3/2 max pool between stages (rounding up, as Caffe)."""
    return nn.MaxPool2d(3, 2, ceil_mode=True)


# (c1, c3r, c3, c5r, c5, proj) of inception modules 3a-3b, 4a-4e, 5a-5b (the paper's table 1).
_STAGES = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)


def _inceptions(cin: int) -> nn.Sequential:
    """The three stages of inception modules, separated by max pools."""
    layers: list[nn.Module] = []
    for index, stage in enumerate(_STAGES):
        if index:
            layers.append(_pool())
        for spec in stage:
            module = Inception(cin, *spec)
            layers.append(module)
            cin = module.out_channels
    return nn.Sequential(*layers)


class GoogLeNet(nn.Module):
    """Stem, nine inception modules, global average pool, dropout, classifier."""

    def __init__(self, num_classes: int, dropout: float = 0.4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            _conv(3, 64, 7, stride=2), _pool(), LocalResponseNorm(),
            _conv(64, 64, 1), _conv(64, 192, 3), LocalResponseNorm(), _pool(),
        )  # fmt: skip
        self.inceptions = _inceptions(192)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.inceptions(self.stem(x)))
        return self.fc(self.dropout(x.flatten(1)))


@register_model(
    title="GoogLeNet", input_shape=(3, 224, 224), num_classes=1000, min_input_shape=(3, 32, 32)
)
def googlenet(*, num_classes: int = 1000, **kw: Any) -> nn.Module:
    """GoogLeNet (Inception v1) without auxiliary classifiers; 7.0 M parameters."""
    return GoogLeNet(num_classes=num_classes, **kw)
