"""Faults of data sets, done for real on data sets made with ``prepare``: truncated and
zero-filled LMDBs (before and during a run), truncated and damaged JPEGs, and ``prepare``
asked to write over data that is not its own or to re-create its own.

The benchmark runs as a user runs it, ``benchmarks.py`` in its own process: a SIGBUS there
would be exit code -7, never a failure fact.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lmdb
import psutil
import pytest
from pytorch_benchmarks.data import prepare
from pytorch_benchmarks.data.datum import decode_datum, encode_datum
from pytorch_benchmarks.facts import iter_facts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
#: The input pipeline alone, on the CPU: the data is what is tested, and it is quick.
PIPELINE = ["--model", "resnet18", "--image_size", "32", "--batch_size", "4", "--device", "cpu",
            "--data_loader_only", "--num_batches", "3", "--num_warmup_batches", "1"]


def make(kind: str, out: Path, *extra: str, num: int = 12) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorch_benchmarks.prepare", kind, "--out",
                           str(out), "--num_images", str(num), "--size", "32", *extra],
                          capture_output=True, text=True, timeout=120, check=False)


def facts_of(log: Path) -> dict[str, Any]:
    return dict(iter_facts(log.read_text().splitlines())) if log.exists() else {}


def bench(data_dir: Path, log: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                           dict[str, Any]]:
    done = subprocess.run([sys.executable, str(SCRIPT), *PIPELINE, "--data_dir", str(data_dir),
                           "--log_file", str(log), *extra], capture_output=True, text=True,
                          timeout=240, check=False)
    return done, facts_of(log)


def assert_failure_naming(done: subprocess.CompletedProcess[str], facts: dict[str, Any],
                          *words: str) -> None:
    """A failure fact with the reason, exit 1: not a signal (SIGBUS -7, SIGABRT -6)."""
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert facts.get("results.status") == "failure", done.stderr[-2000:]
    for word in words:
        assert word in facts["results.error"], facts["results.error"]
    assert "Traceback" not in facts["results.error"]


@pytest.fixture(scope="module")
def lmdb_made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("made") / "lmdb"
    assert make("lmdb", out, num=64).returncode == 0
    return out


@pytest.fixture
def lmdb_copy(lmdb_made: Path, tmp_path: Path) -> Path:
    out = tmp_path / "lmdb"
    out.mkdir()
    for name in ("data.mdb", "lock.mdb"):
        (out / name).write_bytes((lmdb_made / name).read_bytes())
    return out


def cut(path: Path, size: int) -> None:
    with open(path, "r+b") as stream:
        stream.truncate(size)


# --- LMDB -------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["half", "one-page-and-a-bit", "100-bytes", "empty"])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_truncated_lmdb_is_a_failure_naming_it(lmdb_copy: Path, tmp_path: Path, how: str,
                                                  workers: str) -> None:
    data = lmdb_copy / "data.mdb"
    size = {"half": data.stat().st_size // 2, "one-page-and-a-bit": 4106, "100-bytes": 100,
            "empty": 0}[how]
    cut(data, size)
    done, facts = bench(lmdb_copy, tmp_path / "a.log", "--num_loader_threads", workers)
    why = "is truncated" if size > 4096 else "is not an LMDB data file"
    assert_failure_naming(done, facts, str(data), why)


def test_a_zero_filled_lmdb_is_a_failure_naming_it(lmdb_copy: Path, tmp_path: Path) -> None:
    """An interrupted copy that preallocated the file: the right size, its tail all zeros.
    liblmdb aborts on it (an assertion); the keys are listed in a child process."""
    data = lmdb_copy / "data.mdb"
    size = data.stat().st_size
    cut(data, size // 2)
    cut(data, size)
    done, facts = bench(lmdb_copy, tmp_path / "a.log", "--num_loader_threads", "0")
    assert_failure_naming(done, facts, str(lmdb_copy), "damaged")


def test_an_lmdb_truncated_while_the_benchmark_runs_is_a_failure_naming_it(
        lmdb_copy: Path, tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    assert PIPELINE[-4] == "--num_batches"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *PIPELINE[:-4], "--num_batches",
                             "1000000", "--max_time", "300", "--num_loader_threads", "2",
                             "--data_dir", str(lmdb_copy), "--log_file", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DLBS_TEST_FORKSERVER": "0"})  # its own children
    # the data set was checked (its size is a fact) and the two loader workers exist: they
    # read from now on (waited for, not slept: a busy machine starts them later)
    deadline = time.monotonic() + 300  # a hang guard
    try:
        while "exp.dataset_size" not in facts_of(log) or \
                len(psutil.Process(proc.pid).children()) < 2:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the loader workers never started"
            time.sleep(0.1)
        cut(lmdb_copy / "data.mdb", 8192)
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:  # the test failed: the run must not go on behind it
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, _out, err)
    assert_failure_naming(done, facts_of(log), str(lmdb_copy / "data.mdb"), "is truncated",
                          "DataLoader worker")


def _rewrite_record(path: Path, index: int, change: Any) -> bytes:
    env = lmdb.open(str(path), map_size=1 << 26)
    try:
        with env.begin(write=True) as txn:
            key = list(txn.cursor().iternext(values=False))[index]
            txn.put(key, change(decode_datum(txn.get(key) or b"")))
    finally:
        env.close()
    return bytes(key)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_truncated_jpeg_in_an_lmdb_record_names_the_record(lmdb_copy: Path, tmp_path: Path,
                                                            workers: str) -> None:
    def truncate_jpeg(datum: Any) -> bytes:
        datum.data = datum.data[:len(datum.data) // 2]
        return encode_datum(datum)

    key = _rewrite_record(lmdb_copy, 2, truncate_jpeg)
    done, facts = bench(lmdb_copy, tmp_path / "a.log", "--num_loader_threads", workers)
    assert_failure_naming(done, facts, repr(key), str(lmdb_copy), "runcated")


def test_a_record_that_is_not_a_datum_names_the_record(lmdb_copy: Path, tmp_path: Path) -> None:
    key = _rewrite_record(lmdb_copy, 1, lambda datum: b"\x0f\xff\xff")
    done, facts = bench(lmdb_copy, tmp_path / "a.log", "--num_loader_threads", "0")
    assert_failure_naming(done, facts, repr(key), "is not a Caffe Datum")


def test_lmdb_problem_reads_the_meta_pages_without_mapping(lmdb_copy: Path) -> None:
    from pytorch_benchmarks.data.lmdb_dataset import lmdb_problem

    data = lmdb_copy / "data.mdb"
    assert lmdb_problem(str(lmdb_copy)) is None and lmdb_problem(str(data)) is None
    size = data.stat().st_size
    cut(data, size - 1)
    assert f"{size - 1} bytes, but its last page ends at byte {size}" in str(
        lmdb_problem(str(lmdb_copy)))
    assert "cannot read LMDB data file" in str(lmdb_problem(str(lmdb_copy / "nowhere")))


# --- image folders ------------------------------------------------------------------------------

@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    out = tmp_path / "images"
    assert make("imagefolder", out, "--num_classes", "2", num=8).returncode == 0
    return out


@pytest.mark.parametrize("how,why", [
    ("half", "runcated"),          # PIL: "Truncated File Read" or "image file is truncated"
    ("header-only", "runcated"),
    ("empty", "cannot identify image file"),
    ("garbage", "cannot identify image file"),
    ("last-bytes", "image file is truncated"),
])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_damaged_jpeg_names_the_file(image_folder: Path, tmp_path: Path, how: str, why: str,
                                       workers: str) -> None:
    image = image_folder / "class_0001" / "00000001.jpg"  # the 5th sample, in the 2nd batch
    data = image.read_bytes()
    image.write_bytes({"half": data[:len(data) // 2], "header-only": data[:10], "empty": b"",
                       "garbage": os.urandom(len(data)), "last-bytes": data[:-3]}[how])
    done, facts = bench(image_folder, tmp_path / "a.log", "--num_loader_threads", workers)
    assert_failure_naming(done, facts, f"cannot decode image '{image}'", why)
    if workers != "0":
        assert "(in DataLoader worker process" in facts["results.error"]


def test_truncated_images_are_refused_even_when_pil_was_told_to_accept_them(
        image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile
    from pytorch_benchmarks.data.errors import DatasetError
    from pytorch_benchmarks.data.image_folder import ImageFolderDataset
    from pytorch_benchmarks.data.transforms import TrainTransform

    image = image_folder / "class_0000" / "00000000.jpg"
    image.write_bytes(image.read_bytes()[:-40])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    dataset = ImageFolderDataset(str(image_folder), TrainTransform(16, 16))
    with pytest.raises(DatasetError, match="image file is truncated") as caught:
        dataset[0]
    assert str(image) in str(caught.value) and ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_worker_error_keeps_its_reason_not_the_traceback() -> None:
    from pytorch_benchmarks.data.errors import DatasetError

    wrapped = ("Caught DatasetError in DataLoader worker process 3.\nOriginal Traceback (most "
               "recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
               "pytorch_benchmarks.data.errors.DatasetError: cannot decode image 'a.jpg': bad\n")
    assert str(DatasetError(wrapped)) == ("cannot decode image 'a.jpg': bad (in DataLoader "
                                          "worker process 3)")
    assert str(DatasetError("plain")) == "plain"


# --- prepare ------------------------------------------------------------------------------------

def _count_lmdb(path: Path) -> int:
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        return int(env.stat()["entries"])
    finally:
        env.close()


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("kind", ["imagefolder", "lmdb"])
def test_prepare_refuses_a_folder_that_holds_other_files(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    done = make(kind, out)
    assert done.returncode == 2 and "not a dataset made by this tool" in done.stderr
    assert "left untouched" in done.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "years of work"


def test_prepare_refuses_a_dataset_it_did_not_mark(tmp_path: Path) -> None:
    """An LMDB made by other means (or by an older prepare) is not replaced."""
    out = tmp_path / "lmdb"
    prepare.make_lmdb(str(out), 5, 2, 16)
    done = make("lmdb", out)
    assert done.returncode == 2 and prepare.MARKER in done.stderr
    assert _count_lmdb(out) == 5


def test_prepare_refuses_a_file_or_a_damaged_marker(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    done = make("lmdb", target)
    assert done.returncode == 2 and "is not a folder" in done.stderr and target.read_text() == "x"
    out = tmp_path / "marked"
    out.mkdir()
    (out / prepare.MARKER).write_text("{not json")
    assert make("imagefolder", out).returncode == 2


@pytest.mark.parametrize("extra", [[], ["--raw"]])
def test_prepare_recreates_its_lmdb_without_stale_records(tmp_path: Path,
                                                          extra: list[str]) -> None:
    out = tmp_path / "lmdb"
    assert make("lmdb", out, *extra, num=12).returncode == 0
    assert _count_lmdb(out) == 12
    done = make("lmdb", out, *extra, num=5)
    assert done.returncode == 0, done.stderr
    assert _count_lmdb(out) == 5
    marker = json.loads((out / prepare.MARKER).read_text())
    assert marker["num_images"] == 5 and marker["tool"] == prepare.TOOL
    assert _siblings(out) == ["lmdb"]  # no temporary or old copy left


def test_prepare_recreates_its_image_folder_without_stale_images(tmp_path: Path) -> None:
    out = tmp_path / "images"
    assert make("imagefolder", out, "--num_classes", "4", num=12).returncode == 0
    assert make("imagefolder", out, "--num_classes", "2", num=5).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == [prepare.MARKER, "class_0000", "class_0001"]
    assert len(list(out.rglob("*.jpg"))) == 5 and _siblings(out) == ["images"]


def test_prepare_writes_into_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert make("imagefolder", out, num=4).returncode == 0
    assert (out / prepare.MARKER).is_file() and len(list(out.rglob("*.jpg"))) == 4


@pytest.mark.parametrize("fault", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_recreation_leaves_the_old_dataset_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException) -> None:
    out = tmp_path / "lmdb"
    assert prepare.main(["lmdb", "--out", str(out), "--num_images", "12", "--size", "16"]) == 0
    real = prepare.make_lmdb

    def half_then_fail(folder: str, *args: Any, **kwargs: Any) -> str:
        real(folder, 3, 2, 16)
        raise fault

    monkeypatch.setattr(prepare, "make_lmdb", half_then_fail)
    with pytest.raises(type(fault)):
        prepare.main(["lmdb", "--out", str(out), "--num_images", "5", "--size", "16"])
    assert _count_lmdb(out) == 12 and _siblings(out) == ["lmdb"]
    assert json.loads((out / prepare.MARKER).read_text())["num_images"] == 12


@pytest.mark.parametrize("state", ["new", "empty"])
def test_an_interrupted_first_build_leaves_no_half_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    """Else the next run would refuse the half dataset as not its own."""
    out = tmp_path / "images"
    if state == "empty":
        out.mkdir()
    real = prepare.make_image_folder

    def half_then_fail(folder: str, *args: Any, **kwargs: Any) -> str:
        real(folder, 3, 2, 16)
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "make_image_folder", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        prepare.main(["imagefolder", "--out", str(out), "--num_images", "8", "--size", "16"])
    if state == "empty":
        assert out.is_dir() and not list(out.iterdir())
    assert _siblings(out) == (["images"] if state == "empty" else [])
    monkeypatch.setattr(prepare, "make_image_folder", real)
    assert prepare.main(["imagefolder", "--out", str(out), "--num_images", "8",
                         "--size", "16"]) == 0
    assert len(list(out.rglob("*.jpg"))) == 8
