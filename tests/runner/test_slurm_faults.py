"""Faults on a real two-node Slurm cluster (``.ci/slurm-cluster.sh``) are recorded as they
happened: a node that fails under a job, a rank that fails first, a job that cannot leave the
queue, a ``%`` in the log path.

Each test runs ``python -m dlbs`` as a user would, and injects the fault the way an
administrator or a broken node would: n2 stops, is marked ``scontrol update nodename=n2
state=down``, dies and boots again with a new slurmd (node failure), a job of the
higher-priority partition ``high`` (preemption), ``state=drain`` (nothing can start), a launch
prefix (``runtime.launcher``) that makes node 1's rank exit 3 or kills its worker. No test
asserts on a duration: states are polled, with long hang guards only. Every node is put back in
service after each test.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .test_runner import facts_of

pytestmark = pytest.mark.slurm

SMALL = ["-Pexp.scheduler=slurm", '-Pexp.gpus=""', "-Pexp.model=deep_mnist",
         "-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1"]
#: exp.timeout is a hang guard: a requeued job waits out KillWait and starts torch on two nodes
#: again (200 s ran out once on a loaded CI machine)
TWO_NODES = ["-Pexp.num_nodes=2", "-Pexp.timeout=400"]
#: Attempt 0 of a job prints a fact of its own and waits (to be hit by the node failure),
#: leaving its pid in {pids}/node<N>; a later attempt runs the benchmark.
FIRST_ATTEMPT_WAITS = """#!/bin/bash
if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
    echo '__exp.first_attempt_only__="yes"'
    echo $$ > "{pids}/node$SLURM_NODEID"
    exec sleep 600
fi
exec "$@"
"""
#: Node 1's rank exits 3 at once; node 0 runs the benchmark, and srun stops it.
RANK_1_EXITS_3 = """#!/bin/bash
if [ "$SLURM_NODEID" = 1 ]; then echo "rank 1 gives up" >&2; exit 3; fi
exec "$@"
"""
#: Node 1's torchrun runs; its worker (the benchmark, rank 1) is killed with SIGKILL once it runs.
RANK_1_KILLED = """#!/bin/bash
if [ "$SLURM_NODEID" != 1 ]; then exec "$@"; fi
"$@" &
launcher=$!
for _ in $(seq 1 1200); do
    worker=$(pgrep -P "$launcher" | head -n 1)
    if [ -n "$worker" ] && grep -q benchmarks.py "/proc/$worker/cmdline" 2>/dev/null; then
        kill -KILL "$worker"; break
    fi
    sleep 0.1
done
wait "$launcher"
"""


def slurm_cmd(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60)


def dlbs(tmp_path: Path, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    bar = ["--progress-bar", "off"] if action == "run" else []
    return subprocess.run([sys.executable, "-m", "dlbs", action, *SMALL, *bar, *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


def start_dlbs(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dlbs", "run", *SMALL, "--progress-bar", "off",
                             *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Poll ``predicate`` (a hang guard, never a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def jobs() -> dict[str, str]:
    """Active jobs: id -> state."""
    out = slurm_cmd("squeue", "-h", "-o", "%i|%T").stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def job_field(job_id: str, name: str) -> str:
    for word in slurm_cmd("scontrol", "show", "job", "-o", job_id).stdout.split():
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    return ""


def idle_nodes() -> set[str]:
    return set(slurm_cmd("sinfo", "-h", "-N", "-t", "idle", "-o", "%N").stdout.split())


def set_nodes(state: str, *nodes: str) -> None:
    for node in nodes:
        slurm_cmd("scontrol", "update", f"nodename={node}", f"state={state}", "reason=dlbs-test")


@pytest.fixture
def nodes(slurm: str) -> Iterator[None]:
    """Both nodes idle before the test, and back in service after it, whatever it did."""
    wait_for(lambda: idle_nodes() >= {"n1", "n2"}, "both nodes idle before the test")
    yield
    set_nodes("resume", "n1", "n2")  # "invalid node state" for a node already back: fine
    # A preempting job is let run (it is `true`): cancelled before it starts, it leaves the
    # main scheduler idle until the next backfill pass (~30 s) and slows the next test.
    wait_for(lambda: not slurm_cmd("squeue", "-h", "-p", "high", "-o", "%i").stdout.strip(),
             "the preempting job to end")
    subprocess.run(["scancel", "--user", str(os.getuid())], capture_output=True, check=False)
    wait_for(lambda: idle_nodes() >= {"n1", "n2"}, "both nodes back in service")


def release_requeued(job_id: str) -> None:
    """Start a requeued job now instead of after its ~2 minutes of BeginTime (an
    administrator's ``scontrol update StartTime=now``). slurmd refuses the credentials of a job
    issued within the second its previous attempt was killed (whole-second timestamps), so
    that second is let pass first: a precondition, not a measured delay."""
    killed = int(time.time())
    wait_for(lambda: int(time.time()) >= killed + 2, "the second of the kill to pass")
    # The previous attempt's step daemons end after Slurm's KillWait; one still running when
    # the job (same id) starts again kills the new attempt's tasks as its own (seen under load)
    wait_for(lambda: not _step_daemons(job_id), "the previous attempt's slurmstepd to end")
    slurm_cmd("scontrol", "update", f"jobid={job_id}", "StartTime=now")


def _step_daemons(job_id: str) -> list[int]:
    """The slurmstepd processes of job ``job_id`` on this machine (``slurmstepd: [54.0]``,
    ``[54.batch]``...)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith(f"slurmstepd: [{job_id}."):
            found.append(int(entry.name))
    return found


def script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "prefix.sh"
    (tmp_path / "pids").mkdir(exist_ok=True)
    path.write_text(text.replace("{pids}", str(tmp_path / "pids")))
    path.chmod(0o755)
    return f"-Pruntime.launcher={path}"


def the_log(folder: Path) -> Path:
    (log,) = sorted(folder.glob("*.log"))
    return log


def running_job(tmp_path: Path, marker: str) -> str:
    """The id of the one job, once it runs and its output holds ``marker``."""
    logs = tmp_path / "logs"
    wait_for(lambda: any(marker in p.read_text(errors="replace") for p in logs.glob("*.part")),
             f"{marker!r} in the job's output")
    ((job_id, state),) = jobs().items()
    assert state == "RUNNING"
    return job_id


def node_n2_fails(tmp_path: Path) -> None:
    """n2 fails under the job as a real node does: it stops (its slurmd, the step's slurmstepd
    and its task are frozen: nothing leaves it), slurmctld marks it DOWN (here at once, not after
    SlurmdTimeout) and requeues or ends the job, n2 dies (SIGKILL) and boots again: a new slurmd,
    which knows nothing of the job.

    So nothing of the first attempt reaches slurmctld from n2 afterwards. n2's slurmd, had it
    lived on, would tell slurmctld that n2 is done with the job once the step's slurmstepd
    ended; arriving after the requeued job (same id) started again, that took n2 out of the new
    attempt, whose srun then waited ("step creation temporarily disabled ... Requested nodes
    are busy") until exp.timeout (seen under load)."""
    pid_file = tmp_path / "pids" / "node1"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), "n2's task to run")
    task = int(pid_file.read_text())
    stepd = _parent(task)
    assert _title(stepd).startswith("slurmstepd: ["), _title(stepd)
    slurmd, argv = _slurmd_of("n2")
    n2 = (slurmd, stepd, task)
    try:
        for pid in n2:
            os.kill(pid, signal.SIGSTOP)
        set_nodes("down", "n2")
    finally:
        for pid in n2:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            wait_for(lambda: all(_gone(pid) for pid in n2), "n2's processes to die")
            # slurmctld's request to end the job on n2, sent when n2 went down, has reached the
            # dead slurmd or failed: it must not reach the new one once the job runs again
            wait_for(_controller_agents_idle_twice, "slurmctld's requests to the nodes to end")
        finally:  # n2 boots again whatever happened, for the tests after this one
            started = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                     check=False)
    assert started.returncode == 0, f"{argv}: {started.stderr}"


def _slurmd_of(node: str) -> tuple[int, list[str]]:
    """The pid of ``node``'s slurmd (its SlurmdPidFile) and the command that started it."""
    conf = Path(os.environ["SLURM_CONF"]).read_text()
    (pattern,) = [line.split("=", 1)[1].strip() for line in conf.splitlines()
                  if line.startswith("SlurmdPidFile=")]
    pid = int(Path(pattern.replace("%n", node)).read_text())
    argv = [arg.decode() for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    assert Path(argv[0]).name == "slurmd" and node in argv, argv
    return pid, argv


def _controller_agents_idle() -> bool:
    """sdiag: no request of slurmctld to a node (its agents) queued or under way."""
    counts = [line.split(":", 1)[1].strip() for line in slurm_cmd("sdiag").stdout.splitlines()
              if line.startswith(("Agent queue size:", "Agent count:", "Agent thread count:"))]
    return counts == ["0", "0", "0"]


def _controller_agents_idle_twice() -> bool:
    """Idle in two readings: an agent just taken off the queue is counted once its thread
    runs."""
    if not _controller_agents_idle():
        return False
    time.sleep(0.5)
    return _controller_agents_idle()


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone(pid: int) -> bool:
    """``pid`` has ended (a zombie has: it holds no socket and sends nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def a_high_priority_job_preempts(tmp_path: Path) -> None:
    """A job of the ``high`` partition (PriorityTier 2) asks for both nodes."""
    slurm_cmd("sbatch", "-p", "high", "-N2", "--exclusive", "--output=/dev/null", "--wrap",
              "true")


@pytest.mark.parametrize("fault,status,error", [
    pytest.param(node_n2_fails, "node_failure", "node n2 failed during the job (Slurm state "
                 "NODE_FAIL); Slurm did not requeue it (slurm.requeue=false)", id="node-down"),
    pytest.param(a_high_priority_job_preempts, "preempted", "Slurm preempted the job (a job of "
                 "a higher-priority partition or QOS took its nodes); Slurm did not requeue it "
                 "(slurm.requeue=false)", id="preempted"),
])
def test_without_requeue_a_lost_job_is_a_failure_naming_the_cause(
        nodes: None, tmp_path: Path, fault: Callable[[Path], None], status: str,
        error: str) -> None:
    runner = start_dlbs(tmp_path, *TWO_NODES, script(tmp_path, FIRST_ATTEMPT_WAITS),
                        f"-Pexp.log_dir={tmp_path / 'logs'}")
    job_id = running_job(tmp_path, "first_attempt_only")
    fault(tmp_path)
    _, err = runner.communicate(timeout=420)
    assert runner.returncode == 1, err
    facts = facts_of(the_log(tmp_path / "logs"))
    assert (facts["results.status"], facts["results.error"]) == (status, error)
    assert facts["results.slurm_restarts"] == 0 and facts["results.slurm_job_id"] == int(job_id)
    assert f"{status}: " in err and error in err
    batch = the_log(tmp_path / "logs").with_suffix(".sbatch").read_text()
    assert "--no-requeue" in batch  # the comment says how it was submitted
    assert job_field(job_id, "Requeue") == "0"


@pytest.mark.parametrize("fault", [
    pytest.param(node_n2_fails, id="node-down"),
    pytest.param(a_high_priority_job_preempts, id="preempted"),
])
def test_requeued_job_records_each_attempt_apart(nodes: None, tmp_path: Path,
                                                 fault: Callable[[Path], None]) -> None:
    runner = start_dlbs(tmp_path, *TWO_NODES, script(tmp_path, FIRST_ATTEMPT_WAITS),
                        "-Pslurm.requeue=true", f"-Pexp.log_dir={tmp_path / 'logs'}")
    job_id = running_job(tmp_path, "first_attempt_only")
    fault(tmp_path)
    wait_for(lambda: job_field(job_id, "Restarts") == "1", "Slurm to requeue the job")
    set_nodes("resume", "n2")
    wait_for(lambda: idle_nodes() >= {"n1", "n2"}, "both nodes free again")
    release_requeued(job_id)
    _, err = runner.communicate(timeout=460)
    assert runner.returncode == 0, err
    log = the_log(tmp_path / "logs")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
    assert facts["results.slurm_restarts"] == 1
    # The first attempt's output, and its facts, are apart: not in the record, in .attempt1.
    assert "exp.first_attempt_only" not in facts
    first = Path(f"{log}.attempt1").read_text()
    assert '__exp.first_attempt_only__="yes"' in first and "restart=0" in first
    assert log.read_text().count("dlbs-slurm-attempt:") == 1
    warning = facts["exp.warnings"][-1]
    assert "Slurm requeued this job once" in warning and f"{log.name}.attempt1" in warning
    assert f"warning: {log}: Slurm requeued this job once" in err  # the run's summary
    assert f"requeued: Slurm job {job_id}" in err and "BeginTime" in err


@pytest.mark.parametrize("prefix,how", [
    pytest.param(RANK_1_EXITS_3, "exited with code 3", id="exit-3"),
    pytest.param(RANK_1_KILLED, "was killed by SIGKILL", id="sigkill"),
])
def test_first_failing_rank_is_named_not_the_rank_srun_stopped(
        nodes: None, tmp_path: Path, prefix: str, how: str) -> None:
    result = dlbs(tmp_path, "run", *TWO_NODES, "-Pexp.num_batches=100000",
                  script(tmp_path, prefix), f"-Pexp.log_dir={tmp_path / 'logs'}")
    assert result.returncode == 1, result.stderr
    log = the_log(tmp_path / "logs")
    facts = facts_of(log)
    assert facts["results.status"] == "failure"
    error = facts["results.error"]
    assert error.startswith(f"rank 1 (node n2) {how} first"), error
    assert "143" not in error and "Terminated" not in error
    assert "\n" not in error
    assert f"failure: {log}: rank 1 (node n2) {how}" in result.stderr
    assert "srun: error: n2: task 1" in log.read_text()  # srun's own report is kept


def test_pending_job_times_out_then_a_resume_runs_it(nodes: None, tmp_path: Path) -> None:
    plan = ["-Pslurm.queue_timeout=4", "-Vexp.replica_batch=[2, 4]",
            f"-Pexp.log_dir={tmp_path / 'logs'}"]
    set_nodes("drain", "n1", "n2")
    result = dlbs(tmp_path, "run", *plan)
    assert result.returncode == 1, result.stderr
    logs = sorted((tmp_path / "logs").glob("*.log"))
    assert len(logs) == 2  # the sweep went on after the first one
    for log in logs:
        facts = facts_of(log)
        assert facts["results.status"] == "pending_timeout"
        assert facts["results.slurm_state"] == "CANCELLED"
        assert "still pending after 4 s in the queue (slurm.queue_timeout)" in \
            facts["results.error"]
        assert "DOWN, DRAINED" in facts["results.error"]  # Slurm's last reason
    told: dict[str, list[str]] = {}  # job -> the reasons told, in order
    for line in result.stderr.splitlines():
        if line.startswith("pending: Slurm job "):
            job, reason = line.removeprefix("pending: Slurm job ").split(": ", 1)
            told.setdefault(job, []).append(reason)
    assert len(told) == 2, result.stderr
    for reasons in told.values():  # told when it changes, never twice in a row
        assert all(a != b for a, b in itertools.pairwise(reasons)), reasons
        assert "DOWN, DRAINED" in reasons[-1] or "UnavailableNodes" in reasons[-1]
    assert not jobs()
    status = dlbs(tmp_path, "status", *plan)
    assert "2 incomplete" in status.stdout + status.stderr
    assert status.stdout.count("pending_timeout; the next run repeats it") == 2
    set_nodes("resume", "n1", "n2")
    again = dlbs(tmp_path, "run", *plan)
    assert again.returncode == 0, again.stderr
    assert "2 ok" in again.stderr
    assert all(facts_of(log)["results.status"] == "ok" for log in logs)


def test_percent_in_the_log_path_is_literal(nodes: None, tmp_path: Path) -> None:
    """sbatch reads --output as a pattern (%j: the job id, %x: its name, %%: a %)."""
    folders = ["job%j", "pct%%x%x", "100%"]
    result = dlbs(tmp_path, "run", "-Vexp.log_dir=" + json.dumps([str(tmp_path / f)
                                                                   for f in folders]))
    assert result.returncode == 0, result.stderr
    for folder in folders:
        facts = facts_of(the_log(tmp_path / folder))
        assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(folders)


def test_backslash_in_the_log_path_is_refused_in_one_line(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate", f"-Pexp.log_dir={tmp_path / 'a' / 'b'}\\c")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "holds a backslash, which sbatch's --output cannot name" in result.stderr


def test_negative_queue_timeout_is_refused(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate", "-Pslurm.queue_timeout=-1",
                  f"-Pexp.log_dir={tmp_path}")
    assert result.returncode == 1
    assert "slurm.queue_timeout is -1" in result.stderr


def test_ctrl_c_while_pending_cancels_and_says_interrupted(nodes: None, tmp_path: Path) -> None:
    set_nodes("drain", "n1", "n2")
    runner = start_dlbs(tmp_path, f"-Pexp.log_dir={tmp_path / 'logs'}")
    wait_for(lambda: "PENDING" in jobs().values(), "the job to be queued")
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 130, err
    # the job never left the queue: nothing of it ran, so no log; it is not started (the
    # next run runs it), never a failure with a duration
    logs = tmp_path / "logs"
    assert not list(logs.glob("*.log")) and not list(logs.glob("*.part")), err
    assert not list(logs.glob("*.log.job")) and not jobs()
    assert "0 failed" in err and "interrupted by SIGINT, 1 not started" in err, err
