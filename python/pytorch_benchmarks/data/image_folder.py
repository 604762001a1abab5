"""A class-per-folder image dataset (torchvision's ImageFolder layout, without torchvision).

``root/<class>/<image>``: classes are the sorted sub-folder names, labels their indices.
Items are ``(PIL image, label)`` after the transform. Decoding is PIL's, and a file it cannot
decode (truncated, damaged, not an image) is a :class:`DatasetError` naming the file: PIL's
``LOAD_TRUNCATED_IMAGES`` stays off, so a truncated image is never read half grey. Each file is
opened with ``safeio.open_input``: a FIFO, socket or device among the images is refused at
once, naming it, instead of blocking the loader.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageFile
from safeio import UnsafeFileError, open_input
from torch.utils.data import Dataset

from pytorch_benchmarks.data.batching import LazyBatchMixin
from pytorch_benchmarks.data.errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

Transform = Callable[[Image.Image], Any]

#: What PIL raises for a file it cannot decode (its plugins use all of these).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error,
                 Image.DecompressionBombError)


def refuse_truncated_images() -> None:
    """Make PIL raise on a truncated image instead of filling the rest with grey (a setting
    some code sets process-wide; a benchmark must never time half-decoded images)."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False


def decode_error(what: str, err: BaseException) -> DatasetError:
    """The error for an image PIL could not decode: what it was, and PIL's reason."""
    reason = " ".join(str(err).split()) or type(err).__name__
    return DatasetError(f"cannot decode {what}: {reason} (a truncated or damaged file: "
                        "replace it, or remove it from the dataset)")


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
        refuse_truncated_images()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        try:  # never blocks: a FIFO, a socket or a device named *.jpg is refused
            stream = open_input(path)
        except UnsafeFileError as err:
            raise DatasetError(f"cannot decode image '{path}': it {err.strerror}") from None
        except OSError as err:
            raise decode_error(f"image '{path}'", err) from None
        try:
            with stream, Image.open(stream) as image:
                return self.transform(image), label
        except DECODE_ERRORS as err:
            raise decode_error(f"image '{path}'", err) from None
