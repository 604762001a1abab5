"""The multilayer perceptron shared by the fully connected models (acoustic_model, deep_mnist,
sensor_net). Registers nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(in_features: int, hidden: Sequence[int], num_classes: int) -> nn.Sequential:
    """``Flatten``, then ``Linear + ReLU`` per hidden width, then a ``Linear`` classifier.

    The leading ``Flatten`` lets the net take images (e.g. 1x28x28) as well as flat vectors.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)
