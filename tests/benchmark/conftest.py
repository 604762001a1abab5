"""Fixtures for the benchmark program's tests: tiny datasets and an in-process runner."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.prepare import make_image_folder, make_lmdb

#: Small and fast: a 2-image batch of 32x32 images through ResNet-18.
TINY_CNN = ["--model", "resnet18", "--image_size", "32", "--batch_size", "2"]
TINY_MLP = ["--model", "deep_mnist", "--batch_size", "4"]
FEW = ["--device", "cpu", "--num_batches", "2", "--num_warmup_batches", "1"]


def read_facts(path: Path) -> dict[str, Any]:
    """The facts of a log (last occurrence wins)."""
    with open(path, encoding="utf-8") as stream:
        return dict(iter_facts(stream))


@pytest.fixture
def run_bench(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Call ``benchmarks.main(argv + --log_file)`` in-process; return (exit code, facts)."""
    counter = iter(range(1000))

    def run(*argv: str) -> tuple[int, dict[str, Any]]:
        log = tmp_path / f"run{next(counter)}.log"
        code = benchmarks.main([*argv, "--log_file", str(log)])
        return code, read_facts(log) if log.exists() else {}

    return run


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """16 JPEGs of 40x40 in 4 class folders."""
    return make_image_folder(str(tmp_path_factory.mktemp("data") / "folder"), 16, 4, 40)


@pytest.fixture(scope="session", params=["encoded", "raw"])
def lmdb_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Caffe LMDB of 12 Datums (JPEG-encoded or raw pixels) of 40x40 in 4 classes."""
    out = tmp_path_factory.mktemp("data") / f"lmdb_{request.param}"
    return make_lmdb(str(out), 12, 4, 40, encoded=request.param == "encoded")
