"""A disk that fills while ``benchmarks.py --log_file`` writes: the log keeps only whole fact
lines (never one cut in the middle), the facts that could not go there are on stdout, and the
run exits 1 with one ``error:`` line (simulated ``ENOSPC``; docs/reliability.md has the tmpfs
check by hand)."""
from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
import safeio
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.output.reporter import Reporter

from .conftest import FEW, TINY_MLP

#: the root conftest's ``fill_disk`` fixture: (path, capacity in bytes)
FillDisk = Callable[[Path, int], None]


def test_a_failed_append_leaves_the_file_as_it_was(
        monkeypatch: pytest.MonkeyPatch,
        fill_disk: FillDisk,
        tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("__a__=1\n")
    fill_disk(log, capacity=12)
    with pytest.raises(OSError) as info:
        safeio.append_whole(log, "__b__=\"a long value\"\n")
    assert info.value.errno == errno.ENOSPC and log.read_text() == "__a__=1\n"


def test_facts_that_do_not_fit_go_to_stdout_whole(
        monkeypatch: pytest.MonkeyPatch,
        fill_disk: FillDisk,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    reporter = Reporter(str(log))
    reporter.facts({"exp.model": "resnet50"})
    fill_disk(log, capacity=log.stat().st_size + 10)
    reporter.facts({"results.throughput": 123.5, "results.status": "ok"})
    assert log.read_text() == '__exp.model__="resnet50"\n'  # no line cut in the middle
    out = capsys.readouterr().out
    assert dict(iter_facts(out.splitlines())) == {"results.throughput": 123.5,
                                                  "results.status": "ok"}
    assert reporter.log_error == f"cannot append to --log_file {log}: [Errno 28] No space " \
                                 "left on device"


def test_a_disk_that_fills_during_the_run_is_an_error(
        monkeypatch: pytest.MonkeyPatch,
        fill_disk: FillDisk,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    fill_disk(log, capacity=1200)  # the first facts fit, the results do not
    assert benchmarks.main([*TINY_MLP, *FEW, "--log_file", str(log)]) == 1
    out, err = capsys.readouterr()
    text = log.read_text()
    assert text.endswith("\n") and all(line.startswith("__") for line in text.splitlines())
    assert "results.throughput" in dict(iter_facts(out.splitlines()))  # kept, on stdout
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [(f"error: cannot append to --log_file {log}: [Errno 28] No space left on "
                       "device; the log ends at its last whole fact, the facts from then on "
                       "are on stdout")]
