"""Job arrays (``slurm.array=true``) against the real two-node cluster, as a user runs them.

A sweep goes to Slurm as one ``sbatch`` per group of experiments that ask for the same
resources; each task runs one experiment's batch script into that experiment's log.
"""
from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.experiment import Experiment
from dlbs.runner.job import Job
from dlbs.slurm import ctl as slurmctl
from dlbs.slurm.executor import SlurmExecutor
from dlbs.slurm.jobfile import read_job_file
from dlbs.slurm.script import MAX_ARRAY_TASKS

from .test_runner import facts_of
from .test_slurm import SMALL, active_jobs, dlbs, logs, wait_for

ARRAY = ["-Pslurm.array=true"]
TASK_ID = re.compile(r"^(\d+)_(\d+)$")


def task_ids(tmp_path: Path) -> list[tuple[str, int]]:
    """(array id, task) of every log's ``results.slurm_job_id``, in log order."""
    found = []
    for log in logs(tmp_path):
        match = TASK_ID.match(str(facts_of(log)["results.slurm_job_id"]))
        assert match, f"{log}: results.slurm_job_id is not ARRAYID_TASK"
        found.append((match.group(1), int(match.group(2))))
    return found


@pytest.mark.slurm
def test_a_sweep_is_one_array_of_tasks(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", *ARRAY, "-Vexp.replica_batch=[2, 4, 8]")
    assert result.returncode == 0, result.stderr
    assert "3 ok" in result.stderr
    ids = task_ids(tmp_path)
    assert len({array for array, _ in ids}) == 1, ids  # one sbatch
    assert sorted(task for _, task in ids) == [0, 1, 2]
    for log in logs(tmp_path):
        facts = facts_of(log)
        assert facts["results.status"] == "ok" and facts["results.slurm_state"] == "COMPLETED"
        assert facts["results.throughput"] > 0
        assert facts["results.slurm_restarts"] == 0
    (script,) = (tmp_path / "logs").glob("*.array.sbatch")
    assert "#SBATCH --array=0-2%1" in script.read_text()  # slurm.max_jobs=1
    assert not list((tmp_path / "logs").glob("*.log.job"))  # every task recorded


@pytest.mark.slurm
def test_experiments_asking_other_resources_go_into_their_own_array(slurm: str,
                                                                    tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", *ARRAY, "-Vslurm.cpus_per_task=[1, 2]",
                  "-Vexp.replica_batch=[2, 4]")
    assert result.returncode == 0, result.stderr
    by_cpus: dict[int, set[str]] = {}
    for log, (array, _) in zip(logs(tmp_path), task_ids(tmp_path)):
        by_cpus.setdefault(int(facts_of(log)["slurm.cpus_per_task"]), set()).add(array)
    assert sorted(by_cpus) == [1, 2]
    assert all(len(arrays) == 1 for arrays in by_cpus.values()), by_cpus
    assert by_cpus[1] != by_cpus[2]
    scripts = sorted((tmp_path / "logs").glob("*.array.sbatch"))
    assert len(scripts) == 2
    assert {"--cpus-per-task=1", "--cpus-per-task=2"} == {
        line.split()[1] for s in scripts for line in s.read_text().splitlines()
        if line.startswith("#SBATCH --cpus-per-task")}


@pytest.mark.slurm
def test_two_tasks_in_flight_with_max_jobs_2(slurm: str, tmp_path: Path,
                                             bench_dir: Path) -> None:
    """Each task runs a stand-in that ends ok only once both have started: both ok proves
    that ``%2`` let them run together."""
    meet = tmp_path / "meet"
    result = dlbs(tmp_path, "run", *ARRAY, "--no-validation", "-Pslurm.max_jobs=2",
                  "-Pexp.model=meet", f"-Ppytorch.bench_path={bench_dir}",
                  f"-Pruntime.env.MEET_FILE={meet}", "-Pruntime.env.MEET_COUNT=2",
                  '-Vexp.replica_batch=[2, 4]')
    assert result.returncode == 0, result.stderr
    assert [facts_of(log)["results.status"] for log in logs(tmp_path)] == ["ok", "ok"]
    assert sorted(facts_of(log)["results.nodes"][0] for log in logs(tmp_path)) == ["n1", "n2"]
    (script,) = (tmp_path / "logs").glob("*.array.sbatch")
    assert "#SBATCH --array=0-1%2" in script.read_text()


@pytest.mark.slurm
def test_detach_status_and_resume_follow_array_tasks(slurm: str, tmp_path: Path) -> None:
    plan = ["-Vexp.replica_batch=[2, 4]", *ARRAY]
    submitted = dlbs(tmp_path, "run", *plan, "--detach")
    assert submitted.returncode == 0, submitted.stderr
    assert "2 submitted" in submitted.stderr
    records = [read_job_file(str(p).removesuffix(".job"))
               for p in sorted((tmp_path / "logs").glob("*.log.job"))]
    ids = [str(r["job_id"]) for r in records if r]
    assert len(ids) == 2 and all(TASK_ID.match(i) for i in ids), ids
    assert len({i.split("_")[0] for i in ids}) == 1
    status = dlbs(tmp_path, "status", *plan)
    assert status.returncode == 0, status.stderr
    assert all(i in status.stdout for i in ids), status.stdout
    resumed = dlbs(tmp_path, "run", *plan)  # adopts the two tasks, submits nothing
    assert resumed.returncode == 0, resumed.stderr
    got = sorted(str(facts_of(log)["results.slurm_job_id"]) for log in logs(tmp_path))
    assert got == sorted(ids)
    assert all(facts_of(log)["results.status"] == "ok" for log in logs(tmp_path))
    done = dlbs(tmp_path, "status", *plan, "--format", "summary")
    assert done.stdout.strip() == "2 experiments: 2 done (2 ok)"


@pytest.mark.slurm
def test_ctrl_c_cancels_every_task_and_a_rerun_repeats_them(slurm: str,
                                                           tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *SMALL, *ARRAY, "-Pexp.num_batches=100000",
         "-Vexp.replica_batch=[2, 4]", f"-Pexp.log_dir={tmp_path / 'logs'}",
         "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(line.endswith("|RUNNING") for line in active_jobs()), 300,
             "a task to run")
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode != 0, err
    wait_for(lambda: not active_jobs(), 120, "the tasks to be cancelled")
    # the task that ran is interrupted; the one still queued (%1) never ran: no log, and the
    # summary counts it as not started, never as a failure with a duration
    statuses = sorted(facts_of(log)["results.status"] for log in logs(tmp_path))
    assert statuses == ["interrupted"], statuses
    assert "1 failed" in err and "1 not started" in err, err
    assert not list((tmp_path / "logs").glob("*.part"))
    assert not list((tmp_path / "logs").glob("*.log.job"))
    status = dlbs(tmp_path, "status", *ARRAY, "-Pexp.num_batches=100000",
                  "-Vexp.replica_batch=[2, 4]")
    assert "the next run repeats it" in status.stdout, status.stdout
    assert "not run" in status.stdout, status.stdout


@pytest.mark.slurm
def test_a_task_cancelled_outside_dlbs_is_cancelled_and_the_others_run(slurm: str,
                                                                      tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *SMALL, *ARRAY, "-Vexp.num_batches=[100000, 2]",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(line.endswith("_0|RUNNING") for line in active_jobs()), 300,
             "task 0 to run")
    task = next(line.split("|")[0] for line in active_jobs() if line.endswith("_0|RUNNING"))
    subprocess.run(["scancel", task], check=True)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 1, err
    by_task = {int(str(facts_of(log)["results.slurm_job_id"]).split("_")[1]): facts_of(log)
               for log in logs(tmp_path)}
    assert by_task[0]["results.status"] == "cancelled"
    assert "outside dlbs" in by_task[0]["results.error"]
    assert by_task[1]["results.status"] == "ok"


@pytest.mark.slurm
def test_a_link_planted_at_the_array_script_fails_its_experiments_only(slurm: str,
                                                                       tmp_path: Path) -> None:
    plan = dlbs(tmp_path, "print", *ARRAY, "-Vexp.replica_batch=[2, 4]")
    experiments = json.loads(plan.stdout)  # the array is named after the first experiment
    stem = experiments[0]["exp.log_file"].removesuffix(".log") + ".array.sbatch"
    target = tmp_path / "elsewhere"
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    Path(stem).symlink_to(target)
    result = dlbs(tmp_path, "run", *ARRAY, "-Vexp.replica_batch=[2, 4]")
    assert result.returncode == 1
    assert not target.exists()  # nothing written through the link
    assert not active_jobs()
    for log in logs(tmp_path):
        facts = facts_of(log)
        assert facts["results.status"] == "failure"
        assert "array" in facts["results.error"] and "link" in facts["results.error"]


# -- without a cluster: grouping and splitting -------------------------------------------------
class FakeSubmit:
    """Stands in for ``sbatch`` (no cluster needed to count arrays): records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.dependencies: list[str | None] = []

    def __call__(self, script: str, output: str, dependency: str | None = None,
                 requeue: bool = False) -> str:
        self.calls.append((script, output, requeue))
        self.dependencies.append(dependency)
        return str(100 + len(self.calls))


def test_a_group_larger_than_an_array_is_split(tmp_path: Path, monkeypatch: Any,
                                               make_exp: Any) -> None:
    fake = FakeSubmit()
    monkeypatch.setattr(slurmctl, "submit", fake)
    executor = SlurmExecutor(array=True)
    count = MAX_ARRAY_TASKS + 3
    jobs = []
    for index in range(count):
        exp = make_exp(params={"exp.scheduler": "slurm", "slurm.array": True,
                               "exp.log_file": str(tmp_path / "logs" / f"e{index:05d}.log")})
        log = Path(exp["exp.log_file"])
        log.parent.mkdir(exist_ok=True)
        script = tmp_path / "launch.sh"
        script.write_text("true\n")
        job = Job(index=index, exp=exp, log_file=log, script=script)
        job.part.write_text("header\n")
        executor.start(job)
        jobs.append(job)
    assert not fake.calls  # nothing submitted before every job is handed over
    assert executor.flush() == []
    assert len(fake.calls) == 2
    assert fake.dependencies == [None, "101"]  # max_jobs bounds the sweep: one array after the other
    assert [job.handle for job in jobs[:2]] == ["101_0", "101_1"]
    assert jobs[MAX_ARRAY_TASKS].handle == "102_0" and jobs[-1].handle == "102_2"
    first = Path(fake.calls[0][0]).read_text()
    assert f"#SBATCH --array=0-{MAX_ARRAY_TASKS - 1}%1" in first
    assert "#SBATCH --array=0-2%1" in Path(fake.calls[1][0]).read_text()
    second = Path(fake.calls[1][0]).read_text()
    assert f"/e{MAX_ARRAY_TASKS:05d}.sbatch /" in second  # task 0 of the second array
    assert f"/e{MAX_ARRAY_TASKS:05d}.log.part\n" in second


def test_a_failed_submission_fails_the_tasks_of_that_array_only(tmp_path: Path,
                                                               monkeypatch: Any,
                                                               make_exp: Any) -> None:
    from dlbs.errors import RunError

    def submit(script: str, output: str, dependency: str | None = None,
               requeue: bool = False) -> str:
        if "cpus2" in Path(script).name:
            raise RunError("sbatch --parsable failed: Invalid partition name specified")
        return "7"

    monkeypatch.setattr(slurmctl, "submit", submit)
    executor = SlurmExecutor(array=True)
    jobs = []
    for index, cpus in enumerate((1, 2)):
        exp = make_exp(params={"exp.scheduler": "slurm", "slurm.array": True,
                               "slurm.cpus_per_task": cpus,
                               "exp.log_file": str(tmp_path / f"cpus{cpus}.log")})
        script = tmp_path / "launch.sh"
        script.write_text("true\n")
        job = Job(index=index, exp=exp, log_file=Path(exp["exp.log_file"]), script=script)
        job.part.write_text("header\n")
        executor.start(job)
        jobs.append(job)
    failed = executor.flush()
    assert [job for job, _ in failed] == [jobs[1]]
    assert "Invalid partition name" in str(failed[0][1].error)
    assert jobs[0].handle == "7_0"


def test_an_array_script_is_golden() -> None:
    from dlbs.slurm.script import array_group, build_array_script

    from .test_cli_run import check_golden
    from .test_gpu_centre import _exp

    exp = _exp(slurm__partition="dgx", slurm__gres="gpu:a100:8", slurm__cpus_per_gpu=12,
               slurm__array=True, slurm__max_jobs=4, slurm__requeue=True)
    group = array_group(Experiment.of(exp))
    assert group[0] == "--requeue" and not any(o.startswith("--job-name") for o in group)
    tasks = [(f"/logs/a 'b' {i}.sbatch", f"/logs/a 'b' {i}.log.part") for i in range(3)]
    check_golden("slurm_array.sbatch", build_array_script(group, tasks, 4))


def test_build_scripts_writes_the_arrays_a_run_would_submit(tmp_path: Path) -> None:
    from .test_gpu_centre import _experimenter

    logs = tmp_path / "logs"
    done = _experimenter("build", "-Pexp.scheduler=slurm", "-Pslurm.array=true",
                         "-Pexp.model=alexnet",
                         "-Vslurm.cpus_per_task=[1, 2]", "-Vexp.replica_batch=[2, 4, 8]",
                         f"-Pexp.log_dir={logs}", "--scripts", str(tmp_path / "review"),
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "of 6 experiment(s)" in done.stderr
    index = json.loads((tmp_path / "review" / "index.json").read_text())
    arrays = [entry for entry in index if "array_script" in entry]
    experiments = [entry for entry in index if "array_script" not in entry]
    assert len(arrays) == 2 and len(experiments) == 6
    for entry in arrays:
        text = (tmp_path / "review" / entry["array_script"]).read_text()
        assert "#SBATCH --array=0-2%1" in text
        assert entry["submitted_as"].startswith(str(logs))
        assert [task["task"] for task in entry["tasks"]] == [0, 1, 2]
    for entry in experiments:
        assert entry["array"]["script"] in {a["array_script"] for a in arrays}
    # how the run submits them: the second array after the end of the first
    assert [a["after"] for a in arrays] == [None, "array_0.sbatch"]
    assert "--dependency" not in arrays[0]["sbatch"]
    assert "--dependency=afterany:<job id of array_0.sbatch>" in arrays[1]["sbatch"]
    assert arrays[1]["sbatch"].endswith(" " + arrays[1]["submitted_as"])
    assert not logs.exists()  # nothing run


@pytest.mark.slurm
def test_a_task_waiting_for_its_turn_is_not_a_queue_timeout(slurm: str,
                                                           tmp_path: Path) -> None:
    """Task 1 waits while task 0 runs (``%1``: reason JobArrayTaskLimit): that is the plan's
    own order, not a wait for resources, so ``slurm.queue_timeout`` does not count it."""
    result = dlbs(tmp_path, "run", *ARRAY, "-Pslurm.queue_timeout=1",
                  "-Vexp.replica_batch=[2, 4]")
    assert result.returncode == 0, result.stderr
    assert [facts_of(log)["results.status"] for log in logs(tmp_path)] == ["ok", "ok"]
    assert "JobArrayTaskLimit" in result.stderr  # it was told, not counted


@pytest.mark.slurm
def test_queued_tasks_run_what_was_submitted_whatever_is_written_later(
        slurm: str, tmp_path: Path) -> None:
    """The task list is inside the array's script, which Slurm keeps as submitted: a later
    run that writes the same file (another array named after the same first log) cannot
    change what a queued task runs."""
    plan = [*ARRAY, "-Vexp.replica_batch=[2, 4]"]
    held = dlbs(tmp_path, "run", *plan, "--detach", "-Pslurm.extra_args=--hold")
    assert held.returncode == 0, held.stderr
    (script,) = (tmp_path / "logs").glob("*.array.sbatch")
    script.write_text("#!/bin/bash\necho overwritten; exit 1\n")
    array_id = json.loads(next((tmp_path / "logs").glob("*.log.job")).read_text())["job_id"]
    subprocess.run(["scontrol", "release", array_id.split("_")[0]], check=True)
    resumed = dlbs(tmp_path, "run", *plan, "-Pslurm.extra_args=--hold")
    assert resumed.returncode == 0, resumed.stderr
    assert [facts_of(log)["results.status"] for log in logs(tmp_path)] == ["ok", "ok"]


def test_a_resumed_sweeps_new_array_waits_for_the_tasks_in_flight(tmp_path: Path,
                                                                 monkeypatch: Any,
                                                                 make_exp: Any) -> None:
    fake = FakeSubmit()
    monkeypatch.setattr(slurmctl, "submit", fake)
    executor = SlurmExecutor(array=True)
    executor._jobs = {"77_3": None, "77_4": None, "80": None}  # type: ignore[dict-item]
    exp = make_exp(params={"exp.scheduler": "slurm", "slurm.array": True,
                           "exp.log_file": str(tmp_path / "new.log")})
    script = tmp_path / "launch.sh"
    script.write_text("true\n")
    job = Job(index=0, exp=exp, log_file=Path(exp["exp.log_file"]), script=script)
    job.part.write_text("header\n")
    executor.start(job)
    assert executor.flush() == []
    assert fake.dependencies == ["77:80"]


@pytest.mark.slurm
def test_max_jobs_bounds_the_sweep_across_its_arrays(slurm: str, tmp_path: Path) -> None:
    """Two arrays (two cpus_per_task values), slurm.max_jobs=1: never two tasks at once."""
    result = dlbs(tmp_path, "run", *ARRAY, "--detach", "-Vslurm.cpus_per_task=[1, 2]",
                  "-Vexp.replica_batch=[2, 4]")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not active_jobs(), 600, "the arrays to end")
    done = dlbs(tmp_path, "run", *ARRAY, "-Vslurm.cpus_per_task=[1, 2]",
                "-Vexp.replica_batch=[2, 4]")
    assert done.returncode == 0, done.stderr
    spans = sorted((facts_of(log)["results.slurm_start_time"],
                    facts_of(log)["results.slurm_end_time"]) for log in logs(tmp_path))
    assert len(spans) == 4
    for before, after in itertools.pairwise(spans):
        assert after[0] >= before[1], f"two tasks ran at once: {spans}"


@pytest.mark.slurm
def test_a_task_cancelled_while_pending_is_cancelled(slurm: str, tmp_path: Path) -> None:
    """Slurm forgets a task cancelled before it started (no record at all without
    accounting): its log says cancelled, not a lost job."""
    plan = [*ARRAY, "-Vexp.replica_batch=[2, 4, 8]", "-Pslurm.extra_args=--hold"]
    held = dlbs(tmp_path, "run", *plan, "--detach")
    assert held.returncode == 0, held.stderr
    ids = sorted(json.loads(p.read_text())["job_id"]
                 for p in (tmp_path / "logs").glob("*.log.job"))
    subprocess.run(["scancel", ids[-1]], check=True)
    subprocess.run(["scontrol", "release", ids[0].split("_")[0]], check=True)
    resumed = dlbs(tmp_path, "run", *plan)
    assert resumed.returncode == 1, resumed.stderr
    by_id = {str(facts_of(log)["results.slurm_job_id"]): facts_of(log) for log in logs(tmp_path)}
    assert sorted(by_id) == ids
    assert [by_id[i]["results.status"] for i in ids] == ["ok", "ok", "cancelled"]
    error = by_id[ids[-1]]["results.error"]
    assert "cancelled outside dlbs while it waited in the queue" in error
    assert "MinJobAge" not in error


@pytest.mark.slurm
@pytest.mark.parametrize("array", ["true", "false"])
def test_gpus_the_cluster_lacks_are_a_failure_that_says_what_to_change(
        slurm: str, tmp_path: Path, array: str) -> None:
    """The test cluster has no GPUs: sbatch refuses a GPU experiment (exp.gpus=0, the default
    a user forgets), and the error names the parameters that ask for them."""
    result = dlbs(tmp_path, "run", f"-Pslurm.array={array}", "-Pexp.gpus=0")
    assert result.returncode == 1, result.stderr
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "failure"
    assert "sbatch --parsable failed" in facts["results.error"]
    assert "exp.gpus=''" in facts["results.error"] and "sinfo" in facts["results.error"]
    assert "exp.gpus=''" in result.stderr


@pytest.mark.slurm
@pytest.mark.parametrize("array", ["true", "false"])
def test_a_second_detach_submits_nothing_and_says_so(slurm: str, tmp_path: Path,
                                                     array: str) -> None:
    """The same plan detached again while its jobs wait: they are found, not submitted again,
    and the summary says 'already in flight', never 'submitted'."""
    plan = [f"-Pslurm.array={array}", "-Vexp.replica_batch=[2, 4]", "-Pslurm.extra_args=--hold"]
    first = dlbs(tmp_path, "run", *plan, "--detach")
    assert first.returncode == 0 and "2 submitted" in first.stderr, first.stderr
    ids = sorted(json.loads(p.read_text())["job_id"]
                 for p in (tmp_path / "logs").glob("*.log.job"))
    second = dlbs(tmp_path, "run", *plan, "--detach")
    assert second.returncode == 0, second.stderr
    assert "2 already in flight" in second.stderr and "submitted (" not in second.stderr
    assert sorted(json.loads(p.read_text())["job_id"]
                  for p in (tmp_path / "logs").glob("*.log.job")) == ids
    queued = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%o"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    ours = sorted(line.split("|")[0] for line in queued if str(tmp_path) in line)
    assert ours == ids  # nothing new in the queue for this plan
    for job_id in {i.split("_")[0] for i in ids}:
        subprocess.run(["scontrol", "release", job_id], check=True)
    recorded = dlbs(tmp_path, "run", *plan)
    assert recorded.returncode == 0, recorded.stderr
    assert [facts_of(log)["results.status"] for log in logs(tmp_path)] == ["ok", "ok"]


def test_jobs_never_submitted_when_interrupted_are_not_started(tmp_path: Path,
                                                               make_exp: Any) -> None:
    """Interrupted while a sweep's arrays were still being prepared: the experiments handed
    over but not submitted ran nothing, and are said to be not started (no log, no status)."""
    executor = SlurmExecutor(array=True)
    exp = make_exp(params={"exp.scheduler": "slurm", "slurm.array": True,
                           "exp.log_file": str(tmp_path / "a.log")})
    job = Job(index=0, exp=exp, log_file=tmp_path / "a.log")
    executor._unsubmitted.append(job)
    executor.stop("SIGINT")
    ((ended, ending),) = executor.flush()
    assert ended is job and ending.not_started and ending.exit_code is None
