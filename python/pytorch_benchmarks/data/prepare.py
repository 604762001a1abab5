"""Make small real datasets from generated images, so tests and examples need no download.

``python -m pytorch_benchmarks.prepare imagefolder --out DIR --num_images N [--num_classes K]
[--size 64] [--seed 0]`` writes ``DIR/<class>/<n>.jpg``; ``... lmdb --out DIR [--encoded|--raw]``
writes a Caffe LMDB of ``Datum`` records (JPEG bytes, or raw CHW BGR pixels).
Images are smooth per-class colour fields with noise and a random rectangle: cheap to make,
and JPEG-decoded like real photos. This module writes files only where it is told.

The command marks each dataset it makes with a ``.dlbs-dataset.json`` file. It refuses an
``--out`` that holds anything else (it never mixes its images into, nor deletes, data it did
not make), and it re-creates its own dataset as a whole: the new one is built beside it and
swapped in, so no record of the old one survives and an interrupted run leaves the old intact.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from PIL import Image
from safeio import UnsafeFileError, open_for_read, open_for_write, open_text

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
        with os.fdopen(open_for_write(path), "wb") as stream:  # never through a link
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


#: The file that marks a folder as a dataset this tool made (and may therefore replace).
MARKER = ".dlbs-dataset.json"
#: ``tool`` in the marker.
TOOL = "pytorch_benchmarks.prepare"


class PrepareError(Exception):
    """Why ``--out`` cannot be written: the message says what to do."""


def _is_ours(out: str) -> bool:
    """Whether ``out`` holds our marker; a marker that is a link (or a FIFO...) is refused:
    it could make a folder of someone else's look like ours."""
    try:
        with os.fdopen(open_for_read(os.path.join(out, MARKER)), encoding="utf-8") as stream:
            return json.loads(stream.read(1 << 16)).get("tool") == TOOL
    except UnsafeFileError as err:
        raise PrepareError(f"--out '{out}' is left untouched: {err}") from None
    except (OSError, ValueError, AttributeError):
        return False


def check_out(out: str) -> str:
    """What may be done at ``out``: ``"new"`` (it does not exist), ``"empty"`` (an empty folder)
    or ``"replace"`` (a dataset of ours). Raises :class:`PrepareError` for anything else."""
    if not os.path.lexists(out):
        return "new"
    if not os.path.isdir(out) or os.path.islink(out):
        raise PrepareError(f"--out '{out}' exists and is not a folder; choose another --out")
    try:
        entries = os.listdir(out)
    except OSError as err:
        raise PrepareError(f"cannot list --out '{out}': {err.strerror or err}") from None
    if not entries:
        return "empty"
    if _is_ours(out):
        return "replace"
    raise PrepareError(f"--out '{out}' holds files that are not a dataset made by this tool "
                       f"(no {MARKER}); it is left untouched: choose a new or empty folder, "
                       "or remove it yourself")


def _clear(folder: str) -> None:
    """Remove what is in ``folder`` (a folder that was empty before we wrote to it)."""
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def write_dataset(out: str, make: Callable[[str], object], facts: dict[str, object]) -> str:
    """Make a dataset at ``out`` with ``make(folder)`` and mark it ours (the marker last).

    It is built in a fresh private folder (``mkdtemp``: a name nobody can guess, mode 0700
    while it is built), so no link planted in a shared folder can redirect a file of it; then
    it is moved into place: a new folder is renamed to ``out``; into an empty ``out`` its
    entries are moved (the folder built inside it); a dataset of ours is replaced whole (built
    beside it, then swapped in). A failed or interrupted build never leaves a half dataset at
    ``out``."""
    state = check_out(out)
    out = os.path.normpath(out)
    parent, name = os.path.split(out)
    if state == "new":
        os.makedirs(parent or os.curdir, exist_ok=True)
    build_in = out if state == "empty" else (parent or os.curdir)
    target = tempfile.mkdtemp(prefix=f".{name}.new-", dir=build_in)
    try:
        make(target)
        with open_text(os.path.join(target, MARKER)) as stream:
            json.dump({"tool": TOOL, **facts}, stream, indent=1)
            stream.write("\n")
        if state == "empty":
            _move_into(target, out)
        else:
            os.chmod(target, 0o777 & ~_umask())  # the mode makedirs would have given it
            if state == "new":
                os.rename(target, out)
            else:
                _swap(target, out)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        if state == "empty":
            _clear(out)
        raise
    return out


def _move_into(built: str, out: str) -> None:
    """Move the entries of ``built`` (a folder inside ``out``) into ``out``, the marker last,
    then remove ``built``. A name taken meanwhile (something planted in ``out``) is refused."""
    names = sorted(os.listdir(built), key=lambda n: n == MARKER)
    for entry in names:
        dest = os.path.join(out, entry)
        if os.path.lexists(dest):
            raise PrepareError(f"--out '{out}': '{dest}' appeared while the dataset was built "
                               "(someone else writes there); remove it and run again")
        os.rename(os.path.join(built, entry), dest)
    os.rmdir(built)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _swap(new: str, out: str) -> None:
    """Put the folder ``new`` in place of ``out`` and remove the old one; on failure ``out``
    is left as it was and ``new`` removed. The old one is renamed onto a fresh empty folder
    of an unguessable name (a planted name is never renamed onto)."""
    parent, name = os.path.split(new)[0], os.path.basename(out)
    old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
    try:
        os.rename(out, old)
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(old, out)
            raise
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        try:
            os.rmdir(old)  # only while it is still the empty folder made for it
        except OSError:
            pass
        raise
    shutil.rmtree(old, ignore_errors=True)


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
    parser.add_argument("--version", action="version",
                        version=f"pytorch_benchmarks {_version()} (python "
                                f"{platform.python_version()})",
                        help="print the version and exit")
    return parser


def _version() -> str:
    from pytorch_benchmarks import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Make the dataset; print its path."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_images < 1 or args.num_classes < 1 or args.size < 8:
        parser.error("--num_images and --num_classes must be >= 1 and --size >= 8")
    facts: dict[str, object] = {"kind": args.kind, "num_images": args.num_images,
                                "num_classes": args.num_classes, "size": args.size,
                                "seed": args.seed}
    if args.kind == "imagefolder":
        def make(folder: str) -> object:
            return make_image_folder(folder, args.num_images, args.num_classes, args.size,
                                     args.seed)
    else:
        facts["encoded"] = args.encoded

        def make(folder: str) -> object:
            return make_lmdb(folder, args.num_images, args.num_classes, args.size, args.seed,
                             args.encoded)
    try:
        out = write_dataset(args.out, make, facts)
    except PrepareError as err:
        parser.error(str(err))
    except OSError as err:
        print(f"error: cannot write --out '{args.out}': {err.strerror or err}", file=sys.stderr)
        return 1
    print(out, flush=True)
    return 0


if __name__ == "__main__":  # the documented command is pytorch_benchmarks.prepare (its stdout guarded)
    sys.exit(main())
