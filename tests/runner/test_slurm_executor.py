"""The Slurm executor's decisions that need no cluster: lost end states, a silent controller."""
from __future__ import annotations

from pathlib import Path

import pytest

from dlbs.errors import RunError
from dlbs.runner import Job
from dlbs.slurm import ctl as slurmctl
from dlbs.slurm import endings
from dlbs.slurm import executor as slurm
from dlbs.slurm.ctl import JobInfo
from dlbs.slurm.executor import SlurmExecutor


def lost_job(tmp_path: Path, output: str) -> Job:
    log = tmp_path / "x.log"
    Path(f"{log}.part").write_text('__exp.model__="m"\n' + output)
    return Job(index=0, exp={"exp.log_file": str(log)}, log_file=log, offset=0, handle="42")


def test_lost_end_state_of_a_finished_benchmark_is_ok_with_a_warning(tmp_path: Path) -> None:
    job = lost_job(tmp_path, '__results.throughput__=3.5\n__results.status__="ok"\n'
                             '__exp.warnings__=["earlier"]\n')
    ending = endings.lost(job, "42", [])
    assert ending.exit_code == 0 and ending.stopped is None
    warnings = dict(ending.facts)["exp.warnings"]
    assert warnings[0] == "earlier" and "no longer knows" in warnings[1]


def test_lost_end_state_of_an_unfinished_benchmark_is_interrupted(tmp_path: Path) -> None:
    ending = endings.lost(lost_job(tmp_path, ""), "42", [])
    assert ending.stopped == "interrupted" and "did not finish" in str(ending.error)
    assert dict(ending.facts)["results.slurm_state"] == "UNKNOWN"


def test_a_silent_controller_is_retried_then_named(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    now = [0.0]
    executor = SlurmExecutor(clock=lambda: now[0])
    executor._jobs["7"] = lost_job(tmp_path, "")
    answers: list[object] = [RunError("squeue -h failed: timeout"),
                             {"7": JobInfo("7", "RUNNING")}]

    def queue(ids: object) -> object:
        answer = answers.pop(0) if answers else RunError("squeue -h failed: down")
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(slurmctl, "queue", queue)
    assert executor._queue() is None  # one failure: retried later
    assert executor._queue() == {"7": JobInfo("7", "RUNNING")}
    assert executor._queue() is None
    now[0] = slurm.LOST_CONTACT_S + 1
    with pytest.raises(RunError, match="lost contact with Slurm .* run the same plan again"):
        executor._queue()


def test_a_job_whose_record_cannot_be_written_is_cancelled(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Without its ``.job`` record no later run could adopt the job: it would run twice."""
    cancelled: list[list[str]] = []
    monkeypatch.setattr(slurmctl, "submit", lambda *args, **kwargs: "99")
    monkeypatch.setattr(slurmctl, "cancel", lambda ids: cancelled.append(list(ids)))
    monkeypatch.setattr(slurm, "build_batch_script", lambda *args: "#!/bin/bash\n")

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(slurm, "write_job_file", no_space)
    job = lost_job(tmp_path, "")
    job.script = tmp_path / "x.sh"
    with pytest.raises(RunError, match=r"job 99 was submitted .*\(No space left on device\); it was cancelled"):
        SlurmExecutor().start(job)
    assert cancelled == [["99"]]
