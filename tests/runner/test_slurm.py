"""The Slurm backend against a real two-node cluster (``.ci/slurm-cluster.sh``; CI starts one).

Each test runs ``python -m dlbs`` as a user would; jobs run the real benchmark (deep_mnist on
the CPU, gloo across the two "nodes", both on 127.0.0.1).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlbs.slurm.ctl import JobInfo
from dlbs.slurm.jobfile import job_file

from .test_runner import facts_of

pytestmark = pytest.mark.slurm

SMALL = ["-Pexp.scheduler=slurm", '-Pexp.gpus=""', "-Pexp.model=deep_mnist",
         "-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1"]


def dlbs(tmp_path: Path, action: str, *args: str,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m dlbs ACTION ARGS`` in ``tmp_path``; logs in ``tmp_path/logs``."""
    return subprocess.run([sys.executable, "-m", "dlbs", action, *SMALL,
                           f"-Pexp.log_dir={tmp_path / 'logs'}", "--progress-bar", "off",
                           *args] if action == "run" else
                          [sys.executable, "-m", "dlbs", action, *SMALL,
                           f"-Pexp.log_dir={tmp_path / 'logs'}", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
                          check=False)


def logs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "logs").glob("*.log"))


def active_jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def wait_for(predicate, timeout: float = 300, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until true; ``timeout`` is a hang guard for a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_node_job(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run")
    assert result.returncode == 0, result.stderr
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
    assert isinstance(facts["results.slurm_job_id"], int)
    assert facts["results.nodes"] in (["n1"], ["n2"])
    assert facts["results.slurm_state"] == "COMPLETED"
    # issue 22: the test cluster keeps no accounting: a note says so, and no sacct figure
    assert "accounting storage is disabled" in facts["slurm.sacct_note"]
    assert not [key for key in facts if key.startswith("slurm.sacct.")]
    batch = log.with_suffix(".sbatch").read_text()
    assert "#SBATCH --nodes=1" in batch and "#SBATCH --exclusive" in batch
    assert not job_file(log).exists() and not Path(f"{log}.part").exists()



def test_a_long_fact_line_is_never_cut_by_an_error_line(slurm: str, tmp_path: Path) -> None:
    """srun forwards a task's stdout and stderr apart: the benchmark's summary (stderr) could
    land inside the ~10 kB ``results.time_data`` line (stdout) and the parser dropped it. The
    batch script joins them on the node, so the log is as whole as a local run's."""
    result = dlbs(tmp_path, "run", "-Pexp.num_batches=400", "-Pexp.cpu_threads=1")
    assert result.returncode == 0, result.stderr
    (log,) = logs(tmp_path)
    lines = [line for line in log.read_text().splitlines()
             if line.startswith("__results.time_data__=")]
    assert len(lines) == 1
    assert len(json.loads(lines[0].split("=", 1)[1])) == 400  # whole: parsed, every iteration
    parsed = subprocess.run([sys.executable, "-m", "dlbs", "parse", str(log)], cwd=tmp_path,
                            capture_output=True, text=True, check=False, timeout=120)
    assert parsed.returncode == 0 and "malformed" not in parsed.stderr, parsed.stderr

def test_two_node_ddp_job(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", "-Pexp.num_nodes=2", "-Pexp.timeout=500")
    assert result.returncode == 0, result.stderr + "".join(p.read_text() for p in logs(tmp_path))
    (log,) = logs(tmp_path)
    text = log.read_text()
    facts = facts_of(log)
    assert facts["results.status"] == "ok", facts.get("results.error")
    assert sorted(facts["results.nodes"]) == ["n1", "n2"]
    assert facts["exp.world_size"] == 2
    # The benchmark's own fact (it comes after the header's planned value, and wins):
    assert text.count("__exp.num_replicas__=2") == 2 and facts["exp.num_replicas"] == 2
    assert facts["exp.effective_batch"] == 4
    assert text.count("__results.throughput__") == 1  # one result for both nodes
    for node in ("n1", "n2"):  # each node described, from that node (Slurm's node names)
        assert facts[f"hw.nodes.{node}.cpu_count"] > 0
        assert isinstance(facts[f"hw.nodes.{node}.network_env"], dict)


TINY_LLAMA = {"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2,
              "intermediate": 64}


def test_two_node_hsdp_job_shards_within_a_node_and_trains_to_ddps_loss(
        slurm: str, tmp_path: Path) -> None:
    """Issue "Sharded LLM training": HSDP across the two nodes, two ranks a node: sharded
    within each node (the shard group is a node's ranks, --dp_shard 0), replicated across the
    nodes, the loss of DDP over the same four ranks and batches."""
    result = dlbs(tmp_path, "run", "-Pexp.num_nodes=2", "-Pexp.cpu_replicas=2",
                  "-Pexp.cpu_threads=1", "-Pexp.timeout=500", '-Pexp.model="llama3_1b"',
                  f"-Ppytorch.model_config={json.dumps(TINY_LLAMA)}", "-Pexp.seq_len=16",
                  '-Pexp.phase="training"', "-Pexp.num_batches=4",
                  '-Vexp.parallelism=["ddp", "hsdp"]')
    assert result.returncode == 0, result.stderr + "".join(p.read_text() for p in logs(tmp_path))
    runs = {facts["exp.parallelism"]: facts for facts in map(facts_of, logs(tmp_path))}
    assert sorted(runs) == ["ddp", "hsdp"]
    for facts in runs.values():
        assert facts["results.status"] == "ok", facts.get("results.error")
        assert sorted(facts["results.nodes"]) == ["n1", "n2"] and facts["exp.world_size"] == 4
        assert len(facts["results.peak_memory_mb_ranks"]) == 4
    assert runs["hsdp"]["exp.mesh_shape"] == [2, 2] and runs["ddp"]["exp.mesh_shape"] == [4]
    assert runs["hsdp"]["results.loss_last"] == pytest.approx(runs["ddp"]["results.loss_last"],
                                                              rel=1e-5)


def test_pyxis_on_a_slurm_without_it_fails_in_one_line_saying_so(slurm: str,
                                                                  tmp_path: Path) -> None:
    """The test cluster has no pyxis: the job ended in srun's usage text (issue 54); the batch
    script now asks srun first and the run's error names what to do."""
    result = dlbs(tmp_path, "run", "-Pexp.docker=true", "-Pexp.container_runtime=pyxis",
                  "-Pexp.docker_image=nvcr.io#nvidia/pytorch:24.05-py3")
    assert result.returncode == 1, result.stderr
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "failure"
    assert "pyxis is not installed on this Slurm" in facts["results.error"]
    assert "exp.container_runtime=apptainer" in facts["results.error"]
    assert "Usage: srun" not in log.read_text()
    assert not active_jobs()


def test_timeout_cancels_the_job(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", "-Pexp.num_batches=100000", "-Pexp.timeout=4")
    assert result.returncode == 1, result.stderr
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "timeout"
    assert "exp.timeout" in facts["results.error"]
    assert facts["results.slurm_state"] == "CANCELLED"
    assert not active_jobs()


def test_ctrl_c_cancels_the_sweep(slurm: str, tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *SMALL, "-Pexp.num_batches=100000",
         '-Vexp.replica_batch=[2, 4]', f"-Pexp.log_dir={tmp_path / 'logs'}",
         "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(line.endswith("|RUNNING") for line in active_jobs()), 300,
             "the first job to run")
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 130, err
    (log,) = logs(tmp_path)  # the second experiment was never submitted
    facts = facts_of(log)
    assert facts["results.status"] == "interrupted"
    assert facts["results.slurm_state"] == "CANCELLED"
    assert "1 not started" in err
    assert not active_jobs()


def test_detach_then_resume_adopts_pending_jobs(slurm: str, tmp_path: Path) -> None:
    plan = ['-Vexp.replica_batch=[2, 4]']
    submitted = dlbs(tmp_path, "run", *plan, "--detach")
    assert submitted.returncode == 0, submitted.stderr
    assert "2 submitted" in submitted.stderr
    parts = sorted((tmp_path / "logs").glob("*.log.job"))
    ids = [json.loads(p.read_text())["job_id"] for p in parts]
    assert len(ids) == 2 and not logs(tmp_path)
    status = dlbs(tmp_path, "status", *plan)
    assert status.returncode == 0 and "pending" in status.stdout + status.stderr, status.stdout
    resumed = dlbs(tmp_path, "run", *plan)  # waits for the same two jobs, submits none
    assert resumed.returncode == 0, resumed.stderr
    got = sorted(str(facts_of(log)["results.slurm_job_id"]) for log in logs(tmp_path))
    assert got == sorted(ids)
    assert all(facts_of(log)["results.status"] == "ok" for log in logs(tmp_path))
    again = dlbs(tmp_path, "run", *plan)
    assert again.returncode == 0 and "2 skipped" in again.stderr
    done = dlbs(tmp_path, "status", *plan, "--format", "summary")
    assert done.stdout.strip() == "2 experiments: 2 done (2 ok)"


def test_detached_job_that_ended_is_recorded_by_the_next_run(slurm: str,
                                                             tmp_path: Path) -> None:
    assert dlbs(tmp_path, "run", "--detach").returncode == 0
    wait_for(lambda: not active_jobs(), 300, "the detached job to end")
    status = dlbs(tmp_path, "status")
    assert "ended" in status.stdout and "not recorded yet" in status.stdout
    resumed = dlbs(tmp_path, "run")
    assert resumed.returncode == 0 and "1 ok" in resumed.stderr, resumed.stderr
    (log,) = logs(tmp_path)
    assert facts_of(log)["results.status"] == "ok"


def test_job_cancelled_outside_dlbs_is_cancelled(slurm: str, tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *SMALL, "-Pexp.num_batches=100000",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(line.endswith("|RUNNING") for line in active_jobs()), 300,
             "the job to run")
    subprocess.run(["scancel", active_jobs()[0].split("|")[0]], check=True)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 1, err
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "cancelled"
    assert "outside dlbs" in facts["results.error"]


def test_weak_scaling_report_over_one_and_two_nodes(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", "-Vexp.num_nodes=[1, 2]", "-Pexp.timeout=500",
                  "-Pexp.num_batches=4", "-Pexp.cpu_threads=1")
    assert result.returncode == 0, result.stderr
    assert sorted(facts_of(log)["exp.num_replicas"] for log in logs(tmp_path)) == [1, 2]
    report = subprocess.run([sys.executable, "-m", "dlbs", "report", "--type", "weak",
                             str(tmp_path / "logs")], capture_output=True, text=True,
                            check=False, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Efficiency" in report.stdout and "nothing to scale" not in report.stdout
    assert "2" in report.stdout


def test_validate_names_a_missing_partition(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate", "-Pslurm.partition=nosuch")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "slurm.partition 'nosuch' does not exist" in result.stderr
    assert "debug" in result.stderr
    # a list of partitions, as sbatch takes it: each is checked
    assert dlbs(tmp_path, "validate", "-Pslurm.partition=debug,high").returncode == 0
    listed = dlbs(tmp_path, "validate", "-Pslurm.partition=debug,nosuch")
    assert listed.returncode == 1 and "slurm.partition 'nosuch' does not exist" in listed.stderr


def test_validate_without_slurm_commands(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dlbs", "validate", *SMALL,
                             f"-Pexp.log_dir={tmp_path}"], capture_output=True, text=True,
                            check=False, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "sinfo is not installed or not on PATH" in result.stderr
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("state,status", [
    ("TIMEOUT", "timeout"), ("NODE_FAIL", "node_failure"), ("OUT_OF_MEMORY", "oom"),
    ("PREEMPTED", "preempted"), ("CANCELLED", "cancelled"), ("COMPLETED", None),
    ("FAILED", None),
])
def test_slurm_end_states_map_to_statuses(state: str, status: str | None) -> None:
    from dlbs.slurm import endings
    stopped, error = endings.verdict(JobInfo("7", state, time_limit="00:01:00"), None)
    assert stopped == status
    assert (error is None) == (status is None)


@pytest.mark.docker
def test_docker_inside_a_job_composes_as_on_bare_metal(slurm: str, tmp_path: Path,
                                                        test_image: str) -> None:
    from dlbs.runner.dockerengine import client

    from .conftest import host_python_mounts
    docker = ["-Pexp.docker=true", f"-Pexp.docker_image={test_image}",
              "-Pexp.docker_network=none", f"-Pexp.docker_args={host_python_mounts()}",
              f"-Pruntime.docker_python={sys.executable}"]
    result = dlbs(tmp_path, "run", *docker)
    assert result.returncode == 0, result.stderr
    (log,) = logs(tmp_path)
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.docker"] is True
    assert "docker run" in log.with_suffix(".sh").read_text()
    assert isinstance(facts["results.slurm_job_id"], int)
    (tmp_path / "t").mkdir()
    stopped = dlbs(tmp_path / "t", "run", *docker, "-Pexp.num_batches=1000000",
                   "-Pexp.timeout=4")
    assert stopped.returncode == 1
    (log,) = logs(tmp_path / "t")
    assert facts_of(log)["results.status"] == "timeout"
    wait_for(lambda: not client().containers.list(all=True), 120, "the container to go")


def test_two_jobs_in_flight_run_on_disjoint_nodes(slurm: str, tmp_path: Path,
                                                   bench_dir: Path) -> None:
    """Each job runs a stand-in that ends ok only once both have started: both ok proves
    they ran together, however long a busy machine takes to start them."""
    meet = tmp_path / "meet"
    result = dlbs(tmp_path, "run", "--no-validation", "-Pslurm.max_jobs=2",
                  "-Pexp.model=meet", f"-Ppytorch.bench_path={bench_dir}",
                  f"-Pruntime.env.MEET_FILE={meet}", "-Pruntime.env.MEET_COUNT=2",
                  '-Vexp.replica_batch=[2, 4]')
    assert result.returncode == 0, result.stderr
    facts = [facts_of(log) for log in logs(tmp_path)]
    assert [f["results.status"] for f in facts] == ["ok", "ok"], facts
    assert len(meet.read_text().split()) == 2
    assert sorted(f["results.nodes"][0] for f in facts) == ["n1", "n2"]
    # Slurm's own start and end times (whole seconds) agree: neither ended before the other began
    spans = sorted((f["results.slurm_start_time"], f["results.slurm_end_time"]) for f in facts)
    assert spans[1][0] <= spans[0][1], f"the two jobs did not run together: {spans}"


def test_max_jobs_above_one_needs_exclusive_nodes(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate", "-Pslurm.max_jobs=2", "-Pslurm.exclusive=false")
    assert result.returncode == 1
    assert "slurm.max_jobs > 1 needs slurm.exclusive=true" in result.stderr


def test_unsafe_sbatch_value_is_refused(slurm: str, tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate", "-Pslurm.partition=debug --wrap=x")
    assert result.returncode == 1
    assert "parameter 'slurm.partition'" in result.stderr and "#SBATCH" in result.stderr
