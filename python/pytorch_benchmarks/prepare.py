"""Make small real datasets from generated images, so tests and examples need no download.

``python -m pytorch_benchmarks.prepare imagefolder --out DIR --num_images N [--num_classes K]
[--size 64] [--seed 0]`` writes ``DIR/<class>/<n>.jpg``; ``... lmdb --out DIR [--encoded|--raw]``
writes a Caffe LMDB of ``Datum`` records (JPEG bytes, or raw CHW BGR pixels).
Images are smooth per-class colour fields with noise and a random rectangle: cheap to make,
and JPEG-decoded like real photos. This module writes files only where it is told.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from pytorch_benchmarks.data.datum import Datum, encode_datum


def generate_image(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """An ``size x size x 3`` uint8 image whose colours depend on ``label``."""
    base = np.array([(label * 67) % 256, (label * 131) % 256, (label * 199) % 256], np.float32)
    ramp = np.linspace(-40.0, 40.0, size, dtype=np.float32)
    pixels = base + ramp[None, :, None] + ramp[:, None, None] * rng.uniform(-1, 1)
    pixels += rng.normal(0.0, 12.0, (size, size, 3)).astype(np.float32)
    x0, y0 = rng.integers(0, size // 2, 2)
    x1, y1 = rng.integers(size // 2, size, 2)
    pixels[y0:y1, x0:x1] = 255 - pixels[y0:y1, x0:x1]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def generate(num_images: int, num_classes: int, size: int,
             seed: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(index, label, image)``; labels go round-robin so every class gets images."""
    rng = np.random.default_rng(seed)
    for index in range(num_images):
        label = index % num_classes
        yield index, label, generate_image(rng, label, size)


def jpeg_bytes(pixels: np.ndarray, quality: int = 90) -> bytes:
    """The image encoded as JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_image_folder(out: str, num_images: int, num_classes: int = 4, size: int = 64,
                      seed: int = 0) -> str:
    """Write ``out/class_<k>/<index>.jpg``; return ``out``."""
    for k in range(num_classes):
        os.makedirs(os.path.join(out, f"class_{k:04d}"), exist_ok=True)
    for index, label, pixels in generate(num_images, num_classes, size, seed):
        path = os.path.join(out, f"class_{label:04d}", f"{index:08d}.jpg")
        with open(path, "wb") as stream:
            stream.write(jpeg_bytes(pixels))
    return out


def to_datum(pixels: np.ndarray, label: int, encoded: bool) -> Datum:
    """A Caffe Datum: JPEG bytes when ``encoded``, else raw CHW pixels in BGR order."""
    height, width, channels = pixels.shape
    if encoded:
        data = jpeg_bytes(pixels)
    else:
        data = np.ascontiguousarray(pixels[:, :, ::-1].transpose(2, 0, 1)).tobytes()
    return Datum(channels=channels, height=height, width=width, data=data, label=label,
                 encoded=encoded)


def make_lmdb(out: str, num_images: int, num_classes: int = 4, size: int = 64,
              seed: int = 0, encoded: bool = True) -> str:
    """Write a Caffe LMDB (keys ``%08d_class_%04d``, as convert_imageset names them)."""
    import lmdb

    map_size = max(num_images * (size * size * 3 + 1024) * 2, 1 << 24)
    os.makedirs(out, exist_ok=True)
    env = lmdb.open(out, map_size=map_size)
    try:
        with env.begin(write=True) as txn:
            for index, label, pixels in generate(num_images, num_classes, size, seed):
                key = f"{index:08d}_class_{label:04d}".encode()
                txn.put(key, encode_datum(to_datum(pixels, label, encoded)))
    finally:
        env.close()
    return out


def build_parser() -> argparse.ArgumentParser:
    """The prepare tool's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m pytorch_benchmarks.prepare",
        description="Make a small dataset of generated images for benchmarks.py.",
        epilog="examples:\n  python -m pytorch_benchmarks.prepare imagefolder --out /tmp/imgs "
               "--num_images 256\n  python -m pytorch_benchmarks.prepare lmdb --out /tmp/lmdb "
               "--num_images 256 --raw --size 32",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("imagefolder", "lmdb"), help="dataset layout")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num_images", type=int, required=True, help="number of images")
    parser.add_argument("--num_classes", type=int, default=4, help="classes (default: 4)")
    parser.add_argument("--size", type=int, default=64, help="image side, pixels (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--encoded", dest="encoded", action="store_true", default=True,
                       help="LMDB records hold JPEG bytes (default)")
    group.add_argument("--raw", dest="encoded", action="store_false",
                       help="LMDB records hold raw CHW BGR pixels")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Make the dataset; print its path."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_images < 1 or args.num_classes < 1 or args.size < 8:
        parser.error("--num_images and --num_classes must be >= 1 and --size >= 8")
    if args.kind == "imagefolder":
        out = make_image_folder(args.out, args.num_images, args.num_classes, args.size, args.seed)
    else:
        out = make_lmdb(args.out, args.num_images, args.num_classes, args.size, args.seed,
                        args.encoded)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
