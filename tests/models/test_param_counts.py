"""Parameter counts (1000 classes unless stated) against the published architectures.

Models are built on the ``meta`` device: no memory, no initialisation, milliseconds each.

References:
- torchvision: https://pytorch.org/vision/stable/models.html (the "Params" column) for
  alexnet (= our alexnet_owt), resnet18-152, vgg11-19 (without BN), inception_v3 (27,161,264 with
  its auxiliary head of 3,326,696, i.e. 23,834,568 without it, as here and in DLBS).
- timm ``inception_v4`` (Szegedy et al., 2016): 42,679,816.
- AlexNet (Krizhevsky et al., 2012) in one tower, without conv groups: 62,378,344.
- GoogLeNet (Szegedy et al., 2014; Caffe bvlc_googlenet without auxiliary classifiers): 6,998,552.
- OverFeat "fast" (Sermanet et al., 2013): 145.9 M; ResNet-200/269 (He et al., 2016; DLBS unit
  counts 3-24-36-3 and 3-30-48-8, torchvision bottleneck): 64.7 M / 102.1 M.
- The fully connected DLBS models: sums of their layer sizes.
"""

from __future__ import annotations

import pytest
import torch
from pytorch_benchmarks.models import create_model, list_models

EXPECTED = {
    "alexnet": 62_378_344,
    "alexnet_owt": 61_100_840,
    "googlenet": 6_998_552,
    "inception3": 23_834_568,
    "inception4": 42_679_816,
    "overfeat": 145_920_872,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet200": 64_673_832,
    "resnet269": 102_073_384,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # 540*2048+2048 + 4*(2048*2048+2048) + 2048*8192+8192
    "acoustic_model": 34_678_784,
    # 784-2500-2000-1500-1000-500-10
    "deep_mnist": 11_972_510,
    # 784-1024-1024-1024-16
    "sensor_net": 2_919_440,
}


def count_parameters(name: str, **kwargs: int) -> int:
    """Number of parameters of a model, built on the meta device."""
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,expected", sorted(EXPECTED.items()))
def test_parameter_count_matches_published(name: str, expected: int) -> None:
    assert count_parameters(name) == expected


def test_dlbs_zoo_is_registered() -> None:
    assert set(EXPECTED) <= set(list_models())


def test_classifier_follows_num_classes() -> None:
    # ResNet-50's classifier is 2048 x classes + classes.
    assert count_parameters("resnet50", num_classes=10) == 25_557_032 - 2049 * 990
