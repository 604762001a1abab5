"""The sweep core over any executor: capacity, adopting jobs left in flight, --detach.

A scripted in-memory executor stands in for a scheduler (the real ones are tested in
test_runner.py and test_slurm.py); the core writes real logs.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from dlbs.dispatch.status import local_state, summary_line
from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.runner import Ending, Job, Runner

from .test_runner import facts_of


class ScriptedExecutor:
    """Jobs 'run' by writing the benchmark's facts; each wait() ends the oldest job."""

    name = "scripted"
    deferred = False

    def __init__(self, capacity: int, detached: bool = False,
                 left: Mapping[str, Ending | None] | None = None) -> None:
        self.capacity, self.detached = capacity, detached
        self.left = dict(left or {})  # log file -> ending (None: still running)
        self.inflight: list[Job] = []
        self.most_in_flight = 0
        self.started: list[str] = []

    def recover(self, index: int, exp: Experiment) -> tuple[Job, Ending | None] | None:
        log = exp.log_file
        if log not in self.left:
            return None
        job = Job(index=index, exp=exp.raw, log_file=Path(log), offset=0, made=exp)
        ending = self.left.pop(log)
        if ending is None:
            self.inflight.append(job)
        return job, ending

    def attach_note(self, note: Callable[[int, str], None]) -> None:
        pass

    def flush(self) -> list[tuple[Job, Ending]]:
        return []

    def start(self, job: Job) -> None:
        with job.part.open("a") as out:
            out.write('__results.status__="ok"\n')
        self.started.append(str(job.log_file))
        self.inflight.append(job)
        self.most_in_flight = max(self.most_in_flight, len(self.inflight))

    def wait(self) -> list[tuple[Job, Ending]]:
        return [(self.inflight.pop(0), Ending(exit_code=0, facts=[("results.slurm_job_id", 1)]))]

    def stop(self, reason: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def runner(executor: ScriptedExecutor) -> Runner:
    return Runner(out=io.StringIO(), err=io.StringIO(), bar=False, executor=executor)


def test_capacity_bounds_the_jobs_in_flight(make_exp: Callable[..., dict[str, Any]]) -> None:
    exps = [make_exp() for _ in range(5)]
    executor = ScriptedExecutor(capacity=2)
    summary = runner(executor).run(exps)
    assert summary.count("ok") == 5 and executor.most_in_flight == 2
    assert all(facts_of(e["exp.log_file"])["results.slurm_job_id"] == 1 for e in exps)


def test_detached_jobs_are_submitted_not_waited_for(
        make_exp: Callable[..., dict[str, Any]]) -> None:
    exps = [make_exp() for _ in range(3)]
    executor = ScriptedExecutor(capacity=1, detached=True)
    summary = runner(executor).run(exps)
    assert summary.count("submitted") == 3 and summary.exit_code == 0
    assert len(executor.inflight) == 3  # nobody waited
    assert "3 submitted" in summary.text()
    assert all(local_state(0, Experiment.of(e)).state == "incomplete" for e in exps)  # .part, no job record


def test_a_job_still_running_is_adopted_not_started_again(
        make_exp: Callable[..., dict[str, Any]]) -> None:
    running, fresh = make_exp(), make_exp()
    Path(running["exp.log_file"]).parent.mkdir(parents=True)
    Path(f"{running['exp.log_file']}.part").write_text('__results.status__="ok"\n')
    executor = ScriptedExecutor(capacity=1, left={running["exp.log_file"]: None})
    summary = runner(executor).run([running, fresh])
    assert summary.count("ok") == 2
    assert executor.started == [fresh["exp.log_file"]]


def test_a_job_that_ended_unwatched_is_recorded_then_rerun_decides(
        make_exp: Callable[..., dict[str, Any]]) -> None:
    failed = make_exp(params={"exp.rerun": "never"})
    again = make_exp(params={"exp.rerun": "onfail"})
    for exp in (failed, again):
        Path(exp["exp.log_file"]).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{exp['exp.log_file']}.part").write_text('__results.status__="failure"\n')
    ended = Ending(exit_code=1, stopped="node_failure", error="a node failed")
    executor = ScriptedExecutor(capacity=1, left={failed["exp.log_file"]: ended,
                                                  again["exp.log_file"]: ended})
    summary = runner(executor).run([failed, again])
    assert facts_of(failed["exp.log_file"])["results.status"] == "node_failure"
    assert [o.status for o in summary.outcomes] == ["node_failure", "ok"]
    assert executor.started == [again["exp.log_file"]]  # onfail re-submitted it
    states = [local_state(i, Experiment.of(e)) for i, e in enumerate([failed, again])]
    assert summary_line(states) == "2 experiments: 2 done (1 node_failure, 1 ok)"


def test_status_of_local_logs(make_exp: Callable[..., dict[str, Any]]) -> None:
    done, part, none, off = (make_exp(), make_exp(), make_exp(),
                             make_exp(params={"exp.status": "disabled"}))
    runner(ScriptedExecutor(capacity=1)).run([done])
    Path(f"{part['exp.log_file']}.part").write_text("")
    states = [local_state(i, Experiment.of(e)) for i, e in enumerate([done, part, none, off])]
    assert [s.state for s in states] == ["done", "incomplete", "not run", "disabled"]
    assert states[0].status == "ok"


class BrokenStart(ScriptedExecutor):
    """An executor whose start fails with an OSError (a script it cannot open, a fork refused)."""

    def start(self, job: Job) -> None:
        if "broken" in str(job.log_file):
            raise OSError(24, "Too many open files", str(job.part))
        super().start(job)


def test_an_os_error_at_start_fails_that_experiment_typed_and_the_sweep_goes_on(
        make_exp: Callable[..., dict[str, Any]]) -> None:
    broken, fine = make_exp("broken"), make_exp()
    executor = BrokenStart(capacity=1)
    summary = runner(executor).run([broken, fine])
    assert [o.status for o in summary.outcomes] == ["failure", "ok"]
    facts = facts_of(broken["exp.log_file"])
    assert facts["results.error"].startswith("could not start: Too many open files")
    assert executor.closed


def test_an_error_that_stops_the_sweep_is_not_called_finished(
        make_exp: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    progress = tmp_path / "progress.json"
    no_log = make_exp(params={"exp.log_file": ""})
    with pytest.raises(RunError, match="exp.log_file is not set"):
        Runner(progress_file=str(progress), out=io.StringIO(), err=io.StringIO(), bar=False,
               executor=ScriptedExecutor(capacity=1)).run([make_exp(), no_log])
    assert json.loads(progress.read_text())["state"] == "error"
