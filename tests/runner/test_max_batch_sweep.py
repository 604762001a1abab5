"""``exp.replica_batch`` = ``"max"`` in a sweep: expansion, validation, the OOM memory, a real run.

A "max" experiment finds its own largest batch (``benchmarks.py --batch_size max``): an earlier
OOM of its kind never skips it, and its outcome teaches the OOM memory nothing (on a CPU its
probes ran in a memory budget that fixed batches do not have).
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.experiment import Experiment
from dlbs.runner.oom import OomMemory

from .test_runner import facts_of

CPU = ['-Pexp.gpus=""', "-Pexp.model=sensor_net"]


def plan(*options: str) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "dlbs", "print", "--format", "jsonl", *CPU,
                          *options], check=True, capture_output=True, text=True, timeout=300)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_max_expands_next_to_integers_with_an_honest_effective_batch() -> None:
    exps = plan("-Vexp.replica_batch=[16, \"max\"]", "-Pexp.log_dir=/logs")
    assert [(e["exp.replica_batch"], e["exp.effective_batch"]) for e in exps] == \
        [(16, 16), ("max", "max")]
    assert exps[1]["exp.log_file"] == f"/logs/pytorch_cpu_sensor_net_bmax_{exps[1]['exp.id']}.log"
    assert exps[0]["exp.id"] == plan("-Pexp.replica_batch=16", "-Pexp.log_dir=/logs")[0]["exp.id"]


@pytest.mark.parametrize("options,message", [
    (["-Pexp.replica_batch=maxx"], ("error: parameter 'exp.replica_batch': cannot cast 'maxx' "
                                    "to int; give an integer such as 16 or 'max'")),
    (["-Vexp.replica_batch=[2, \"Max\"]"], "cannot cast 'Max' to int"),
    (["-Pexp.replica_batch=0"], "exp.replica_batch is 0; it must be an integer >= 1 or 'max'"),
    (["-Pexp.replica_batch=-2"], "exp.replica_batch is -2; it must be an integer >= 1 or 'max'"),
    (["-Pexp.replica_batch=max", "-Pexp.cpu_replicas=2"],
     ("exp.replica_batch is 'max' but exp.num_replicas is 2: the largest batch is searched "
      "with one replica")),
    (["-Pexp.replica_batch=max", "-Ppytorch.data_loader_only=true", "-Pexp.data_dir=/data"],
     "exp.replica_batch is 'max' but pytorch.data_loader_only is true"),
])
def test_validate_refuses_other_values_naming_the_parameter(
        capsys: pytest.CaptureFixture[str], options: list[str], message: str) -> None:
    assert main(["validate", *CPU, *options]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_validate_accepts_max_mixed_with_integers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *CPU, "-Vexp.replica_batch=[16, \"max\"]"]) == 0
    assert "2 experiments: 2 to run" in capsys.readouterr().err


def test_an_oom_never_skips_max_and_max_teaches_nothing(
        make_exp: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    memory = OomMemory()
    small, largest = (Experiment.of(make_exp("mem", {"exp.replica_batch": b})) for b in (16, "max"))
    memory.note(small, "oom", small.log_file)
    assert memory.reason_to_skip(largest) is None  # it searches below the OOM by itself
    assert memory.reason_to_skip(Experiment.of(make_exp("mem", {"exp.replica_batch": 32}))) is not None
    fresh = OomMemory()
    fresh.note(largest, "oom", largest.log_file)  # batch 1 did not fit in its budget
    log = Path(largest.log_file)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text('__exp.replica_batch__="max"\n__results.status__="oom"\n')
    fresh.learn_from_logs([largest])
    assert fresh.smallest == {}
    assert fresh.reason_to_skip(Experiment.of(make_exp("mem", {"exp.replica_batch": 1}))) is None


def test_a_sweep_with_max_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={tmp_path / 'logs'}", *CPU,
         "-Vexp.replica_batch=[2, \"max\"]", "-Pexp.num_batches=1", "-Pexp.num_warmup_batches=0",
         "-Pexp.cpu_threads=1", "-Pruntime.env.DLBS_MAX_BATCH_BUDGET_MB=40"],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "2 ok, 0 failed" in result.stderr
    logs = {f["exp.replica_batch"]: f for f in
            map(facts_of, sorted((tmp_path / "logs").glob("*.log")))}
    assert set(logs) == {2, "max"}
    fixed, largest = logs[2], logs["max"]
    assert fixed["results.status"] == "ok" and "results.max_batch" not in fixed
    assert largest["results.status"] == "ok" and largest["results.max_batch"] > 2
    assert largest["exp.effective_batch"] == largest["results.max_batch"]  # the benchmark's
    assert largest["exp.max_batch_budget_mb"] == 40.0
    probes = largest["results.max_batch_probes"]
    assert [p["batch"] for p in probes][:3] == [1, 2, 4]
    assert any(p["batch"] == largest["results.max_batch"] + 1 and not p["fits"] for p in probes)
