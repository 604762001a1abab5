"""Real data: transforms, ImageFolder, Caffe LMDB, the endless sharded loader, prepare."""
from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_benchmarks.data.batching import Crop, ImageCollate, copy_pixels, pixel_view
from pytorch_benchmarks.data.image_folder import ImageFolderDataset
from pytorch_benchmarks.data.lmdb_dataset import LMDBDataset
from pytorch_benchmarks.data.loader import (
    EndlessSampler,
    LoaderSpec,
    detect_backend,
    make_loader,
    open_dataset,
)
from pytorch_benchmarks.data.synthetic import make_batch
from pytorch_benchmarks.data.transforms import (
    MEAN,
    STD,
    DeviceBatch,
    TrainTransform,
    random_resized_crop_box,
)


@pytest.mark.parametrize("width,height", [(40, 40), (300, 20), (20, 300), (1, 1)])
def test_crop_boxes_stay_inside_the_image(width: int, height: int) -> None:
    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = random_resized_crop_box(width, height, rng)
        assert 0 <= left < right <= width and 0 <= top < bottom <= height


def test_crop_areas_and_ratios_follow_the_inception_recipe() -> None:
    rng = random.Random(1)
    boxes = [random_resized_crop_box(400, 400, rng) for _ in range(300)]
    areas = [(r - left) * (b - t) / 160000 for left, t, r, b in boxes]
    ratios = [(r - left) / (b - t) for left, t, r, b in boxes]
    assert 0.07 <= min(areas) and max(areas) <= 1.0 and max(areas) - min(areas) > 0.5
    assert 0.7 <= min(ratios) and max(ratios) <= 1.4


@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("L", 1), ("RGBA", 3), ("L", 3)])
def test_train_transform_crops_to_the_model_size_and_mode(mode: str, channels: int) -> None:
    out = TrainTransform(24, 28, channels)(Image.new(mode, (50, 30))).image
    assert out.size == (28, 24) and out.mode == ("L" if channels == 1 else "RGB")


def test_train_transform_flips_half_the_time() -> None:
    random.seed(0)
    flips = sum(TrainTransform(8, 8)(Image.new("RGB", (40, 40))).flip for _ in range(200))
    assert 60 < flips < 140


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
@pytest.mark.parametrize("flip", [False, True])
def test_pixels_are_copied_into_the_batch_as_numpy_sees_them(mode: str, flip: bool) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (5, 7, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA").convert(mode)
    expected = np.asarray(image).reshape(5, 7, -1)
    view, _owner = pixel_view(image)
    dst = np.zeros_like(view)
    copy_pixels(dst, Crop(image, flip))
    channels = expected.shape[-1]
    assert np.array_equal(dst[..., :channels], expected[:, ::-1] if flip else expected)


def test_rgb_pixels_are_viewed_in_place_as_rgbx() -> None:
    view, owner = pixel_view(Image.new("RGB", (3, 2), (1, 2, 3)))
    assert view.shape == (2, 3, 4) and owner is not None
    assert view[1, 2, :3].tolist() == [1, 2, 3]


@pytest.mark.parametrize("stored_channels", [3, 4])
def test_device_batch_normalises_to_nchw_float(stored_channels: int) -> None:
    batch = torch.full((2, 4, 5, stored_channels), 200, dtype=torch.uint8)
    x = DeviceBatch(torch.device("cpu"), 3, torch.channels_last)(batch)
    assert x.shape == (2, 3, 4, 5) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    expected = torch.tensor([(200 - m) / s for m, s in zip(MEAN, STD)])
    assert torch.allclose(x[1, :, 3, 4], expected, atol=1e-5)


def test_image_folder_labels_are_sorted_class_folders(image_folder: str) -> None:
    ds = ImageFolderDataset(image_folder, TrainTransform(32, 32))
    assert ds.classes == [f"class_{k:04d}" for k in range(4)] and len(ds) == 16
    crop, label = ds[5]
    assert crop.image.size == (32, 32) and label == 1


def test_an_empty_image_folder_says_what_it_expects(tmp_path: Path) -> None:
    (tmp_path / "cls").mkdir()
    with pytest.raises(FileNotFoundError, match="root/<class>/<image>"):
        ImageFolderDataset(str(tmp_path), TrainTransform(8, 8))


def test_lmdb_records_decode_to_images_and_labels(lmdb_dir: str) -> None:
    ds = LMDBDataset(lmdb_dir, TrainTransform(32, 32))
    assert len(ds) == 12 and detect_backend(lmdb_dir) == "caffe_lmdb"
    assert [ds[i][1] for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert ds[3][0].image.size == (32, 32)
    ds.close()


def test_raw_lmdb_pixels_come_back_in_rgb(tmp_path: Path) -> None:
    from pytorch_benchmarks.data.datum import decode_datum, encode_datum
    from pytorch_benchmarks.data.lmdb_dataset import datum_to_image
    from pytorch_benchmarks.data.prepare import to_datum

    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[..., 0] = 255  # pure red
    image = datum_to_image(decode_datum(encode_datum(to_datum(pixels, 1, encoded=False))))
    assert image.size == (6, 4) and image.getpixel((0, 0)) == (255, 0, 0)


def test_a_pickled_lmdb_dataset_drops_its_handle(lmdb_dir: str) -> None:
    ds = LMDBDataset(lmdb_dir, TrainTransform(16, 16))
    ds[0]
    assert ds._env is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._env is None
    ds.close()  # one process cannot open an environment twice
    assert clone[1][1] == 1
    clone.close()


def test_endless_sampler_shards_without_overlap_and_never_ends() -> None:
    shards = [EndlessSampler(10, True, 0, rank, 2) for rank in range(2)]
    firsts = [[i for i, _ in zip(iter(s), range(5))] for s in shards]
    assert sorted(firsts[0] + firsts[1]) == list(range(10))
    assert len([i for i, _ in zip(iter(shards[0]), range(23))]) == 23


def test_unshuffled_sampler_is_in_order() -> None:
    it = iter(EndlessSampler(3, False, 0))
    assert [next(it) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("L", 1)])
def test_collate_stacks_nhwc_uint8_and_labels(mode: str, channels: int) -> None:
    items = [(Image.new(mode, (3, 2), (i,) * channels), i) for i in range(4)]
    images, labels = ImageCollate(prefetch_factor=2)(items)
    assert images.shape == (4, 2, 3, 4 if channels == 3 else 1)  # RGB travels as RGBX
    assert images.dtype == torch.uint8
    assert images[3, ..., :channels].max() == 3 and images[2, ..., :channels].min() == 2
    assert labels.tolist() == [0, 1, 2, 3] and labels.dtype == np.int64


def test_collate_reuses_a_ring_of_prefetch_plus_two_buffers() -> None:
    collate = ImageCollate(prefetch_factor=2)
    batches = [collate([(Image.new("L", (1, 1), k), 0)])[0] for k in range(6)]
    pointers = [b.data_ptr() for b in batches]
    assert len(set(pointers[:4])) == 4 and pointers[4:] == pointers[:2]
    assert batches[3].item() == 3  # the batch before last is intact


def test_loader_batches_are_intact_while_in_use(image_folder: str) -> None:
    """Each worker batch equals what the dataset gives for its indices, batch after batch."""
    spec = LoaderSpec(batch_size=2, num_workers=2, shuffle=False, seed=0)
    dataset = open_dataset("image_folder", image_folder, (3, 8, 8))
    it = iter(make_loader(dataset, spec))
    sums = [int(next(it)[0].sum()) for _ in range(16)]  # two passes over 16 images
    it._shutdown_workers()  # type: ignore[attr-defined]
    assert sums[:8] != [sums[0]] * 8 and len(sums) == 16


def test_loader_with_workers_runs_past_the_end_of_the_dataset(lmdb_dir: str) -> None:
    spec = LoaderSpec(batch_size=5, num_workers=2, shuffle=True, seed=0)
    loader = make_loader(open_dataset("caffe_lmdb", lmdb_dir, (3, 24, 24)), spec)
    it = iter(loader)
    batches = [next(it) for _ in range(6)]  # 30 samples from 12 records
    it._shutdown_workers()  # type: ignore[attr-defined]
    assert all(b[0].shape == (5, 24, 24, 4) for b in batches)


def test_synthetic_batches_are_reproducible_by_seed() -> None:
    a, b, c = make_batch(2, (3, 4, 4), (), 10, 1), make_batch(2, (3, 4, 4), (), 10, 1), \
        make_batch(2, (3, 4, 4), (), 10, 2)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert a[1].shape == (2,) and int(a[1].max()) < 10


@pytest.mark.parametrize("kind,extra", [("imagefolder", []), ("lmdb", ["--raw"]),
                                        ("lmdb", ["--encoded"])])
def test_prepare_tool_makes_datasets(kind: str, extra: list[str], tmp_path: Path) -> None:
    out = tmp_path / kind
    cmd = [sys.executable, "-m", "pytorch_benchmarks.prepare", kind, "--out", str(out),
           "--num_images", "6", "--num_classes", "3", "--size", "16", "--seed", "1", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(out)
    backend = "caffe_lmdb" if kind == "lmdb" else "image_folder"
    assert len(open_dataset(backend, str(out), (3, 8, 8))) == 6  # type: ignore[arg-type]
