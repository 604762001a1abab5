"""Building batches of images in worker processes, cheaply.

Responsibility: turn a dataset's ``(image, label)`` items into one ``NHWC`` uint8 batch with
as little work beyond decoding as possible. Each image is copied into the batch as soon as it
is made (:class:`LazyItems`), straight from PIL's memory (:func:`pixel_view`), flipped during
that copy when the augmentation asks, into reused shared-memory buffers (:class:`ImageCollate`).
RGB batches keep PIL's 4-byte pixel layout (RGBX): the device drops the pad byte when it
normalises. Knows nothing of files or models.
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import get_worker_info


class Crop(NamedTuple):
    """An augmented image: the cropped PIL image and whether to mirror it left-right."""

    image: Image.Image
    flip: bool = False


Item = tuple[Crop | Image.Image, int]


class _ArrowArray(ctypes.Structure):
    """The Arrow C data interface's ``ArrowArray`` (what Pillow exports an image as)."""


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p)]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _arrow_view(image: Image.Image) -> tuple[np.ndarray, object] | None:
    """A zero-copy view of an RGB (as RGBX) or L image through Pillow's Arrow export."""
    try:
        _schema, capsule = image.__arrow_c_array__()  # Pillow >= 11.2; one memory block
    except (AttributeError, ValueError):
        return None
    array = _ArrowArray.from_address(_capsule_pointer(capsule, b"arrow_array"))
    if image.mode == "RGB" and array.n_children == 1:
        data, channels = array.children[0].contents, 4   # fixed-size lists of 4 uint8
    elif image.mode == "L" and array.n_buffers == 2:
        data, channels = array, 1
    else:
        return None
    size = image.width * image.height * channels
    if array.offset or data.offset or data.length != size or not data.buffers[1]:
        return None
    pixels = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(data.buffers[1]))
    return pixels.reshape(image.height, image.width, channels), capsule


def pixel_view(image: Image.Image) -> tuple[np.ndarray, object]:
    """``(H, W, C)`` uint8 pixels of ``image`` and the object that keeps them alive.

    RGB and L images are viewed in place (PIL keeps RGB as RGBX, so C is 4); other modes, or
    a Pillow without Arrow export, are copied through numpy (C is 3 for RGB then).
    """
    if image.mode in ("RGB", "L"):
        view = _arrow_view(image)
        if view is not None:
            return view
    array = np.asarray(image)
    return (array[:, :, None] if array.ndim == 2 else array), None


def copy_pixels(dst: np.ndarray, item: Crop | Image.Image) -> None:
    """Copy an image into ``dst`` (``H x W x C`` of the batch), mirrored if it asks."""
    crop = item if isinstance(item, Crop) else Crop(item)
    src, owner = pixel_view(crop.image)
    if not crop.flip:
        dst[...] = src
    elif src.shape[-1] == 4:  # a pixel is one uint32: the mirrored copy is as fast as a copy
        dst.view(np.uint32)[:, :, 0] = src.view(np.uint32)[:, ::-1, 0]
    else:
        dst[...] = src[:, ::-1]
    del owner  # the pixels may be released only now


class LazyItems(Sequence[Item]):
    """The items of a batch of indices, made one by one as they are iterated.

    Returned by a dataset's ``__getitems__`` (DataLoader's batched fetch), so that at most one
    decoded image is alive at a time: keeping a whole batch of them costs fresh memory and
    page faults (~0.1 ms an image here).
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Item:  # type: ignore[override]
        return self.dataset[self.indices[i]]

    def __iter__(self) -> Iterator[Item]:
        return (self.dataset[index] for index in self.indices)


class LazyBatchMixin:
    """Gives a map-style dataset DataLoader's batched ``__getitems__``, lazily."""

    def __getitems__(self, indices: Sequence[int]) -> LazyItems:
        """The items at ``indices``, made as they are iterated."""
        return LazyItems(self, indices)


class ImageCollate:
    """Copies ``(image, label)`` items into an ``NHWC`` uint8 batch and int64 labels.

    Batches are written into a small ring of buffers that each process (worker) reuses, in
    shared memory in a worker. A fresh shared-memory batch per step, as ``default_collate``
    makes, costs ~140 us an image here (allocation, page faults, unmapping): 15% of a JPEG
    decode. Reuse is safe because DataLoader gives a worker at most ``prefetch_factor``
    unfinished tasks: when a worker fills a batch, its batch ``prefetch_factor + 1`` before
    has been handed out and replaced by a later one, so a ring of ``prefetch_factor + 2``
    is never overwritten while in use, provided the consumer drops each batch before it
    fetches the next but one (the runners keep none). Labels stay numpy (tiny; pickled by
    value instead of costing a shared-memory segment).
    """

    def __init__(self, prefetch_factor: int) -> None:
        self.depth = prefetch_factor + 2
        self._ring: list[torch.Tensor] = []
        self._turn = 0

    def _buffer(self, shape: tuple[int, ...]) -> torch.Tensor:
        if self._ring and tuple(self._ring[0].shape) != shape:
            self._ring = []
        if len(self._ring) < self.depth:
            if get_worker_info() is None:
                self._ring.append(torch.empty(shape, dtype=torch.uint8))
            else:
                storage = torch.UntypedStorage._new_shared(int(np.prod(shape)))
                self._ring.append(torch.empty(0, dtype=torch.uint8).set_(storage).view(shape))
            return self._ring[-1]
        buffer = self._ring[self._turn]  # the oldest
        self._turn = (self._turn + 1) % self.depth
        return buffer

    def __call__(self, items: Sequence[Item]) -> tuple[torch.Tensor, np.ndarray]:
        """The batch of ``items``: images ``(N, H, W, C)`` uint8 and labels ``(N,)`` int64.

        ``C`` is 4 for RGB images (RGBX, see :func:`pixel_view`), 1 for L.

        ``items`` may be :class:`LazyItems`: each image is then decoded, copied into the batch
        and freed before the next is decoded.
        """
        count = len(items)
        iterator = iter(items)
        item, label = next(iterator)
        first = pixel_view(item.image if isinstance(item, Crop) else item)[0]
        images = self._buffer((count, *first.shape))
        out, labels = images.numpy(), np.empty(count, dtype=np.int64)
        del first
        for i in range(count):
            if i:
                item, label = next(iterator)
            copy_pixels(out[i], item)
            labels[i] = label
        return images, labels


