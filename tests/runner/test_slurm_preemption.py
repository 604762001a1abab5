"""Warned before the end (``slurm.signal``), preempted, or at the time limit: a Slurm job that
did not run to its end is recorded ``timeout`` or ``preempted`` with its partial facts, never
``ok``. The real-cluster tests preempt a job with a job of the ``high`` partition
(``PreemptType=preempt/partition_prio``, ``PreemptMode=REQUEUE`` in ``.ci/slurm-cluster.sh``) and
let Slurm warn a job before a one-minute time limit."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.slurm.output import warning_signal
from dlbs.slurm.script import build_batch_script, limit_seconds, sbatch_options, warn_signal

from .test_gpu_centre import _exp
from .test_runner import facts_of
from .test_slurm_faults import (
    a_high_priority_job_preempts,
    dlbs,
    idle_nodes,
    nodes,  # noqa: F401 - fixture
    start_dlbs,
    the_log,
    wait_for,
)


@pytest.mark.parametrize("given,expected", [
    ("B:USR1@120", ("USR1", 120)), ("b:sigusr2@30", ("USR2", 30)), ("B:TERM", ("TERM", 60)),
    ("", None),
])
def test_slurm_signal_is_read_as_sbatch_takes_it(given: str, expected: object) -> None:
    assert warn_signal(Experiment.of({"slurm.signal": given})) == expected


def test_the_default_warns_the_batch_script_120_s_before_the_limit() -> None:
    exp = _exp()
    exp.pop("slurm.signal", None)
    assert "--signal=B:USR1@120" in sbatch_options(Experiment.of(exp))
    text = build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end")
    assert "trap 'echo \"dlbs-slurm-signal: SIGUSR1 at $(date +%s)\"; warned=1;" in text
    # trapped before the slow lines (scontrol), not after them
    assert text.index("\ntrap ") < text.index("scontrol")


@pytest.mark.parametrize("given,why", [
    ("USR1@120", "sent to the batch script (B:)"),
    ("B:KILL@10", "sent to the batch script (B:)"),
    ("B:USR1@1m", "is not sbatch's --signal"),
    ("B:USR1@0", "warns 0 s before the time limit"),
    ("B:USR1@120; rm -rf /", "is not sbatch's --signal"),
])
def test_a_signal_dlbs_cannot_pass_on_is_refused(given: str, why: str) -> None:
    with pytest.raises(ValidationError, match="slurm.signal") as err:
        warn_signal(Experiment.of({"slurm.signal": given}))
    assert why in str(err.value)


def test_no_signal_no_trap() -> None:
    text = build_batch_script(Experiment.of(_exp(slurm__signal="")), "/logs/a.sh", "/logs/a.log.end")
    assert "#SBATCH --signal" not in text and "\ntrap " not in text


@pytest.mark.parametrize("text,seconds", [
    ("00:01:00", 60), ("1", 60), ("5:30", 330), ("1-00:00:00", 86400), ("2-3", 2 * 86400 + 3 * 3600),
    ("1-01:30", 86400 + 5400), ("UNLIMITED", None), ("Partition_Limit", None), ("", None),
    ("0", None), ("00:00:00", None),
])
def test_slurm_time_limits_in_seconds(text: str, seconds: float | None) -> None:
    assert limit_seconds(text) == seconds


def test_the_warning_of_the_last_attempt_counts() -> None:
    first = "dlbs-slurm-attempt: job=4 restart=0 nodes=n1\ndlbs-slurm-signal: SIGUSR1 at 17\n"
    second = "dlbs-slurm-attempt: job=4 restart=1 nodes=n1\n__results.status__=\"ok\"\n"
    assert warning_signal(first) == "SIGUSR1"
    assert warning_signal(first + second) is None  # the requeued attempt was not warned
    assert warning_signal("dlbs-slurm-signal: SIGUSR1 at x\n") is None


# -- on the real cluster -----------------------------------------------------------------------
WARNED = ["--no-validation", "-Pexp.model=warned"]


@pytest.mark.slurm
def test_a_job_warned_before_its_time_limit_is_timeout_with_partial_facts(
        nodes: None, tmp_path: Path, bench_dir: Path) -> None:  # noqa: F811
    # warned 20 s into a one-minute job: the stand-in has set its handler by then even on a
    # loaded machine (warned 5 s in, CI once saw the warning come before it; that early path
    # is test_a_job_warned_before_its_tasks_started_is_recorded_as_warned below)
    runner = start_dlbs(tmp_path, *WARNED, f"-Ppytorch.bench_path={bench_dir}",
                        "-Pslurm.time=1", "-Pslurm.signal=B:USR1@40",
                        f"-Pexp.log_dir={tmp_path / 'logs'}")
    _, err = runner.communicate(timeout=240)
    assert runner.returncode == 1, err
    log = the_log(tmp_path / "logs")
    facts = facts_of(log)
    assert facts["results.status"] == "timeout", facts.get("results.error")
    assert facts["results.partial"] is True and facts["results.stop_signal"] == "SIGUSR1"
    assert facts["results.throughput"] > 0  # the iterations timed before the warning
    assert "warned the job with SIGUSR1 before its time limit" in facts["results.error"]
    assert "dlbs-slurm-signal: SIGUSR1" in log.read_text()
    assert f"timeout: {log}" in err


@pytest.mark.slurm
def test_a_preempted_job_is_preempted_with_partial_facts_and_runs_again(
        nodes: None, tmp_path: Path, bench_dir: Path) -> None:  # noqa: F811
    plan = [*WARNED, f"-Ppytorch.bench_path={bench_dir}", f"-Pexp.log_dir={tmp_path / 'logs'}"]
    runner = start_dlbs(tmp_path, *plan)
    wait_for(lambda: any("stand-in timing" in p.read_text(errors="replace")
                         for p in (tmp_path / "logs").glob("*.part")), "the job to time")
    a_high_priority_job_preempts(tmp_path)
    _, err = runner.communicate(timeout=240)
    assert runner.returncode == 1, err
    log = the_log(tmp_path / "logs")
    facts = facts_of(log)
    assert facts["results.status"] == "preempted" and facts["results.slurm_state"] == "PREEMPTED"
    assert facts["results.partial"] is True and facts["results.stop_signal"] == "SIGTERM"
    assert "Slurm preempted the job" in facts["results.error"]
    assert f"preempted: {log}" in err
    # Not done: the next run of the plan repeats it (as after an interruption).
    wait_for(lambda: idle_nodes() >= {"n1", "n2"}, "the preempting job to end")
    status = dlbs(tmp_path, "status", *plan)
    assert "preempted; the next run repeats it" in status.stdout, status.stdout


def test_a_warning_that_would_come_at_the_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="the warning would come at the start") as err:
        warn_signal(Experiment.of({"slurm.signal": "B:USR1@120", "slurm.time": "2"}))
    assert "B:USR1@30" in str(err.value)  # what to give instead
    assert warn_signal(Experiment.of({"slurm.signal": "B:USR1@55", "slurm.time": "1"})) == ("USR1", 55)


def test_with_exp_timeout_the_runner_stops_the_job_and_no_warning_is_asked(
        tmp_path: Path) -> None:
    """The default ``slurm.signal`` is computed: with ``exp.timeout`` the runner cancels the
    job itself, and ``slurm.time`` (exp.timeout + a minute or two) is only a backstop."""
    import json
    import subprocess
    import sys
    for timeout, expected in ((0, "B:USR1@120"), (4, "")):
        done = subprocess.run([sys.executable, "-m", "dlbs", "print", "-Pexp.scheduler=slurm",
                               f"-Pexp.timeout={timeout}", f"-Pexp.log_dir={tmp_path}"],
                              capture_output=True, text=True, check=True)
        (exp,) = json.loads(done.stdout)
        assert exp["slurm.signal"] == expected


@pytest.mark.slurm
def test_the_real_benchmark_preempted_says_so_and_keeps_what_it_timed(
        nodes: None, tmp_path: Path) -> None:  # noqa: F811
    """The real benchmark under a real preemption: SIGTERM from Slurm stops it cleanly. When
    the signal lands during timing (the usual case) the timed iterations are kept; landing
    before timing is legal too (no timing facts then), and either way the status is
    ``preempted``, never ``ok``. Deterministic coverage of each half: the stand-in test above
    (through Slurm) and tests/benchmark/test_stop_signals.py (the benchmark's own)."""
    runner = start_dlbs(tmp_path, "-Pexp.num_batches=1000000", "-Pexp.num_warmup_batches=0",
                        f"-Pexp.log_dir={tmp_path / 'logs'}")
    wait_for(lambda: any("__hw.nodes." in p.read_text(errors="replace")
                         for p in (tmp_path / "logs").glob("*.part")), "the benchmark to build",
             timeout=300)
    # Usually past the measurement set-up into timing by then; either outcome is asserted.
    time.sleep(5)
    a_high_priority_job_preempts(tmp_path)
    _, err = runner.communicate(timeout=240)
    assert runner.returncode == 1, err
    facts = facts_of(the_log(tmp_path / "logs"))
    assert facts["results.status"] == "preempted", facts.get("results.error")
    assert facts["results.stop_signal"] == "SIGTERM"
    if facts["results.partial"]:
        assert facts["results.throughput"] > 0
        assert 0 < facts["results.num_batches_done"] < 1000000
    else:
        assert "results.throughput" not in facts


@pytest.mark.slurm
def test_a_two_node_job_warned_before_its_limit_stops_on_every_node(
        nodes: None, tmp_path: Path) -> None:  # noqa: F811
    """Two nodes, each one torchrun: the warning goes from the batch script to srun, to each
    node's torchrun (PET_SIGNALS_TO_HANDLE includes SIGUSR1), to its worker; the job ends as
    ``timeout``, not as a failed rank."""
    runner = start_dlbs(tmp_path, "-Pexp.num_nodes=2", "-Pexp.num_batches=1000000",
                        "-Pslurm.time=1", "-Pslurm.signal=B:USR1@50",
                        f"-Pexp.log_dir={tmp_path / 'logs'}")
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 1, err
    log = the_log(tmp_path / "logs")
    facts = facts_of(log)
    assert facts["results.status"] == "timeout", facts.get("results.error")
    assert facts["results.stop_signal"] == "SIGUSR1"
    assert "warned the job with SIGUSR1 before its time limit" in facts["results.error"]
    assert facts["results.slurm_state"] in ("COMPLETED", "FAILED")  # it ended before the limit
    if facts["results.partial"]:
        assert facts["results.throughput"] > 0 and facts["exp.world_size"] == 2
    assert "export PET_SIGNALS_TO_HANDLE=" in log.with_suffix(".sh").read_text()


# -- the batch script's trap, run by bash against stub Slurm commands -------------------------
STUB_SCONTROL = """#!/usr/bin/env bash
# a stub scontrol: the first call warns the batch script (as Slurm may at once) when asked
if [ -n "${WARN_AT_START:-}" ] && [ ! -e "$STUBS/warned" ]; then
  touch "$STUBS/warned"; kill -USR1 "$BATCH_PID"; sleep 0.2
fi
echo n1
"""
STUB_SRUN = """#!/usr/bin/env bash
# a stub srun: notes that it started and each signal it gets; ends on USR1
echo "srun started" >> "$STUBS/srun.log"
trap 'echo "srun got USR1" >> "$STUBS/srun.log"; exit 0' USR1
touch "$STUBS/srun.ready"
while :; do sleep 0.05; done
"""


def _run_batch_script(tmp_path: Path, warn_at_start: bool) -> tuple[int, str, Path]:
    """Run the rendered batch script of an experiment with stub ``scontrol`` and ``srun``:
    the warning comes during the first scontrol (``warn_at_start``), else once srun runs."""
    import os
    import signal
    import subprocess

    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in (("scontrol", STUB_SCONTROL), ("srun", STUB_SRUN)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    end_file = tmp_path / "a.log.end"
    script = tmp_path / "a.sbatch"
    script.write_text(build_batch_script(Experiment.of(_exp(**{"exp.num_nodes": 1})), str(tmp_path / "a.sh"),
                                         str(end_file)))
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUBS": str(stubs),
           "SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n1", "SLURM_CPUS_ON_NODE": "2",
           "WARN_AT_START": "1" if warn_at_start else ""}
    # exec keeps the pid, so the stub knows whom to warn
    proc = subprocess.Popen(["bash", "-c", 'export BATCH_PID=$$; exec bash "$0"', str(script)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not warn_at_start:
        deadline = time.monotonic() + 60
        while not (stubs / "srun.ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "srun never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out, stubs


def test_a_warning_before_the_tasks_start_ends_the_job_as_warned_not_killed(
        tmp_path: Path) -> None:
    code, out, stubs = _run_batch_script(tmp_path, warn_at_start=True)
    assert code == 128 + 10, out  # 128 + SIGUSR1: the script was not killed by it
    assert out.splitlines()[0].startswith("dlbs-slurm-attempt: job=7")  # the attempt's first line
    assert warning_signal(out) == "SIGUSR1"  # the note the runner reads: timeout or preempted
    assert "warned before the tasks started; they are not started" in out
    assert not (stubs / "srun.log").exists()  # no task started after the warning
    assert (tmp_path / "a.log.end").read_text().strip() == str(128 + 10)


def test_a_warning_while_the_tasks_run_is_passed_on_to_them(tmp_path: Path) -> None:
    code, out, stubs = _run_batch_script(tmp_path, warn_at_start=False)
    assert code == 0, out  # the stub task stopped cleanly on the warning
    assert warning_signal(out) == "SIGUSR1"
    assert (stubs / "srun.log").read_text().splitlines() == ["srun started", "srun got USR1"]
    assert (tmp_path / "a.log.end").read_text().strip() == "0"


@pytest.mark.parametrize("elapsed,status", [(3.0, "preempted"), (481.0, "timeout")])
def test_a_job_warned_before_its_tasks_started_is_recorded_as_warned(
        tmp_path: Path, elapsed: float, status: str) -> None:
    """What the batch script leaves when the warning came first (above): no facts, exit 138,
    state FAILED. Never a failure, never ok: timeout near the limit, else preempted."""
    from dlbs.runner.job import Job
    from dlbs.slurm import endings
    from dlbs.slurm.ctl import JobInfo

    job = Job(0, _exp(slurm__time="10", slurm__signal="B:USR1@120"), tmp_path / "a.log")
    job.part.write_text("dlbs-slurm-attempt: job=7 restart=0 nodes=n1\n"
                        "dlbs-slurm-signal: SIGUSR1 at 17\n"
                        "dlbs-slurm: warned before the tasks started; they are not started\n")
    info = JobInfo("7", "FAILED", exit_code=138, elapsed=elapsed, time_limit="00:10:00")
    verdict = endings.warned(info, job)
    assert verdict is not None and verdict[0] == status
    assert "it wrote no timing facts" in verdict[1]
    # the record says which signal stopped it, as the benchmark would have
    assert endings.unsaid_stop(info, job, verdict[0]) == [
        ("results.stop_signal", "SIGUSR1"), ("results.partial", False)]


def test_the_runner_names_the_stop_signal_only_when_the_benchmark_did_not(tmp_path: Path) -> None:
    """The benchmark's own ``results.stop_signal`` stands; a job Slurm itself ended (TIMEOUT:
    its kill at the limit stopped it, not the warning) gets none from the runner."""
    from dlbs.runner.job import Job
    from dlbs.slurm import endings
    from dlbs.slurm.ctl import JobInfo

    job = Job(0, _exp(slurm__time="10", slurm__signal="B:USR1@120"), tmp_path / "a.log")
    warned = "dlbs-slurm-attempt: job=7 restart=0 nodes=n1\ndlbs-slurm-signal: SIGUSR1 at 17\n"
    job.part.write_text(warned + '__results.status__="interrupted"\n'
                        '__results.stop_signal__="SIGUSR1"\n__results.partial__=false\n')
    done = JobInfo("7", "COMPLETED", exit_code=0, elapsed=481.0, time_limit="00:10:00")
    assert endings.unsaid_stop(done, job, "timeout") == []
    job.part.write_text(warned)
    killed = JobInfo("7", "TIMEOUT", exit_code=0, elapsed=600.0, time_limit="00:10:00")
    assert endings.unsaid_stop(killed, job, "timeout") == []
    assert endings.unsaid_stop(done, job, None) == []
    job.part.write_text("dlbs-slurm-attempt: job=7 restart=0 nodes=n1\n")
    assert endings.unsaid_stop(done, job, "timeout") == []  # never warned
