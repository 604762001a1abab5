"""The transformer and measurement parameters, from the plan to the launch script and the log:
``exp.seq_len``, ``exp.generate``, ``exp.peak_tflops``, ``exp.profile``, ``pytorch.model_config``."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.validate import check_experiment
from dlbs.experiment import Experiment
from dlbs.launchers.benchmark import benchmark_flags

from .test_runner import facts_of

CPU = {"exp.device_type": "cpu", "exp.model": "gpt2", "exp.cpu_replicas": 1}
NEW_FLAGS = ("--seq_len", "--generate", "--peak_tflops", "--profile", "--model_config")
#: A two-layer GPT-2 that runs in a second on a CPU (the zoo builder's keyword arguments).
TINY_GPT2 = {"layers": 2, "hidden": 64, "heads": 2}


def _pairs(flags: list[str]) -> dict[str, str]:
    return {flag: value for flag, value in itertools.pairwise(flags) if flag.startswith("--")}


def test_off_values_add_no_flag() -> None:
    flags = benchmark_flags(Experiment.of({**CPU, "exp.seq_len": 0, "exp.generate": 0, "exp.peak_tflops": 0.0,
                             "exp.profile": "", "pytorch.model_config": ""}))
    assert not set(NEW_FLAGS) & set(flags)


def test_set_values_become_their_flags_and_a_config_stays_json() -> None:
    flags = _pairs(benchmark_flags(Experiment.of({**CPU, "exp.seq_len": 64, "exp.generate": 8,
                                    "exp.peak_tflops": 312.5, "exp.profile": "/tmp/p q",
                                    "pytorch.model_config": {"n_layer": 2, "name": "a'b"}})))
    assert flags["--seq_len"] == "64" and flags["--generate"] == "8"
    assert flags["--peak_tflops"] == "312.5" and flags["--profile"] == "/tmp/p q"
    assert json.loads(flags["--model_config"]) == {"n_layer": 2, "name": "a'b"}


def _print_plan(*params: str) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "dlbs", "print", "-Pexp.gpus=", *params],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    plan = json.loads(out)
    return plan if isinstance(plan, list) else plan["experiments"]


def test_the_id_of_an_experiment_that_does_not_use_them_is_unchanged() -> None:
    base, *_ = _print_plan("-Pexp.model=gpt2")
    same, *_ = _print_plan("-Pexp.model=gpt2", "-Pexp.seq_len=0", "-Pexp.profile=")
    other, *_ = _print_plan("-Pexp.model=gpt2", "-Pexp.seq_len=64")
    assert base["exp.id"] == same["exp.id"] != other["exp.id"]


def test_the_optimizer_is_passed_and_in_the_id_only_when_chosen() -> None:
    """exp.optimizer=auto (the model's own) keeps launch scripts and ids as they were."""
    assert "--optimizer" not in benchmark_flags(Experiment.of({**CPU, "exp.optimizer": "auto"}))
    assert _pairs(benchmark_flags(Experiment.of({**CPU, "exp.optimizer": "sgd"})))["--optimizer"] == "sgd"
    base, *_ = _print_plan("-Pexp.model=gpt2")
    auto, *_ = _print_plan("-Pexp.model=gpt2", "-Pexp.optimizer=auto")
    sgd, *_ = _print_plan("-Pexp.model=gpt2", "-Pexp.optimizer=sgd")
    assert base["exp.id"] == auto["exp.id"] != sgd["exp.id"]


@pytest.mark.parametrize("params,problem", [
    pytest.param({"exp.generate": 4, "exp.phase": "training"}, "add -Pexp.phase=inference",
                 id="generate-in-training"),
    pytest.param({"exp.generate": -1, "exp.phase": "inference"}, "exp.generate is -1",
                 id="negative-generate"),
    pytest.param({"exp.seq_len": -5}, "exp.seq_len is -5", id="negative-seq-len"),
    pytest.param({"exp.peak_tflops": -2.0}, "exp.peak_tflops is -2.0", id="negative-peak"),
    pytest.param({"pytorch.model_config": "[1, 2]"}, "must be a JSON object", id="config-list"),
    pytest.param({"pytorch.model_config": "{n_layer: 2"}, "must be a JSON object",
                 id="config-not-json"),
])
def test_validate_refuses_bad_values(params: dict[str, Any], problem: str) -> None:
    experiment = {"exp.model": "gpt2", "exp.framework": "pytorch", "exp.phase": "inference",
                  "exp.replica_batch": 1, "exp.gpus": "", **params}
    problems = check_experiment(experiment)
    assert any(problem in p for p in problems), problems


def test_a_json_object_config_passes_validation() -> None:
    experiment = {"exp.model": "gpt2", "exp.framework": "pytorch", "exp.phase": "inference",
                  "exp.replica_batch": 1, "exp.gpus": "",
                  "pytorch.model_config": json.dumps(TINY_GPT2)}
    assert not [p for p in check_experiment(experiment) if "model_config" in p]


def test_a_generation_sweep_runs_and_logs_tokens_latency_and_flops(tmp_path: Path) -> None:
    """What a user types: a tiny GPT-2, a prompt of 16 tokens, 3 decode steps, on this CPU."""
    cmd = [sys.executable, "-m", "dlbs", "run", "-Pexp.gpus=", "-Pexp.model=gpt2",
           "-Pexp.phase=inference", "-Pexp.seq_len=16", "-Pexp.generate=3",
           "-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1",
           f"-Ppytorch.model_config={json.dumps(TINY_GPT2)}", "-Pexp.peak_tflops=0.5",
           f"-Pexp.log_dir={tmp_path / 'logs'}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.seq_len"] == 16
    assert facts["exp.generate"] == 3
    assert facts["results.output_tokens_per_second"] == pytest.approx(
        facts["results.throughput"] * 4)  # each sample: the prefill's token and 3 decoded
    assert 0 < facts["results.ttft_p50"] <= facts["results.ttft_p99"]
    assert 0 < facts["results.tpot_p50"] <= facts["results.tpot_p99"]
    assert facts["results.peak_tflops"] == 0.5 and facts["results.peak_source"] == "--peak_tflops"
    assert facts["results.mfu"] == pytest.approx(facts["results.tflops"] / 0.5)
    assert facts["results.peak_memory_mb"] > 0
