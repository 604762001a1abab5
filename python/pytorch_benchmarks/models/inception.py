"""Inception family: ``inception3`` (Szegedy et al., 2015, "Rethinking the Inception
Architecture"; alias ``inception_v3``) and ``inception4`` (Szegedy et al., 2016, "Inception-v4";
alias ``inception_v4``), both on DLBS's 3x299x299 input.

As in DLBS, neither has the auxiliary classifier: Inception-v3 has 23.8 M parameters (27.2 M in
torchvision with its auxiliary head), Inception-v4 42.7 M. Convolutions are bias-free and
followed by batch normalisation. The final pool is adaptive, so tests can use 75x75 images (the
smallest these nets accept).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pytorch_benchmarks.models._zoo.registry import register_model

Size = int | tuple[int, int]
ConvSpec = tuple[int, Size, int, Size]  # (out channels, kernel, stride, padding)


def k1x7(cout: int) -> ConvSpec:
    """A 1x7 convolution keeping the spatial size."""
    return (cout, (1, 7), 1, (0, 3))


def k7x1(cout: int) -> ConvSpec:
    """A 7x1 convolution keeping the spatial size."""
    return (cout, (7, 1), 1, (3, 0))


def k1x3(cout: int) -> ConvSpec:
    """A 1x3 convolution keeping the spatial size."""
    return (cout, (1, 3), 1, (0, 1))


def k3x1(cout: int) -> ConvSpec:
    """A 3x1 convolution keeping the spatial size."""
    return (cout, (3, 1), 1, (1, 0))


class BasicConv(nn.Sequential):
    """Bias-free convolution, batch normalisation (eps 1e-3, as TensorFlow), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: Size, stride: int = 1, padding: Size = 0):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3),
            nn.ReLU(inplace=True),
        )


class Concat(nn.Module):
    """Runs its branches on the same input and concatenates their outputs along channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def chain(cin: int, *convs: ConvSpec) -> nn.Sequential:
    """A sequence of :class:`BasicConv`, each given as ``(cout, kernel, stride, padding)``."""
    layers: list[nn.Module] = []
    for cout, kernel, stride, padding in convs:
        layers.append(BasicConv(cin, cout, kernel, stride, padding))
        cin = cout
    return nn.Sequential(*layers)


def split(cin: int, cout: int) -> Concat:
    """The 1x3 | 3x1 split that widens the last modules of both nets."""
    return Concat(chain(cin, k1x3(cout)), chain(cin, k3x1(cout)))


def avg_pool_branch(cin: int, cout: int) -> nn.Sequential:
    """3x3/1 average pool then a 1x1 projection."""
    return nn.Sequential(nn.AvgPool2d(3, 1, padding=1), BasicConv(cin, cout, 1))


class Inception(nn.Module):
    """Stem, inception modules, global average pool, dropout, classifier."""

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.fc(self.dropout(x.flatten(1)))


# ---- Inception-v3 -----------------------------------------------------------------------


def v3_a(cin: int, pool: int) -> Concat:
    """35x35 module: 1x1 | 5x5 | double 3x3 | pool; 224 + ``pool`` channels."""
    return Concat(
        chain(cin, (64, 1, 1, 0)),
        chain(cin, (48, 1, 1, 0), (64, 5, 1, 2)),
        chain(cin, (64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 1, 1)),
        avg_pool_branch(cin, pool),
    )


def v3_b(cin: int) -> Concat:
    """35 -> 17 reduction; 384 + 96 + ``cin`` channels."""
    return Concat(
        chain(cin, (384, 3, 2, 0)),
        chain(cin, (64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 2, 0)),
        nn.MaxPool2d(3, 2),
    )


def v3_c(cin: int, c7: int) -> Concat:
    """17x17 module with factorised 7x7 convolutions; 768 channels."""
    return Concat(
        chain(cin, (192, 1, 1, 0)),
        chain(cin, (c7, 1, 1, 0), k1x7(c7), k7x1(192)),
        chain(cin, (c7, 1, 1, 0), k7x1(c7), k1x7(c7), k7x1(c7), k1x7(192)),
        avg_pool_branch(cin, 192),
    )


def v3_d(cin: int) -> Concat:
    """17 -> 8 reduction; 320 + 192 + ``cin`` channels."""
    return Concat(
        chain(cin, (192, 1, 1, 0), (320, 3, 2, 0)),
        chain(cin, (192, 1, 1, 0), k1x7(192), k7x1(192), (192, 3, 2, 0)),
        nn.MaxPool2d(3, 2),
    )


def v3_e(cin: int) -> Concat:
    """8x8 module with split 1x3 | 3x1 outputs; 2048 channels."""
    return Concat(
        chain(cin, (320, 1, 1, 0)),
        nn.Sequential(chain(cin, (384, 1, 1, 0)), split(384, 384)),
        nn.Sequential(chain(cin, (448, 1, 1, 0), (384, 3, 1, 1)), split(384, 384)),
        avg_pool_branch(cin, 192),
    )


def v3_features() -> nn.Sequential:
    """Inception-v3 up to the final pool (299 -> 35 -> 17 -> 8; 2048 channels)."""
    stem = chain(3, (32, 3, 2, 0), (32, 3, 1, 0), (64, 3, 1, 1))
    return nn.Sequential(
        stem, nn.MaxPool2d(3, 2), chain(64, (80, 1, 1, 0), (192, 3, 1, 0)), nn.MaxPool2d(3, 2),
        v3_a(192, 32), v3_a(256, 64), v3_a(288, 64), v3_b(288),
        v3_c(768, 128), v3_c(768, 160), v3_c(768, 160), v3_c(768, 192), v3_d(768),
        v3_e(1280), v3_e(2048),
    )  # fmt: skip


# ---- Inception-v4 -----------------------------------------------------------------------


def v4_stem() -> nn.Sequential:
    """299 -> 35, 384 channels (the paper's figure 3)."""
    return nn.Sequential(
        chain(3, (32, 3, 2, 0), (32, 3, 1, 0), (64, 3, 1, 1)),
        Concat(nn.MaxPool2d(3, 2), chain(64, (96, 3, 2, 0))),
        Concat(
            chain(160, (64, 1, 1, 0), (96, 3, 1, 0)),
            chain(160, (64, 1, 1, 0), k1x7(64), k7x1(64), (96, 3, 1, 0)),
        ),
        Concat(chain(192, (192, 3, 2, 0)), nn.MaxPool2d(3, 2)),
    )


def v4_a(cin: int = 384) -> Concat:
    """35x35 module; 384 channels."""
    return Concat(
        chain(cin, (96, 1, 1, 0)),
        chain(cin, (64, 1, 1, 0), (96, 3, 1, 1)),
        chain(cin, (64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 1, 1)),
        avg_pool_branch(cin, 96),
    )


def v4_reduction_a(cin: int = 384) -> Concat:
    """35 -> 17 reduction (k, l, m, n = 192, 224, 256, 384); 1024 channels."""
    return Concat(
        chain(cin, (384, 3, 2, 0)),
        chain(cin, (192, 1, 1, 0), (224, 3, 1, 1), (256, 3, 2, 0)),
        nn.MaxPool2d(3, 2),
    )


def v4_b(cin: int = 1024) -> Concat:
    """17x17 module; 1024 channels."""
    return Concat(
        chain(cin, (384, 1, 1, 0)),
        chain(cin, (192, 1, 1, 0), k1x7(224), k7x1(256)),
        chain(cin, (192, 1, 1, 0), k7x1(192), k1x7(224), k7x1(224), k1x7(256)),
        avg_pool_branch(cin, 128),
    )


def v4_reduction_b(cin: int = 1024) -> Concat:
    """17 -> 8 reduction; 1536 channels."""
    return Concat(
        chain(cin, (192, 1, 1, 0), (192, 3, 2, 0)),
        chain(cin, (256, 1, 1, 0), k1x7(256), k7x1(320), (320, 3, 2, 0)),
        nn.MaxPool2d(3, 2),
    )


def v4_c(cin: int = 1536) -> Concat:
    """8x8 module; 1536 channels."""
    return Concat(
        chain(cin, (256, 1, 1, 0)),
        nn.Sequential(chain(cin, (384, 1, 1, 0)), split(384, 256)),
        nn.Sequential(chain(cin, (384, 1, 1, 0), k3x1(448), k1x3(512)), split(512, 256)),
        avg_pool_branch(cin, 256),
    )


def v4_features() -> nn.Sequential:
    """Inception-v4 up to the final pool: stem, 4 x A, reduction, 7 x B, reduction, 3 x C."""
    return nn.Sequential(
        v4_stem(),
        *(v4_a() for _ in range(4)), v4_reduction_a(),
        *(v4_b() for _ in range(7)), v4_reduction_b(),
        *(v4_c() for _ in range(3)),
    )  # fmt: skip


_INPUT, _MIN_INPUT = (3, 299, 299), (3, 75, 75)  # 75: the smallest these nets take


@register_model(
    title="Inception-v3",
    aliases=("inception_v3",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def inception3(*, num_classes: int = 1000, dropout: float = 0.2, **kw: Any) -> nn.Module:
    """Inception-v3 without the auxiliary classifier; 23.8 M parameters."""
    return Inception(v3_features(), 2048, num_classes=num_classes, dropout=dropout, **kw)


@register_model(
    title="Inception-v4",
    aliases=("inception_v4",),
    input_shape=_INPUT,
    num_classes=1000,
    min_input_shape=_MIN_INPUT,
)
def inception4(*, num_classes: int = 1000, dropout: float = 0.2, **kw: Any) -> nn.Module:
    """Inception-v4; 42.7 M parameters."""
    return Inception(v4_features(), 1536, num_classes=num_classes, dropout=dropout, **kw)
