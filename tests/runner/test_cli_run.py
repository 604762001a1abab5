"""``experimenter run`` end to end: simulate (golden), interrupt and resume, a real sweep."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main

from .conftest import ROOT
from .test_runner import alive, facts_of

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("DLBS_UPDATE_GOLDEN") == "1"


def normalise(text: str) -> str:
    """Make simulate output machine-independent: project root and experiment ids."""
    text = text.replace(str(ROOT), "$DLBS_ROOT")
    return re.sub(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])", "<ID>", text)


def check_golden(name: str, text: str) -> None:
    """Compare with golden/NAME; DLBS_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written; check it in")
    assert text == path.read_text(), f"{name} differs; rerun with DLBS_UPDATE_GOLDEN=1 if intended"


SIMULATE = ["run", "-Pexp.status=simulate", "-Pexp.log_dir=/logs",
            "-Pruntime.python=/usr/bin/python3", "-Pexp.num_batches=5"]


@pytest.mark.parametrize("name, options", [
    pytest.param("simulate_baremetal.txt",
                 ['-Vexp.model=["deep_mnist", "sensor_net"]', '-Vexp.gpus=["", "0", "0,1"]',
                  "-Pruntime.launcher=numactl --cpunodebind=0", "-Pruntime.env.FOO=a b"],
                 id="bare-metal"),
    pytest.param("simulate_docker.txt",
                 ["-Pexp.model=resnet18", '-Vexp.gpus=["", "0,1"]', "-Pexp.docker=true",
                  "-Ppytorch.data_dir=/data/imagenet", "-Pexp.phase=inference"],
                 id="docker"),
    pytest.param("simulate_torchrun_cpu.txt",
                 ["-Pexp.model=deep_mnist", '-Pexp.gpus=""', "-Pexp.cpu_replicas=2"],
                 id="torchrun-cpu"),
])
def test_simulate_prints_the_scripts(capsys: pytest.CaptureFixture[str], name: str,
                                     options: list[str]) -> None:
    assert main(SIMULATE + options) == 0
    out, _ = capsys.readouterr()
    assert not Path("/logs").exists()
    check_golden(name, normalise(out))


def cli(tmp_path: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={tmp_path / 'logs'}",
            '-Pexp.gpus=""', "-Pruntime.kill_grace=1", *options]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_sweep_resumes_with_nothing_run_twice(tmp_path: Path, bench_dir: Path,
                                                          sig: signal.Signals) -> None:
    block, child, record = tmp_path / "block", tmp_path / "child.pid", tmp_path / "record"
    progress = tmp_path / "progress.json"
    block.touch()
    command = cli(tmp_path, '-Vexp.model=["ok1", "fail", "block", "ok2"]',
                  f"-Ppytorch.bench_path={bench_dir}", f"-Pruntime.env.RECORD={record}",
                  f"-Pruntime.env.BLOCK_FILE={block}", f"-Pruntime.env.CHILD_PID_FILE={child}",
                  "--progress-file", str(progress))
    runner = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300  # a hang guard: the loop ends when 'block' has started
    try:
        while not child.exists():
            assert time.monotonic() < deadline and runner.poll() is None, "'block' never started"
            time.sleep(0.05)
        runner.send_signal(sig)
        _, err = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:  # the test failed: the sweep must not go on behind it
            runner.kill()
            runner.communicate()
    assert runner.returncode == 130, err
    assert f"interrupted by {sig.name}" in err and "1 not started" in err
    assert not alive(int(child.read_text()))  # no orphan left behind
    logs = {f["exp.model"]: f for f in map(facts_of, (tmp_path / "logs").glob("*.log"))}
    assert {m: f["results.status"] for m, f in logs.items()} == \
        {"ok1": "ok", "fail": "failure", "block": "interrupted"}
    assert json.loads(progress.read_text())["state"] == "interrupted"
    block.unlink()  # the next run of 'block' finishes at once
    resumed = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr  # 'fail' is skipped (exp.rerun=never)
    assert record.read_text().split() == ["ok1", "fail", "block", "block", "ok2"]
    onfail = subprocess.run(command + ["-Pexp.rerun=onfail"], check=False, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert record.read_text().split()[5:] == ["fail"], onfail.stderr
    assert not list((tmp_path / "logs").glob("*.part"))


def test_validation_error_when_the_docker_engine_is_absent(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    result = subprocess.run(cli(tmp_path, "-Pexp.model=deep_mnist", "-Pexp.docker=true"),
                            check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "error: the Docker engine at unix://" in result.stderr
    assert "docker-engine.sh start" in result.stderr and "Traceback" not in result.stderr


def real_benchmark() -> Any:
    path = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
    return pytest.mark.skipif(not path.exists(), reason="benchmarks.py is not there yet")


@real_benchmark()
@pytest.mark.real_processes  # results.use.* samples the benchmark's own process tree
def test_bare_metal_sweep_of_tiny_models_with_one_timing_out(tmp_path: Path) -> None:
    slow = {"condition": {"exp.model": "sensor_net"},
            "parameters": {"exp.num_batches": 1000000, "exp.timeout": 4}}
    result = subprocess.run(
        cli(tmp_path, '-Vexp.model=["deep_mnist", "sensor_net", "acoustic_model"]',
            "-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1",
            "-Pmonitor.frequency=0.5", "-E", json.dumps(slow),
            "-E", json.dumps({"condition": {"exp.model": "acoustic_model"},
                              "parameters": {"exp.status": "disabled"}})),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    logs = {f["exp.model"]: f for f in map(facts_of, (tmp_path / "logs").glob("*.log"))}
    assert set(logs) == {"deep_mnist", "sensor_net"}
    ok, slow_facts = logs["deep_mnist"], logs["sensor_net"]
    assert ok["results.status"] == "ok" and ok["results.throughput"] > 0
    assert ok["exp.framework_version"].startswith("2.13")  # written by the benchmark itself
    assert ok["results.use.samples"] >= 1 and ok["results.use.rss_mb_peak"] > 10
    assert slow_facts["results.status"] == "timeout"
    assert "1 ok, 1 failed, 1 skipped" in result.stderr


def test_unwritable_progress_file_is_a_one_line_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.touch()
    code = main(["run", f"-Pexp.log_dir={tmp_path / 'logs'}", '-Pexp.gpus=""',
                 "-Pexp.model=deep_mnist", "--progress-file", str(blocker / "progress.json")])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: cannot write the progress file"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()  # nothing ran


@real_benchmark()
def test_a_launcher_prefix_of_variable_settings_sets_the_environment(tmp_path: Path) -> None:
    """DLBS's openvino recipe: ``runtime.launcher`` = ``MKLDNN_NO_VNNI=0 OMP_NUM_THREADS=80``
    (DLBS evaluates it as a shell command line: the words set the environment)."""
    result = subprocess.run(
        cli(tmp_path, "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2", "-Pexp.num_batches=2",
            "-Pexp.num_warmup_batches=1", "-Pruntime.launcher=DLBS_TEST_A=1 OMP_NUM_THREADS=1"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.num_threads"] == 1
    assert "exec env DLBS_TEST_A=1 OMP_NUM_THREADS=1 " in log.with_suffix(".sh").read_text()
