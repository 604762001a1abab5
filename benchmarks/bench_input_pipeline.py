"""Input pipeline speed: ``benchmarks.py --data_loader_only`` vs a bare PIL decode+crop loop.

Both read the same files (an ImageFolder of JPEGs, and a Caffe LMDB of encoded Datums) with the
same number of processes (``--workers``, default 2); the bare loop does only the work any
loader must do (read, decode, random-resized-crop to the model's size) in a process pool. The
two are run alternately (ABBA), ``--rounds`` times each, and the ratio of their median images/s is
reported (target: >= 0.9), and the ratio of the best rounds (least disturbed by other work).

    .venv/bin/python benchmarks/bench_input_pipeline.py [--num_images 512] [--size 256]
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

from PIL import Image
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.data.datum import decode_datum
from pytorch_benchmarks.data.image_folder import find_images
from pytorch_benchmarks.data.prepare import make_image_folder, make_lmdb
from pytorch_benchmarks.data.transforms import random_resized_crop_box
from pytorch_benchmarks.facts import iter_facts

CROP = (224, 224)


def _crop(image: Image.Image, rng: random.Random) -> Image.Image:
    if image.mode != "RGB":
        image = image.convert("RGB")
    box = random_resized_crop_box(image.width, image.height, rng)
    return image.resize(CROP, Image.Resampling.BILINEAR, box=box)


def _bare_files(paths: list[str], seed: int) -> tuple[int, float, float]:
    rng, start = random.Random(seed), time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            _crop(image, rng)
    return len(paths), start, time.perf_counter()


def _bare_lmdb(args: tuple[str, list[bytes]], seed: int) -> tuple[int, float, float]:
    import lmdb

    path, keys = args
    rng, start = random.Random(seed), time.perf_counter()
    env = lmdb.open(path, readonly=True, lock=False, readahead=False)
    with env.begin() as txn:
        for key in keys:
            datum = decode_datum(txn.get(key))
            with Image.open(io.BytesIO(datum.data)) as image:
                _crop(image, rng)
    env.close()
    return len(keys), start, time.perf_counter()


def _run_bare(pool: mp.pool.Pool, func, shards: list) -> float:  # type: ignore[type-arg]
    """Images/s of ``func`` over ``shards`` (one per process), wall time first start to last end."""
    results = pool.starmap(func, [(shard, i) for i, shard in enumerate(shards)])
    count = sum(r[0] for r in results)
    return count / (max(r[2] for r in results) - min(r[1] for r in results))


def _run_loader(data_dir: str, backend: str, workers: int, batch: int, batches: int) -> float:
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        code = benchmarks.main([
            "--model", "resnet18", "--device", "cpu", "--data_dir", data_dir,
            "--data_backend", backend, "--num_loader_threads", str(workers),
            "--batch_size", str(batch), "--num_batches", str(batches),
            "--num_warmup_batches", "3", "--data_loader_only", "--log_file", log.name])
        facts = dict(iter_facts(log))
    if code != 0:
        raise SystemExit(f"benchmarks.py failed: {facts.get('results.error')}")
    return float(facts["results.throughput"])


def _repeat(items: list, total: int) -> list:
    return (items * (total // len(items) + 1))[:total]


def _shards(items: list, workers: int) -> list[list]:
    return [items[i::workers] for i in range(workers)]


def main() -> None:
    """Make both datasets, then time the bare loop and the pipeline alternately."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_images", type=int, default=1024)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--num_batches", type=int, default=48, help="timed batches a run")
    args = parser.parse_args()
    batches = max(args.num_batches, 4)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_image_folder(os.path.join(tmp, "if"), args.num_images, 10, args.size)
        db = make_lmdb(os.path.join(tmp, "lmdb"), args.num_images, 10, args.size)
        import lmdb
        env = lmdb.open(db, readonly=True, lock=False)
        with env.begin() as txn:
            keys = list(txn.cursor().iternext(values=False))
        env.close()
        paths = [p for p, _ in find_images(folder)[1]]
        total = batches * args.batch_size  # both sides process as many images a round
        paths, keys = _repeat(paths, total), _repeat(keys, total)
        cases = {"image_folder": (folder, _bare_files, _shards(paths, args.workers)),
                 "caffe_lmdb": (db, _bare_lmdb, [(db, s) for s in _shards(keys, args.workers)])}
        with mp.get_context("fork").Pool(args.workers) as pool:
            for backend, (data_dir, func, shards) in cases.items():
                bare, ours = [], []
                for i in range(args.rounds):  # ABBA order: a drift in load cancels out
                    if i % 2 == 0:
                        bare.append(_run_bare(pool, func, shards))
                    ours.append(_run_loader(data_dir, backend, args.workers, args.batch_size,
                                            batches))
                    if i % 2 == 1:
                        bare.append(_run_bare(pool, func, shards))
                ratio = statistics.median(ours) / statistics.median(bare)
                print(f"{backend}: bare PIL loop {statistics.median(bare):.1f} img/s "
                      f"{[round(b, 1) for b in bare]}, --data_loader_only "
                      f"{statistics.median(ours):.1f} img/s {[round(o, 1) for o in ours]}, "
                      f"ratio {ratio:.3f} (best-of ratio {max(ours) / max(bare):.3f}; "
                      f"workers={args.workers}, {args.size}px -> 224px)", flush=True)


if __name__ == "__main__":
    main()
