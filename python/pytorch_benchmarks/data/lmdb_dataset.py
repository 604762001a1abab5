"""A Caffe LMDB dataset: ``Datum`` records, encoded (JPEG/PNG) or raw (CHW, BGR uint8).

The LMDB environment is opened lazily in the process that reads (each DataLoader worker) and
dropped when the dataset is pickled: one process cannot open an environment twice, and a
process forked while its parent holds the environment open cannot open it at all, so the
constructor closes the handle it used to list the keys.

LMDB maps its data file into memory: a page past the end of a truncated file (an interrupted
copy) kills the process with SIGBUS when touched. So the file is checked before every open
(:func:`lmdb_problem`: its size against the last page its meta pages name) and a truncated,
damaged or undecodable one is a :class:`DatasetError` naming the path and the reason. A file
whose pages are damaged (zero-filled by an interrupted copy) makes liblmdb abort: the keys are
listed in a forked child, so that this too is an error naming the file, not a dead benchmark.
"""
from __future__ import annotations

import io
import os
import signal
import struct
from collections.abc import Callable
from typing import Any

import lmdb
import numpy as np
from PIL import Image
from safeio import open_input
from torch.utils.data import Dataset

from pytorch_benchmarks.data.batching import LazyBatchMixin
from pytorch_benchmarks.data.datum import Datum, DatumError, decode_datum
from pytorch_benchmarks.data.errors import DatasetError
from pytorch_benchmarks.data.image_folder import (
    DECODE_ERRORS,
    decode_error,
    refuse_truncated_images,
)

Transform = Callable[[Image.Image], Any]

#: LMDB 0.9's on-disk meta page (64-bit): a 16-byte page header, then ``MDB_meta``: magic,
#: version, address, map size, two ``MDB_db`` of 48 bytes (the first one's ``md_pad`` is the
#: page size), ``mm_last_pg``, ``mm_txnid``. Pages 0 and 1 are meta pages; the newer wins.
META_MAGIC = 0xBEEFC0DE
_META = struct.Struct("<16xII16xI92xQQ")


def data_file(path: str) -> str:
    """The LMDB's data file: ``path/data.mdb`` for a folder, else ``path`` itself."""
    return os.path.join(path, "data.mdb") if os.path.isdir(path) else path


def _meta(stream: Any, offset: int) -> tuple[int, int, int, int] | None:
    """``(magic, page size, last page, txnid)`` of the meta page at ``offset``, or ``None``."""
    stream.seek(offset)
    head = stream.read(_META.size)
    if len(head) < _META.size:
        return None
    magic, _version, psize, last_pg, txnid = _META.unpack(head)
    return (magic, psize, last_pg, txnid) if magic == META_MAGIC else None


def lmdb_problem(path: str) -> str | None:
    """Why the LMDB at ``path`` cannot be mapped safely, or ``None``: its data file must hold
    every page up to the last one its newest meta page names. Plain reads only (no mmap), of a
    regular file only: a FIFO, device or directory ``data.mdb`` is refused without blocking,
    before ``lmdb.open`` could ever see it."""
    name = data_file(path)
    try:
        with open_input(name) as stream:
            size = os.fstat(stream.fileno()).st_size
            first = _meta(stream, 0)
            if first is not None and not 512 <= first[1] <= 1 << 20:
                first = None  # not a page size: a damaged meta page
            second = _meta(stream, first[1]) if first is not None else None
    except OSError as err:
        return f"cannot read LMDB data file '{name}': {err.strerror or err}"
    if first is None:
        return (f"'{name}' is not an LMDB data file ({size} bytes, no valid LMDB meta page): "
                "truncated, damaged or not an LMDB")
    newest = max((m for m in (first, second) if m is not None), key=lambda m: m[3])
    _magic, psize, last_pg, _txnid = newest
    need = (last_pg + 1) * psize
    if size < need:
        return (f"LMDB data file '{name}' is truncated: {size} bytes, but its last page ends "
                f"at byte {need} (an incomplete copy?); copy it again or re-create it")
    return None


def _open(path: str) -> lmdb.Environment:
    problem = lmdb_problem(path)
    if problem is not None:
        raise DatasetError(problem)
    try:
        return lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False,
                         max_readers=512, subdir=os.path.isdir(path))
    except lmdb.Error as err:
        raise DatasetError(f"cannot open LMDB '{path}': {err}") from None


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


def _read_keys(path: str) -> list[bytes]:
    env = _open(path)
    try:
        with env.begin() as txn:
            return list(txn.cursor().iternext(keys=True, values=False))
    except lmdb.Error as err:
        raise DatasetError(f"cannot read LMDB '{path}': {err}") from None
    finally:
        env.close()


def _keys_in_child(path: str) -> bytes:
    """Run in the forked child: the keys (or the error) as bytes for the parent."""
    try:
        keys = _read_keys(path)
    except DatasetError as err:
        return b"E" + str(err).encode("utf-8", "replace")
    return b"K" + b"".join(struct.pack("<I", len(key)) + key for key in keys)


def list_keys(path: str) -> list[bytes]:
    """Every key of the LMDB at ``path``, read in a forked child (where there is ``fork``): a
    damaged page that makes liblmdb abort or fault kills the child, not the benchmark, and is
    a :class:`DatasetError` naming the path."""
    if not hasattr(os, "fork"):
        return _read_keys(path)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                out.write(_keys_in_child(path))
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as stream:
        payload = stream.read()
    _pid, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0 or not payload:
        how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
               else f"exit code {os.WEXITSTATUS(status)}")
        raise DatasetError(f"LMDB '{path}' is damaged: liblmdb killed the process listing its "
                           f"keys ({how}); copy it again or re-create it")
    if payload[:1] == b"E":
        raise DatasetError(payload[1:].decode("utf-8", "replace"))
    keys, pos = [], 1
    while pos < len(payload):
        (size,) = struct.unpack_from("<I", payload, pos)
        keys.append(payload[pos + 4:pos + 4 + size])
        pos += 4 + size
    return keys


class LMDBDataset(LazyBatchMixin, Dataset):
    """Caffe Datum records in an LMDB, decoded with PIL/numpy and passed through ``transform``."""

    def __init__(self, path: str, transform: Transform) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"LMDB '{path}' does not exist")
        self.path = path
        self.transform = transform
        refuse_truncated_images()
        problem = lmdb_problem(path)  # checked here too: no child for a truncated file
        if problem is not None:
            raise DatasetError(problem)
        self.keys: list[bytes] = list_keys(path)
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
        key = self.keys[index]
        try:
            with self._env.begin() as txn:
                record = txn.get(key)
        except lmdb.Error as err:
            raise DatasetError(f"cannot read record {key!r} of LMDB '{self.path}': {err}") \
                from None
        if record is None:
            raise DatasetError(f"LMDB '{self.path}' lost record {key!r} (changed while the "
                               "benchmark ran?)")
        try:
            datum = decode_datum(record)
            with datum_to_image(datum) as image:
                return self.transform(image), datum.label
        except DatumError as err:
            raise DatasetError(f"record {key!r} of LMDB '{self.path}' is not a Caffe Datum: "
                               f"{err}") from None
        except DECODE_ERRORS as err:
            raise decode_error(f"record {key!r} of LMDB '{self.path}'", err) from None

    def problem(self) -> str | None:
        """Why the LMDB cannot be read now (e.g. truncated while the benchmark ran), or
        ``None``: asked when a DataLoader worker died without a word (SIGBUS)."""
        return lmdb_problem(self.path)
