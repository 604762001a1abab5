"""What a Slurm job's output and queue say, read without a cluster: the rank that failed first,
requeued attempts set apart, literal log paths for sbatch, pending reasons and
``slurm.queue_timeout``. The same behaviour on a real cluster: ``test_slurm_faults.py``."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.runner import Job, runlog
from dlbs.runner.core import Outcome, Summary
from dlbs.slurm import ctl as slurmctl
from dlbs.slurm import endings
from dlbs.slurm import output as slurmoutput
from dlbs.slurm.ctl import JobInfo
from dlbs.slurm.executor import SlurmExecutor
from dlbs.slurm.output import first_failure

TORCHRUN_ROOT_CAUSE = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=========================================================
benchmarks.py FAILED
---------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-23_16:54:22
  host      : {host}
  rank      : {rank} (local_rank: 0)
  exitcode  : {code} (pid: 13325)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 13325
=========================================================
"""
STOPPED = ("srun: launch/slurm: _step_signal: Terminating StepId=3.0\n"
           "srun: error: n1: task 0: Terminated\nsrun: Force Terminated StepId=3.0\n")


@pytest.mark.parametrize("output,who,how", [
    pytest.param("srun: error: n2: task 1: Exited with exit code 3\n" + STOPPED,
                 "rank 1 (node n2)", "exited with code 3", id="exit-code"),
    pytest.param(TORCHRUN_ROOT_CAUSE.format(host="localhost", rank=1, code=-9)
                 + "srun: error: n2: task 1: Exited with exit code 1\n" + STOPPED,
                 "rank 1 (node n2)", "was killed by SIGKILL", id="torchrun-signal"),
    pytest.param(TORCHRUN_ROOT_CAUSE.format(host="n2", rank=5, code=3)
                 + "srun: error: n2: task 1: Exited with exit code 1\n",
                 "rank 5 (node n2, Slurm task 1)", "exited with code 3", id="global-rank"),
    pytest.param(TORCHRUN_ROOT_CAUSE.format(host="n1", rank=0, code=1)
                 + TORCHRUN_ROOT_CAUSE.format(host="n2", rank=1, code=-11)
                 + "srun: error: n2: task 1: Exited with exit code 1\n",
                 "rank 1 (node n2)", "was killed by SIGSEGV", id="the-failing-node's-block"),
    pytest.param("srun: error: n3: tasks 2-3: Segmentation fault (core dumped)\n",
                 "rank 2 (node n3)", "was killed by SIGSEGV", id="task-range-core-dump"),
    pytest.param("srun: error: n2: task 1: Killed\n" + STOPPED,
                 "rank 1 (node n2)", "was killed by SIGKILL", id="killed"),
    pytest.param("srun: error: n2: task 1: Something new\n",
                 "rank 1 (node n2)", "ended: Something new", id="unknown-words"),
    pytest.param(STOPPED + "srun: error: n2: task 1: Exited with exit code 3\n",
                 "rank 0 (node n1)", "was killed by SIGTERM", id="first-line-wins"),
])
def test_the_first_failed_task_and_its_cause(output: str, who: str, how: str) -> None:
    failure = slurmoutput.first_task_failure(output)
    assert failure is not None
    assert (failure.who(), failure.how()) == (who, how)


def test_no_failed_task_is_none() -> None:
    assert slurmoutput.first_task_failure("hello\nsrun: Force Terminated StepId=3.0\n") is None


def test_the_failed_node_is_read_from_srun() -> None:
    text = "srun: error: Node failure on n2\nslurmstepd-n1: error: *** JOB 5 CANCELLED ***\n"
    assert slurmoutput.failed_node(text) == "n2" and slurmoutput.failed_node("x") == ""


def two_node_job(tmp_path: Path, output: str) -> Job:
    log = tmp_path / "x.log"
    header = '__exp.model__="m"\n'
    Path(f"{log}.part").write_text(header + output)
    return Job(index=0, exp={"exp.log_file": str(log), "exp.num_nodes": 2}, log_file=log,
               offset=len(header), handle="7")


@pytest.mark.parametrize("reported,status,error", [
    pytest.param('__results.status__="interrupted"\n', "failure",
                 "rank 1 (node n2) exited with code 3 first; srun then stopped the other ranks",
                 id="the-stopped-rank's-interrupted-is-not-the-status"),
    pytest.param('__results.status__="oom"\n__results.error__="rank 1: OutOfMemoryError: x"\n',
                 "oom", "rank 1 (node n2) exited with code 3 first: OutOfMemoryError: x; srun "
                 "then stopped the other ranks", id="the-failing-rank's-own-status"),
    pytest.param('__results.status__="failure"\n__results.error__="rank 0: gloo: peer closed"\n',
                 "failure", "rank 1 (node n2) exited with code 3 first; srun then stopped the "
                 "other ranks", id="another-rank's-error-is-not-the-cause"),
])
def test_first_failure_status_and_error(tmp_path: Path, reported: str, status: str,
                                        error: str) -> None:
    job = two_node_job(tmp_path, reported + "srun: error: n2: task 1: Exited with exit code 3\n"
                       + STOPPED)
    assert first_failure(job) == (status, error)


def test_one_node_keeps_the_benchmarks_own_word(tmp_path: Path) -> None:
    job = two_node_job(tmp_path, "srun: error: n1: task 0: Exited with exit code 3\n")
    job = dataclasses.replace(job, exp={**job.exp, "exp.num_nodes": 1})  # its view too
    assert first_failure(job) == (None, None)


def mark(job: int, restart: int) -> str:
    return f"dlbs-slurm-attempt: job={job} restart={restart} nodes=n[1-2]\n"


@pytest.mark.parametrize("output,restarts,kept,aside,started", [
    pytest.param(mark(7, 0) + "__a__=1\n", 0, mark(7, 0) + "__a__=1\n", [], True,
                 id="one-attempt"),
    pytest.param("early\n" + mark(7, 0) + "__a__=1\n" + mark(7, 1) + "__b__=2\n", 1,
                 mark(7, 1) + "__b__=2\n", ["early\n" + mark(7, 0) + "__a__=1\n"], True,
                 id="two-attempts"),
    pytest.param(mark(7, 0) + "a\n" + mark(7, 1) + "b\n" + mark(7, 2) + "c\n", 2,
                 mark(7, 2) + "c\n", [mark(7, 0) + "a\n", mark(7, 1) + "b\n"], True,
                 id="three-attempts"),
    pytest.param(mark(7, 0) + "__a__=1\n", 1, "", [mark(7, 0) + "__a__=1\n"], False,
                 id="the-last-attempt-never-started"),
    pytest.param(mark(7, 0) + "a\n" + mark(7, 1) + "b\n", None, mark(7, 1) + "b\n",
                 [mark(7, 0) + "a\n"], True, id="restarts-unknown"),
])
def test_earlier_attempts_are_set_aside(tmp_path: Path, output: str, restarts: int | None,
                                        kept: str, aside: list[str], started: bool) -> None:
    job = two_node_job(tmp_path, output)
    done = slurmoutput.set_aside_attempts(job.log_file, job.part, job.offset, restarts)
    assert job.part.read_text() == '__exp.model__="m"\n' + kept
    assert [p.read_text() for p in done.aside] == aside
    assert [p.name for p in done.aside] == [f"x.log.attempt{i + 1}" for i in range(len(aside))]
    assert done.last_started is started


@pytest.mark.parametrize("path,pattern", [
    ("/logs/run%j/x.log.part", "/logs/run%%j/x.log.part"),
    ("/logs/100%/%%x%x.part", "/logs/100%%/%%%%x%%x.part"),
    ("/logs/plain.part", "/logs/plain.part"),
])
def test_log_paths_reach_sbatch_literally(path: str, pattern: str) -> None:
    assert slurmctl.filename_pattern(path) == pattern


def test_a_backslash_cannot_reach_sbatch() -> None:
    with pytest.raises(RunError, match=r"holds a backslash, which sbatch's --output cannot"):
        slurmctl.filename_pattern("/logs/a\\b/x.log.part")


def test_submit_never_lets_slurm_requeue_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(slurmctl, "run", lambda argv, **kw: calls.append(argv) or "12\n")
    slurmctl.submit("/b.sbatch", "/l%j/x.log.part")
    slurmctl.submit("/b.sbatch", "/x.log.part", requeue=True)
    assert "--no-requeue" in calls[0] and "--requeue" in calls[1]
    assert "--output=/l%%j/x.log.part" in calls[0] and "--error=/l%%j/x.log.part" in calls[0]



@pytest.mark.parametrize("answer, hinted", [
    ("sbatch: error: Invalid generic resource (gres) specification", True),
    ("sbatch: error: Batch job submission failed: Requested node configuration is not available",
     True),
    ("sbatch: error: Batch job submission failed: Invalid partition name specified", False),
])
def test_a_refused_resource_says_which_parameters_ask_for_it(
        monkeypatch: pytest.MonkeyPatch, answer: str, hinted: bool) -> None:
    def refuse(argv: list[str], **kw: object) -> str:
        raise RunError(f"sbatch --parsable failed: {answer}")
    monkeypatch.setattr(slurmctl, "run", refuse)
    with pytest.raises(RunError) as err:
        slurmctl.submit("/b.sbatch", "/x.log.part")
    assert answer in str(err.value)
    assert ("exp.gpus=''" in str(err.value)) is hinted
    assert "\n" not in str(err.value)

class Queue:
    """A scripted ``squeue``: each poll gives the next states; a fake clock advances 1 s."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch,
                 answers: list[dict[str, JobInfo]]) -> None:
        self.answers, self.now = answers, 0.0
        self.cancelled: list[list[str]] = []
        monkeypatch.setattr(slurmctl, "cancel", lambda ids: self.cancelled.append(list(ids)))

    def clock(self) -> float:
        return self.now

    def poll(self, executor: SlurmExecutor) -> None:
        states = self.answers.pop(0)
        executor._watch(states)
        self.now += 1.0


def watched(tmp_path: Path, queue: Queue, **params: Any) -> tuple[SlurmExecutor, list[str]]:
    told: list[str] = []
    executor = SlurmExecutor(clock=queue.clock)
    executor.attach_note(lambda index, text: told.append(text))
    job = two_node_job(tmp_path, "")
    job = dataclasses.replace(job, exp={**job.exp, **params})  # its view too
    executor._jobs["7"] = job
    return executor, told


def pending(reason: str) -> dict[str, JobInfo]:
    return {"7": JobInfo("7", "PENDING", reason=reason)}


def test_the_pending_reason_is_told_once_per_change(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    reasons = ["None", "Resources", "Resources", "ReqNodeNotAvail, UnavailableNodes:n2",
               "ReqNodeNotAvail, UnavailableNodes:n2", "Resources"]
    queue = Queue(monkeypatch, [pending(r) for r in reasons])
    executor, told = watched(tmp_path, queue)
    for _ in reasons:
        queue.poll(executor)
    prefix = "pending: Slurm job 7 (x.log): "
    assert told == [prefix + "Resources", prefix + "ReqNodeNotAvail, UnavailableNodes:n2",
                    prefix + "Resources"]
    assert queue.cancelled == []  # slurm.queue_timeout=0: waits as long as it takes


@pytest.mark.parametrize("reasons,cancelled_at", [
    pytest.param(["Resources"] * 6, 4, id="pending-past-the-limit"),
    pytest.param(["Dependency"] * 6, None, id="a-dependency-is-the-plan's-order"),
    pytest.param(["Resources", "Resources", "RUNNING", "Resources", "Resources", "Resources"],
                 None, id="the-clock-starts-again-after-a-run"),
])
def test_queue_timeout_counts_time_pending(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           reasons: list[str],
                                           cancelled_at: int | None) -> None:
    answers = [{"7": JobInfo("7", "RUNNING")} if r == "RUNNING" else pending(r)
               for r in reasons]
    queue = Queue(monkeypatch, answers)
    executor, _ = watched(tmp_path, queue, **{"slurm.queue_timeout": 3})
    polls = []
    for index in range(len(reasons)):
        queue.poll(executor)
        polls.append(index)
        if queue.cancelled:
            break
    assert (polls[-1] if queue.cancelled else None) == cancelled_at
    if queue.cancelled:
        status, error = endings.verdict(JobInfo("7", "CANCELLED"), executor._jobs["7"],
                                        executor._cancelled["7"], executor._reasons["7"])
        assert status == "pending_timeout"
        assert error == ("still pending after 3 s in the queue (slurm.queue_timeout), Slurm's "
                         "reason: Resources; dlbs cancelled the job, and the next run of the "
                         "plan submits it again")


def test_a_job_back_in_the_queue_is_told_requeued(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    queue = Queue(monkeypatch, [{"7": JobInfo("7", "RUNNING")}, pending("BeginTime")])
    executor, told = watched(tmp_path, queue)
    end = Path(f"{executor._jobs['7'].log_file}.end")
    end.write_text("0\n")  # the killed attempt's
    queue.poll(executor)
    queue.poll(executor)
    assert told[0].startswith("requeued: Slurm job 7 (x.log) is back in the queue")
    assert told[1] == "pending: Slurm job 7 (x.log): BeginTime"
    assert not end.exists()  # a pending job has no end: polling stays gentle


def test_a_requeue_between_two_looks_is_told_too(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    queue = Queue(monkeypatch, [pending("BeginTime")])
    executor, told = watched(tmp_path, queue)
    executor._jobs["7"].part.write_text('__exp.model__="m"\n' + mark(7, 0))
    queue.poll(executor)
    assert told[0].startswith("requeued: ")


def test_restarts_are_a_fact_a_warning_and_a_summary_line(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    job = two_node_job(tmp_path, mark(7, 0) + '__exp.warnings__=["first"]\n' + mark(7, 1)
                       + '__exp.warnings__=["last"]\n__results.status__="ok"\n')
    monkeypatch.setattr(slurmctl, "end_info", lambda job_id: JobInfo(
        "7", "COMPLETED", exit_code=0, restarts=1))
    ending = SlurmExecutor()._ending(job)
    facts = dict(ending.facts)
    assert facts["results.slurm_restarts"] == 1 and ending.stopped is None
    assert facts["exp.warnings"][0] == "last" and len(facts["exp.warnings"]) == 2
    assert ending.warning == facts["exp.warnings"][1]
    assert "Slurm requeued this job once" in ending.warning and "x.log.attempt1" in ending.warning
    summary = Summary(total=1, outcomes=[Outcome("ok", 1.0, "x.log", warning=ending.warning)])
    assert f"  warning: x.log: {ending.warning}" in summary.text()
    assert summary.exit_code == 0


def test_a_requeued_job_whose_last_attempt_never_started_fails(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    job = two_node_job(tmp_path, mark(7, 0) + "srun: error: n2: task 1: Terminated\n")
    monkeypatch.setattr(slurmctl, "end_info", lambda job_id: JobInfo(
        "7", "FAILED", exit_code=1, restarts=1))
    ending = SlurmExecutor()._ending(job)
    assert ending.stopped == "failure"
    assert str(ending.error).startswith("the last attempt of the requeued Slurm job (restart 1) "
                                        "never started its batch script")
    assert "rank" not in str(ending.error)  # the first attempt's srun lines are not its cause


@pytest.mark.parametrize("status,state", [
    ("pending_timeout", runlog.LogState.INCOMPLETE), ("interrupted", runlog.LogState.INCOMPLETE),
    ("node_failure", runlog.LogState.FAILED), ("ok", runlog.LogState.OK),
])
def test_a_pending_timeout_runs_again_like_an_interruption(tmp_path: Path, status: str,
                                                           state: runlog.LogState) -> None:
    log = tmp_path / "x.log"
    log.write_text(f'__exp.runner_start_time__="t"\n__results.exit_code__=null\n'
                   f'__results.status__="{status}"\n')
    assert runlog.classify_log(log) == (state, status)


def test_progress_notes_reach_the_stream_and_the_file(tmp_path: Path) -> None:
    import io
    import json

    from dlbs.runner.progress import Progress
    stream = io.StringIO()
    progress = Progress(1, str(tmp_path / "p.json"), stream, bar=False)
    progress.start(0, Experiment.of({"exp.model": "m", "exp.log_file": "x.log"}))
    progress.note(0, "pending: Slurm job 7 (x.log): Resources")
    assert "pending: Slurm job 7 (x.log): Resources\n" in stream.getvalue()
    current = json.loads((tmp_path / "p.json").read_text())["current"]
    assert current["note"] == "pending: Slurm job 7 (x.log): Resources"


@pytest.mark.parametrize("option,hint", [
    ("--requeue", "use -Pslurm.requeue=true"), ("--no-requeue", "it is the default"),
    ("--output=/x/%j.out", "reads the job's output"), ("-e/x.err", "reads the job's errors"),
    ("--open-mode=truncate", "appends the job's output"),
])
def test_extra_args_that_the_command_line_would_override_are_refused(option: str,
                                                                     hint: str) -> None:
    from dlbs.errors import ValidationError
    from dlbs.slurm.script import extra_args
    with pytest.raises(ValidationError, match="is set by dlbs on sbatch's command line") as err:
        extra_args(Experiment.of({"slurm.extra_args": ["--constraint=a100", option]}))
    assert hint in str(err.value) and "\n" not in str(err.value)


def test_a_replaced_logs_old_attempt_files_go_with_it(tmp_path: Path) -> None:
    """An earlier run of the log was requeued (X.log.attempt1); the log is replaced by a run
    Slurm ran once: the old side file would be read as this log's, so it goes; a side file of
    this job's own attempts stays."""
    import os
    import time

    from dlbs.runner.core import drop_stale_attempts
    from dlbs.runner.job import Job

    log = tmp_path / "x.log"
    log.write_text("__results.status__=\"ok\"\n")
    stale, fresh = tmp_path / "x.log.attempt1", tmp_path / "x.log.attempt2"
    stale.write_text("old run\n")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    job = Job(0, {"exp.log_file": str(log)}, log, started=time.monotonic() - 60)
    fresh.write_text("this run\n")
    other = tmp_path / "y.log.attempt1"  # another log's
    other.write_text("other\n")
    os.utime(other, (an_hour_ago, an_hour_ago))
    drop_stale_attempts(job)
    assert not stale.exists() and fresh.exists() and other.exists()
