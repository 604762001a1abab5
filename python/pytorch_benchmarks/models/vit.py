"""Vision Transformer (Dosovitskiy et al., 2020): ``vit_b16``, ViT-Base with 16x16 patches.

timm's ``vit_base_patch16_224`` layout: a strided convolution cuts the patches, a class token
and learned position embeddings are added, pre-norm encoder blocks (attention over
``scaled_dot_product_attention``, GELU MLP), a final LayerNorm and a linear head on the class
token. The position embeddings are resized (bicubic) when the image is not 224 px, as timm's
``dynamic_img_size`` does, so the net accepts any image from 32x32 up; at 224 px that is a
no-op and the net is exactly the published one (86.6 M parameters).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytorch_benchmarks.layers.attention import attend, merge_heads, split_heads
from pytorch_benchmarks.models._zoo.registry import register_model
from pytorch_benchmarks.models._zoo.settings import check_transformer


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden, eps=1e-6)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(),
                                 nn.Linear(intermediate, hidden))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        x = x + self.proj(merge_heads(attend(q, k, v, causal=False)))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """Patch embedding, class token, position embeddings, encoder blocks, head."""

    def __init__(self, *, num_classes: int, image_size: int, patch: int, hidden: int,
                 layers: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.patch = patch
        self.grid = image_size // patch
        self.patch_embed = nn.Conv2d(3, hidden, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid**2 + 1, hidden) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(hidden, heads, intermediate)
                                      for _ in range(layers)))
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.head = nn.Linear(hidden, num_classes)

    def _positions(self, height: int, width: int) -> Tensor:
        """The position embeddings for a ``height x width`` patch grid (resized if need be)."""
        if (height, width) == (self.grid, self.grid):
            return self.pos_embed
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        grid = grid.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        positions = self._positions(x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + positions
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


#: The smallest image the benchmark's tests feed a ViT (a 2 x 2 grid of 16 px patches).
MIN_IMAGE = 32


def _check(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The transformer checks and a patch that fits the image; ``image_size`` is also the
    benchmark's default input size."""
    check_transformer(settings)
    size, patch = settings["image_size"], settings["patch"]
    if patch > size:
        raise ValueError(f"setting 'patch' ({patch}) must be at most 'image_size' ({size})")
    smallest = max(patch, min(MIN_IMAGE, size))
    return {"input_shape": (3, size, size), "min_input_shape": (3, smallest, smallest)}


@register_model(
    optimizer="adamw",
    title="ViT-Base/16",
    aliases=("vit_base_patch16_224",),
    input_shape=(3, 224, 224),
    num_classes=1000,
    min_input_shape=(3, MIN_IMAGE, MIN_IMAGE),
    tiny={"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64},
    check=_check,
)
def vit_b16(*, num_classes: int = 1000, image_size: int = 224, patch: int = 16,
            hidden: int = 768, layers: int = 12, heads: int = 12, intermediate: int = 3072,
            **kw: Any) -> nn.Module:
    """ViT-Base/16 at 224 px: 12 layers, width 768, 12 heads, MLP 3072 (``intermediate``);
    86.6 M parameters."""
    return VisionTransformer(num_classes=num_classes, image_size=image_size, patch=patch,
                             hidden=hidden, layers=layers, heads=heads,
                             intermediate=intermediate, **kw)
