"""Fixtures for the benchmark program's tests: tiny datasets and an in-process runner."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.data.prepare import make_image_folder, make_lmdb
from pytorch_benchmarks.facts import iter_facts

#: Small and fast: a 2-image batch of 32x32 images through ResNet-18.
TINY_CNN = ["--model", "resnet18", "--image_size", "32", "--batch_size", "2"]
#: Smaller still, for real-data runs: a two-layer CNN registered only while the tests run.
TEST_CNN = ["--model", "test_cnn", "--batch_size", "4"]
TINY_MLP = ["--model", "deep_mnist", "--batch_size", "4"]
FEW = ["--device", "cpu", "--num_batches", "2", "--num_warmup_batches", "1"]


#: The warning of a host without readable energy counters (this CI machine, most VMs).
NO_ENERGY = "no energy figures:"


def own_warnings(facts: dict[str, Any]) -> list[str]:
    """``exp.warnings`` less the one saying the host has no energy counters: what a test's
    own flags caused."""
    return [w for w in facts.get("exp.warnings", []) if not w.startswith(NO_ENERGY)]


def read_facts(path: Path) -> dict[str, Any]:
    """The facts of a log (last occurrence wins)."""
    with open(path, encoding="utf-8") as stream:
        return dict(iter_facts(stream))


#: ``run_bench(*argv) -> (exit code, facts)``
RunBench = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run_bench(tmp_path: Path) -> RunBench:
    """Call ``benchmarks.main(argv + --log_file)`` in-process; return (exit code, facts)."""
    counter = iter(range(1000))

    def run(*argv: str) -> tuple[int, dict[str, Any]]:
        log = tmp_path / f"run{next(counter)}.log"
        code = benchmarks.main([*argv, "--log_file", str(log)])
        return code, read_facts(log) if log.exists() else {}

    return run


@pytest.fixture(scope="session")
def test_cnn() -> Iterator[str]:
    """Register ``test_cnn`` (3x16x16 input, 4 classes) for in-process runs; forked loader
    workers inherit it."""
    from pytorch_benchmarks.models._zoo.registry import register_model, unregister_model
    from torch import nn

    def test_cnn(*, num_classes: int = 4) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                             nn.Flatten(), nn.Linear(16, num_classes))

    register_model(title="Test CNN", input_shape=(3, 16, 16), num_classes=4)(test_cnn)
    yield "test_cnn"
    unregister_model("test_cnn")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """16 JPEGs of 40x40 in 4 class folders."""
    return make_image_folder(str(tmp_path_factory.mktemp("data") / "folder"), 16, 4, 40)


@pytest.fixture(scope="session")
def lmdb_encoded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Caffe LMDB of 12 JPEG-encoded Datums of 40x40 in 4 classes."""
    return make_lmdb(str(tmp_path_factory.mktemp("data") / "lmdb_enc"), 12, 4, 40, encoded=True)


@pytest.fixture(scope="session")
def lmdb_raw(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Caffe LMDB of 12 raw-pixel Datums of 40x40 in 4 classes."""
    return make_lmdb(str(tmp_path_factory.mktemp("data") / "lmdb_raw"), 12, 4, 40, encoded=False)


@pytest.fixture(params=["encoded", "raw"])
def lmdb_dir(request: pytest.FixtureRequest) -> str:
    """Both kinds of Caffe LMDB, in turn."""
    return str(request.getfixturevalue(f"lmdb_{request.param}"))


@pytest.fixture(params=["image_folder", "lmdb_encoded", "lmdb_raw"])
def dataset(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(backend, folder)`` of each kind of real dataset, in turn."""
    folder = str(request.getfixturevalue(request.param))
    return ("image_folder" if request.param == "image_folder" else "caffe_lmdb"), folder


def documented(key: str, doc: str) -> bool:
    """Whether docs/log-format.md (``doc``) describes the fact ``key``: as `` `key` ``, or, for
    a key of a family named after a host (``hw.nodes.<node>.cpu_model``), as its family's row
    (``hw.nodes.NODE.cpu_model``)."""
    if key.startswith("hw.nodes."):
        return "hw.nodes.NODE." + key.split(".", 3)[3] in doc
    return f"`{key}`" in doc
