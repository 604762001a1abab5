"""The real-data input pipeline: dataset -> DataLoader worker processes -> model-ready batch.

Responsibility: pick the dataset (Caffe LMDB or ImageFolder), feed it to a DataLoader through
an endless sampler (the pipeline never runs dry in the timed loop, with no epoch-end stall),
and shard it across torchrun ranks. Workers decode and augment; the main process only moves
uint8 batches to the device and normalises them.
"""
from __future__ import annotations

import os
import signal
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pytorch_benchmarks.data.batching import ImageCollate
from pytorch_benchmarks.data.transforms import DeviceBatch, TrainTransform

Batch = tuple[torch.Tensor, torch.Tensor]

#: Batches each worker may have in flight (DataLoader's default).
PREFETCH_FACTOR = 2
#: What the main process may see when a worker dies: torch's RuntimeError (also raised by its
#: SIGCHLD handler, anywhere in the main thread), or a broken pipe mid-batch.
WORKER_DEATH_ERRORS = (RuntimeError, OSError, EOFError)


class EndlessSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` of a dataset, epoch after epoch, for ever.

    With ``shuffle`` each epoch is a fresh permutation (same on every rank, so the ranks' shards
    never overlap within an epoch).
    """

    def __init__(self, size: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1):
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[int]:
        epoch = 0
        while True:
            if self.shuffle:
                gen = torch.Generator().manual_seed(self.seed + epoch)
                order = torch.randperm(self.size, generator=gen).tolist()
            else:
                order = list(range(self.size))
            yield from order[self.rank::self.world]
            epoch += 1


def detect_backend(data_dir: str) -> str:
    """``caffe_lmdb`` when ``data_dir`` holds an LMDB (``data.mdb``), else ``image_folder``."""
    is_lmdb = os.path.isfile(os.path.join(data_dir, "data.mdb")) or data_dir.endswith(".mdb")
    return "caffe_lmdb" if is_lmdb else "image_folder"


def open_dataset(backend: str, data_dir: str, input_shape: tuple[int, ...]) -> Dataset:
    """The dataset of ``backend`` at ``data_dir``, cropping to ``input_shape`` (C, H, W)."""
    channels, height, width = input_shape
    transform = TrainTransform(height, width, channels)
    if backend == "caffe_lmdb":
        from pytorch_benchmarks.data.lmdb_dataset import LMDBDataset  # needs lmdb installed
        return LMDBDataset(data_dir, transform)
    from pytorch_benchmarks.data.image_folder import ImageFolderDataset
    return ImageFolderDataset(data_dir, transform)


@dataclass
class LoaderSpec:
    """How to load: the DataLoader knobs the benchmark's flags set."""

    batch_size: int
    num_workers: int
    shuffle: bool
    seed: int
    rank: int = 0
    world: int = 1
    pin_memory: bool = False


def make_loader(dataset: Dataset, spec: LoaderSpec) -> DataLoader:
    """A DataLoader over ``dataset`` that never ends (see :class:`EndlessSampler`)."""
    size = len(dataset)  # type: ignore[arg-type]
    if size < spec.world:
        raise ValueError(f"the dataset has {size} samples, fewer than the {spec.world} ranks")
    sampler = EndlessSampler(size, spec.shuffle, spec.seed, spec.rank, spec.world)
    prefetch = PREFETCH_FACTOR if spec.num_workers else None
    return DataLoader(dataset, batch_size=spec.batch_size, sampler=sampler, drop_last=True,
                      num_workers=spec.num_workers, pin_memory=spec.pin_memory,
                      collate_fn=ImageCollate(PREFETCH_FACTOR), prefetch_factor=prefetch,
                      generator=torch.Generator().manual_seed(spec.seed + spec.rank))


class RealSource:
    """Batches from a DataLoader on the device; :meth:`close` stops its worker processes.

    With ``normalise`` (training, inference) a batch is model-ready ``NCHW`` float32; without
    (``--data_loader_only``) it stays the ``NHWC`` uint8 batch the workers made, moved to the
    device: the pipeline's work ends there, normalising is the model step's first op.
    """

    def __init__(self, loader: DataLoader, device: torch.device,
                 normalise: DeviceBatch | None = None) -> None:
        self.loader = loader
        self.device = device
        self.normalise = normalise
        self._iter = iter(loader)
        _LIVE.add(self)

    def __call__(self) -> Batch:
        """The next batch (blocks until a worker delivers it). A worker that died without a
        word (SIGBUS on an LMDB truncated while the benchmark ran) is a :class:`DatasetError`
        naming the dataset, with the dataset's own reason when it can tell one."""
        try:
            images, labels = next(self._iter)
        except WORKER_DEATH_ERRORS as err:
            explained = self._explain(err)
            if explained is err:
                raise
            raise explained from None
        labels = torch.from_numpy(labels).to(self.device, non_blocking=True)
        if self.normalise is None:
            return images.to(self.device, non_blocking=True), labels
        return self.normalise(images), labels

    def _dead_worker(self, wait: float = 2.0) -> str | None:
        """How a worker of this loader died, or ``None`` when all are alive (or stopped)
        ``wait`` seconds on: a dying worker's pipes break before it can be seen dead."""
        workers = getattr(self._iter, "_workers", None) or []
        deadline = time.monotonic() + wait
        while workers:
            for worker in workers:
                code = worker.exitcode
                if code:
                    how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
                           else f"exit code {code}")
                    return f"DataLoader worker (pid {worker.pid}) died: {how}"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return None

    def _explain(self, err: BaseException) -> BaseException:
        """The error to raise for ``err``: itself, unless a worker died (torch says so, or one
        is found dead): then a :class:`DatasetError` naming the dataset."""
        from pytorch_benchmarks.data.errors import DatasetError

        if isinstance(err, DatasetError) or not isinstance(err, WORKER_DEATH_ERRORS):
            return err
        text = str(err)
        if "DataLoader worker" not in text or not any(
                m in text for m in ("exited unexpectedly", "killed by signal")):
            # A pipe broken mid-batch says nothing of the worker: look whether one died. (A
            # RuntimeError that does not say so is the model's, e.g. out of memory.)
            dead = self._dead_worker() if isinstance(err, (OSError, EOFError)) else None
            if dead is None:
                return err
            text = f"{dead}; {type(err).__name__}: {text}"
        dataset = self.loader.dataset
        problem: Callable[[], str | None] | None = getattr(dataset, "problem", None)
        reason = problem() if problem is not None else None
        where = getattr(dataset, "path", None) or getattr(dataset, "root", None)
        if reason is None and where is None:
            return err
        # torch's first sentence; its guess that follows (shared memory) is wrong when the
        # data set says why
        detail = " ".join(text.split()).split(". ", 1)[0].rstrip(".")
        return DatasetError(f"{reason} ({detail})" if reason else
                            f"a DataLoader worker reading '{where}' died: {detail}")

    def close(self) -> None:
        """Shut the workers down now (an ``os._exit`` later would skip it), close files."""
        shutdown: Callable[[], None] | None = getattr(self._iter, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._iter = iter(())  # type: ignore[assignment]
        close_dataset: Callable[[], None] | None = getattr(self.loader.dataset, "close", None)
        if close_dataset is not None:
            close_dataset()


#: The sources whose workers may be running (for :func:`explain`).
_LIVE: weakref.WeakSet[RealSource] = weakref.WeakSet()


def explain(err: BaseException) -> BaseException:
    """``err``, or the :class:`DatasetError` it means when a loader worker died. For errors
    caught anywhere: torch's SIGCHLD handler raises a worker's death at any point of the main
    thread, not only while it waits for a batch."""
    for source in list(_LIVE):
        explained = source._explain(err)
        if explained is not err:
            return explained
    return err
