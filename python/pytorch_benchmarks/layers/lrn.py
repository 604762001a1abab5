"""Local response normalisation with Caffe's parameters, shared by AlexNet and GoogLeNet.
Registers nothing itself.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_REDUCED = (torch.float16, torch.bfloat16)


class LocalResponseNorm(nn.LocalResponseNorm):
    """``nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)`` that also runs in half/bfloat16 on
    CPU, where PyTorch lacks the kernel (it computes in float32 there and casts back)."""

    def __init__(self) -> None:
        super().__init__(size=5, alpha=1e-4, beta=0.75, k=2.0)

    def forward(self, input: Tensor) -> Tensor:
        if input.device.type == "cpu" and input.dtype in _REDUCED:
            return super().forward(input.float()).to(input.dtype)
        return super().forward(input)
