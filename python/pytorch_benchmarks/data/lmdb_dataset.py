"""A Caffe LMDB dataset: ``Datum`` records, encoded (JPEG/PNG) or raw (CHW, BGR uint8).

The LMDB environment is opened lazily in the process that reads (each DataLoader worker) and
dropped when the dataset is pickled: one process cannot open an environment twice, and a
process forked while its parent holds the environment open cannot open it at all, so the
constructor closes the handle it used to list the keys.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import lmdb
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from pytorch_benchmarks.data.batching import LazyBatchMixin
from pytorch_benchmarks.data.datum import Datum, decode_datum

Transform = Callable[[Image.Image], Any]


def _open(path: str) -> lmdb.Environment:
    return lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False,
                     max_readers=512, subdir=os.path.isdir(path))


def datum_to_image(datum: Datum) -> Image.Image:
    """Decode a Datum's pixels: encoded bytes through PIL, raw CHW BGR through numpy."""
    if datum.encoded:
        return Image.open(io.BytesIO(datum.data))
    pixels = np.frombuffer(datum.data, dtype=np.uint8)
    expected = datum.channels * datum.height * datum.width
    if pixels.size != expected:
        raise ValueError(f"raw Datum has {pixels.size} bytes, expected {expected} "
                         f"({datum.channels}x{datum.height}x{datum.width})")
    hwc = pixels.reshape(datum.channels, datum.height, datum.width).transpose(1, 2, 0)
    if datum.channels == 1:
        return Image.fromarray(np.ascontiguousarray(hwc[:, :, 0]), mode="L")
    return Image.fromarray(np.ascontiguousarray(hwc[:, :, ::-1]), mode="RGB")  # BGR -> RGB


class LMDBDataset(LazyBatchMixin, Dataset):
    """Caffe Datum records in an LMDB, decoded with PIL/numpy and passed through ``transform``."""

    def __init__(self, path: str, transform: Transform) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"LMDB '{path}' does not exist")
        self.path = path
        self.transform = transform
        env = _open(path)
        try:
            with env.begin() as txn:
                self.keys: list[bytes] = list(txn.cursor().iternext(keys=True, values=False))
        finally:
            env.close()
        if not self.keys:
            raise FileNotFoundError(f"LMDB '{path}' holds no records")
        self._env: lmdb.Environment | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.keys)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_env"] = None          # each process opens its own handle
        return state

    def close(self) -> None:
        """Close this process's handle (before forking workers from this process)."""
        if self._env is not None and self._pid == os.getpid():
            self._env.close()
        self._env = None

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if self._env is None or self._pid != os.getpid():  # unpickled, or forked
            self._env, self._pid = _open(self.path), os.getpid()
        with self._env.begin() as txn:
            record = txn.get(self.keys[index])
        if record is None:
            raise KeyError(f"LMDB '{self.path}' lost record {self.keys[index]!r}")
        datum = decode_datum(record)
        with datum_to_image(datum) as image:
            return self.transform(image), datum.label
