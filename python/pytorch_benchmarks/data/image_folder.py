"""A class-per-folder image dataset (torchvision's ImageFolder layout, without torchvision).

``root/<class>/<image>``: classes are the sorted sub-folder names, labels their indices.
Items are ``(PIL image, label)`` after the transform. Decoding is PIL's.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from pytorch_benchmarks.data.batching import LazyBatchMixin

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

Transform = Callable[[Image.Image], Any]


def find_images(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Return the class names and ``(path, label)`` samples under ``root`` (sorted)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder '{root}' does not exist")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    samples: list[tuple[str, int]] = []
    for label, name in enumerate(classes):
        for folder, _dirs, files in sorted(os.walk(os.path.join(root, name))):
            samples.extend((os.path.join(folder, f), label) for f in sorted(files)
                           if f.lower().endswith(IMAGE_EXTENSIONS))
    if not samples:
        raise FileNotFoundError(f"no images under '{root}': expected root/<class>/<image> with "
                                f"extensions {', '.join(IMAGE_EXTENSIONS)}")
    return classes, samples


class ImageFolderDataset(LazyBatchMixin, Dataset):
    """Images in class folders, decoded with PIL and passed through ``transform``."""

    def __init__(self, root: str, transform: Transform) -> None:
        self.root = root
        self.classes, self.samples = find_images(root)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        with Image.open(path) as image:
            return self.transform(image), label
