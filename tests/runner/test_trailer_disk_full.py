"""A disk that fills when the runner appends a log's trailer: no trailer is left cut in the
middle, the ``.part`` with the benchmark's facts is kept (its name says it is incomplete), and
the experiment fails naming it; a trailer always starts on a line of its own."""
from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import safeio
from pytorch_benchmarks.facts import iter_facts

from dlbs.runner import Runner, runlog
from dlbs.runner.job import Ending, Job


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, path: Path, capacity: int) -> None:
    """Writes to ``path`` fail with ENOSPC once it holds ``capacity`` bytes."""
    real_write: Callable[[int, bytes], int] = os.write

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") != str(path):
            return real_write(fd, data)
        room = capacity - os.fstat(fd).st_size
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, bytes(data[:room]))

    monkeypatch.setattr(safeio.os, "write", write)


def test_a_trailer_starts_on_its_own_line(tmp_path: Path) -> None:
    part = tmp_path / "a.log.part"
    part.write_text("__results.status__=\"ok\"\nprogress without a newline")
    runlog.append_facts(part, [("results.exit_code", 0)])
    assert part.read_text().endswith("progress without a newline\n__results.exit_code__=0\n")


def test_a_trailer_that_does_not_fit_keeps_the_part(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    part = runlog.part_file(log)
    benchmark = '__results.throughput__=123.5\n__results.status__="ok"\n'
    part.write_text(benchmark)
    fill_disk_at(monkeypatch, part, capacity=len(benchmark) + 20)
    exp = {"exp.log_file": str(log), "exp.id": "x", "exp.sys_info": ""}
    outcome = Runner(out=io.StringIO(), err=io.StringIO()).finish(
        Job(index=0, exp=exp, log_file=log), Ending(exit_code=0))
    assert outcome.status == "failure"
    assert outcome.error == (f"cannot write the log: No space left on device; what the run "
                             f"wrote is kept in {part}")
    assert part.read_text() == benchmark and not log.exists()  # nothing cut, nothing lost
    assert dict(iter_facts(part.read_text().splitlines()))["results.throughput"] == 123.5
