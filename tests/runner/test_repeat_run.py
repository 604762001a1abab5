"""Repeats and the adaptive/thread parameters, from the plan to the launch script and logs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.experiment import Experiment
from dlbs.launchers import build_command, list_layers
from dlbs.launchers.benchmark import benchmark_flags

from .test_cli_run import cli, real_benchmark
from .test_launchers import exp_of
from .test_runner import facts_of

CPU = {"exp.device_type": "cpu", "exp.model": "m", "exp.cpu_replicas": 1}


@pytest.mark.parametrize("params,present,absent", [
    pytest.param({}, [], ["--target_precision", "--max_time", "--num_threads"], id="defaults"),
    pytest.param({"exp.target_precision": 0.01, "exp.max_time": 30.0, "exp.cpu_threads": 2},
                 ["--target_precision", "0.01", "--max_time", "30.0", "--num_threads", "2"], [],
                 id="set"),
    pytest.param({"exp.target_precision": 0.05}, ["--target_precision", "0.05"],
                 ["--max_time", "--num_threads"], id="precision-only"),
    pytest.param({"exp.max_time": 5}, ["--max_time", "5"], ["--target_precision", "--num_threads"],
                 id="max-time-only"),
    pytest.param({"exp.cpu_threads": 2, "exp.device_type": "gpu"}, ["--num_threads", "2"], [],
                 id="gpu-threads-too"),
])
def test_new_flags_appear_only_when_set(params: dict[str, Any], present: list[str],
                                        absent: list[str]) -> None:
    flags = benchmark_flags(Experiment.of({**CPU, "exp.target_precision": 0.0, "exp.max_time": 0.0,
                             "exp.cpu_threads": 0, **params}))
    pairs = [" ".join(present[i:i + 2]) for i in range(0, len(present), 2)]
    joined = " ".join(flags)
    assert all(pair in joined for pair in pairs) and not any(a in joined for a in absent)


@pytest.mark.parametrize("params,expected", [
    pytest.param({"exp.cpu_threads": 0}, "1", id="default-one"),
    pytest.param({"exp.cpu_threads": 3}, "3", id="cpu-threads"),
    pytest.param({"exp.cpu_threads": 3, "runtime.env.OMP_NUM_THREADS": "5"}, "5",
                 id="runtime-env-wins"),
])
def test_torchrun_threads_follow_exp_cpu_threads(params: dict[str, Any], expected: str) -> None:
    exp = exp_of(exp__cpu_replicas=2, exp__num_local_replicas=2, **{
        k.replace(".", "__"): v for k, v in params.items()})
    assert list_layers(Experiment.of(exp))[:2] == ["benchmark", "torchrun"]
    assert build_command(Experiment.of(exp)).env_dict()["OMP_NUM_THREADS"] == expected


def _args(tmp_path: Path, bench_dir: Path, *extra: str,
          models: str = '["ok1", "ok2"]') -> list[str]:
    return ["-Pexp.gpus=", f"-Vexp.model={models}", "-Pexp.repeat=2",
            f"-Pexp.log_dir={tmp_path / 'logs'}", f"-Ppytorch.bench_path={bench_dir}",
            f"-Pruntime.env.RECORD={tmp_path / 'record'}", *extra]


def _run(tmp_path: Path, bench_dir: Path, *extra: str,
         models: str = '["ok1", "ok2"]') -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dlbs", "run", *_args(tmp_path, bench_dir, *extra,
                                                        models=models)]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)


def _printed(tmp_path: Path, bench_dir: Path, *extra: str,
             models: str = '["ok1", "ok2"]') -> list[dict[str, Any]]:
    """The runs ``print`` lists for the same options, in its order."""
    cmd = [sys.executable, "-m", "dlbs", "print", "--format", "jsonl",
           *_args(tmp_path, bench_dir, *extra, models=models)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def _record(tmp_path: Path) -> list[str]:
    return (tmp_path / "record").read_text().split()


def test_a_sweep_with_repeats_runs_interleaved_and_resumes(tmp_path: Path,
                                                           bench_dir: Path) -> None:
    first = _run(tmp_path, bench_dir)
    assert first.returncode == 0, first.stderr
    # issue 19: rounds in a random order; the order print shows, each round both models
    assert _record(tmp_path) == [e["exp.model"] for e in _printed(tmp_path, bench_dir)]
    assert sorted(_record(tmp_path)[:2]) == sorted(_record(tmp_path)[2:]) == ["ok1", "ok2"]
    logs = sorted(map(facts_of, (tmp_path / "logs").glob("*.log")),
                  key=lambda f: (f["exp.model"], f["exp.repeat_index"]))
    assert [(f["exp.model"], f["exp.repeat_index"]) for f in logs] == [
        ("ok1", 0), ("ok1", 1), ("ok2", 0), ("ok2", 1)]
    assert logs[0]["exp.id"] == logs[1]["exp.id"] and all(f["results.status"] == "ok"
                                                          for f in logs)
    again = _run(tmp_path, bench_dir)
    assert again.returncode == 0 and len(_record(tmp_path)) == 4
    more = _run(tmp_path, bench_dir, "-Pexp.repeat=3")
    assert more.returncode == 0, more.stderr
    assert _record(tmp_path)[4:] == [e["exp.model"] for e in _printed(
        tmp_path, bench_dir, "-Pexp.repeat=3")[4:]]


def test_a_stopped_interleaved_sweep_resumes_in_the_same_order(tmp_path: Path,
                                                               bench_dir: Path) -> None:
    """The order comes from the plan and exp.order_seed (never the clock): a sweep stopped
    after 4 of its 9 runs (the logs of the others gone) runs the 5 left in the order the
    first run had them, and its logs record each run's round and place in it."""
    models, extra = '["ok1", "ok2", "ok3"]', ("-Pexp.repeat=3", "-Pexp.order_seed=5")
    assert _run(tmp_path, bench_dir, *extra, models=models).returncode == 0
    order = _record(tmp_path)
    runs = _printed(tmp_path, bench_dir, *extra, models=models)
    assert order == [e["exp.model"] for e in runs] and len(order) == 9
    for run in runs:
        facts = facts_of(run["exp.log_file"])
        assert (facts["exp.repeat_index"], facts["exp.round_position"], facts["exp.interleave"],
                facts["exp.order_seed"]) == (run["exp.repeat_index"], run["exp.round_position"],
                                             "random", 5)
    for run in runs[4:]:
        Path(run["exp.log_file"]).unlink()
    assert _run(tmp_path, bench_dir, *extra, models=models).returncode == 0
    assert _record(tmp_path)[9:] == order[4:]


def test_repeats_sharing_one_log_are_refused(tmp_path: Path, bench_dir: Path) -> None:
    result = _run(tmp_path, bench_dir, f"-Pexp.log_file={tmp_path}/one_${{exp.model}}.log")
    assert result.returncode == 1
    assert "exp.repeat_index" in result.stderr and "exp.log_file" in result.stderr


@real_benchmark()
def test_a_real_interleaved_sweep_records_each_runs_round_and_place(tmp_path: Path) -> None:
    """``experimenter run`` with the real benchmark and a tiny CPU model, two values of a
    parameter x 2 rounds: the parsed logs (``dlbs parse``) give each run's round and place, and
    sorted by them they are the order the runs started in, which is the order ``print`` shows."""
    options = ["-Pexp.model=deep_mnist", "-Vexp.replica_batch=[1, 2]", "-Pexp.repeat=2",
               "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", "-Pexp.order_seed=3"]
    result = subprocess.run(cli(tmp_path, *options), check=False, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    parsed = subprocess.run([sys.executable, "-m", "dlbs", "parse", str(tmp_path / "logs")],
                            check=True, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120).stdout
    records = sorted(json.loads(parsed)["data"],
                     key=lambda r: (r["exp.repeat_index"], r["exp.round_position"]))
    assert all(r["results.status"] == "ok" for r in records) and len(records) == 4
    placed = [(r["exp.repeat_index"], r["exp.round_position"]) for r in records]
    assert placed == [(0, 0), (0, 1), (1, 0), (1, 1)]
    starts = [r["exp.runner_start_time"] for r in records]
    assert starts == sorted(starts)
    assert {r["exp.interleave"] for r in records} == {"random"}
    assert {r["exp.order_seed"] for r in records} == {3}
    printed = subprocess.run([*cli(tmp_path, *options)[:3], "print", "--format", "jsonl",
                              *cli(tmp_path, *options)[4:]], check=True, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert [r["exp.log_file"] for r in records] == [json.loads(e)["exp.log_file"]
                                                    for e in printed]
