"""A disk that fills when the runner appends a log's trailer: no trailer is left cut in the
middle, the ``.part`` with the benchmark's facts is kept (its name says it is incomplete), and
the experiment fails naming it; a trailer always starts on a line of its own."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pytorch_benchmarks.facts import iter_facts

from dlbs.runner import Runner, runlog
from dlbs.runner.job import Ending, Job

#: the root conftest's ``fill_disk`` fixture: (path, capacity in bytes)
FillDisk = Callable[[Path, int], None]


def test_a_trailer_starts_on_its_own_line(tmp_path: Path) -> None:
    part = tmp_path / "a.log.part"
    part.write_text("__results.status__=\"ok\"\nprogress without a newline")
    runlog.append_facts(part, [("results.exit_code", 0)])
    assert part.read_text().endswith("progress without a newline\n__results.exit_code__=0\n")


def test_a_trailer_that_does_not_fit_keeps_the_part(
        monkeypatch: pytest.MonkeyPatch,
        fill_disk: FillDisk,
        tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    part = runlog.part_file(log)
    benchmark = '__results.throughput__=123.5\n__results.status__="ok"\n'
    part.write_text(benchmark)
    fill_disk(part, capacity=len(benchmark) + 20)
    exp = {"exp.log_file": str(log), "exp.id": "x", "exp.sys_info": ""}
    outcome = Runner(out=io.StringIO(), err=io.StringIO()).finish(
        Job(index=0, exp=exp, log_file=log), Ending(exit_code=0))
    assert outcome.status == "failure"
    assert outcome.error == (f"cannot write the log: No space left on device; what the run "
                             f"wrote is kept in {part}")
    assert part.read_text() == benchmark and not log.exists()  # nothing cut, nothing lost
    assert dict(iter_facts(part.read_text().splitlines()))["results.throughput"] == 123.5
