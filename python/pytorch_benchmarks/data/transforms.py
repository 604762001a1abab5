"""Image augmentation for training-style input pipelines, written with PIL and torch.

Responsibility: decoded PIL image -> augmented image (random resized crop to the model's
input size; a horizontal flip decided here and applied by the batch copy), and the device-side
normalisation of uint8 batches (:class:`DeviceBatch`: uint8 batches are 4x cheaper to move
than float32, and a GPU normalises in microseconds). Randomness comes from :mod:`random`,
which DataLoader seeds in each worker process.
"""
from __future__ import annotations

import math
import random
from typing import Protocol

import torch
from PIL import Image

from pytorch_benchmarks.data.batching import Crop

#: ImageNet mean and standard deviation, in 0..255 pixel units.
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

Box = tuple[int, int, int, int]


class RandomSource(Protocol):
    """What the crop needs of a random generator (the :mod:`random` module or a ``Random``)."""

    def uniform(self, a: float, b: float) -> float: ...
    def randint(self, a: int, b: int) -> int: ...
    def random(self) -> float: ...


def random_resized_crop_box(width: int, height: int, rng: RandomSource,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Box:
    """A crop box ``(left, top, right, bottom)`` of random area and aspect ratio.

    The Inception-style crop that torchvision's ``RandomResizedCrop`` makes: ten tries at a
    random area fraction in ``scale`` and log-uniform aspect ratio in ``ratio``, then a centre
    crop clamped to ``ratio`` as the fallback.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            return left, top, left + w, top + h
    return _center_box(width, height, ratio)


def _center_box(width: int, height: int, ratio: tuple[float, float]) -> Box:
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class TrainTransform:
    """Random resized crop to ``(height, width)`` in PIL, and a coin toss for a mirror image.

    Returns a :class:`~pytorch_benchmarks.data.batching.Crop`; the mirroring itself is done
    while the pixels are copied into the batch, where it costs nothing.
    """

    def __init__(self, height: int, width: int, channels: int = 3) -> None:
        self.size = (width, height)            # PIL sizes are (width, height)
        self.mode = "L" if channels == 1 else "RGB"

    def __call__(self, image: Image.Image) -> Crop:
        rng: RandomSource = random  # the module RNG, which DataLoader seeds per worker
        if image.mode != self.mode:
            image = image.convert(self.mode)
        box = random_resized_crop_box(image.width, image.height, rng)
        # One resample call crops and scales (PIL reads only the box).
        image = image.resize(self.size, Image.Resampling.BILINEAR, box=box)
        return Crop(image, rng.random() < 0.5)


class DeviceBatch:
    """Moves an ``NHWC`` uint8 batch to the device and normalises it to ``NCHW`` float32.

    The batch may carry a pad channel (RGBX); only the model's ``channels`` are kept.

    Mean and std live on the device (made once: a per-batch host-to-device copy of them would
    synchronise the GPU).
    """

    def __init__(self, device: torch.device, channels: int,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        mean, std = (MEAN, STD) if channels == 3 else ((127.5,) * channels, (127.5,) * channels)
        self.device = device
        self.channels = channels
        self.memory_format = memory_format
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.inv_std = (1.0 / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Return the normalised ``NCHW`` float32 batch on the device (RGBX: X dropped)."""
        x = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2)[:, :self.channels]
        x = x.to(torch.float32, memory_format=self.memory_format)
        return x.sub_(self.mean).mul_(self.inv_std)
