"""The limits of two waits as parameters: ``exp.max_batch_time`` (the search for the largest
batch, benchmark flag ``--max_batch_time``) and ``exp.rendezvous_timeout`` (torchrun's
``--rdzv_conf timeout=N``): how they reach the launch script, ``exp.id`` and ``validate``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.experiment import Experiment
from dlbs.launchers import build_command

from .test_launchers import exp_of
from .test_runner import facts_of

CPU = ['-Pexp.gpus=""', "-Pexp.model=sensor_net"]


def planned(*options: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "dlbs", "print", "--format", "jsonl", *CPU,
                          *options], check=True, capture_output=True, text=True, timeout=60)
    (line,) = out.stdout.splitlines()
    return dict(json.loads(line))


def flag(argv: tuple[str, ...], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.parametrize("params, value", [
    pytest.param({"exp__replica_batch": "max", "exp__max_batch_time": 600.0}, "600.0",
                 id="max-default"),
    pytest.param({"exp__replica_batch": "max", "exp__max_batch_time": 0}, "0", id="max-no-limit"),
    pytest.param({"exp__replica_batch": 16, "exp__max_batch_time": 30.0}, None,
                 id="a-fixed-batch-gets-no-flag"),
])
def test_max_batch_time_reaches_only_a_max_experiment(params: dict[str, Any],
                                                      value: str | None) -> None:
    assert flag(build_command(Experiment.of(exp_of(**params))).argv, "--max_batch_time") == value


def test_the_ids_keep_still_for_the_default_waits() -> None:
    plain = planned("-Pexp.replica_batch=max")["exp.id"]
    assert planned("-Pexp.replica_batch=max", "-Pexp.max_batch_time=600")["exp.id"] == plain
    assert planned("-Pexp.replica_batch=max", "-Pexp.max_batch_time=30")["exp.id"] != plain
    assert planned("-Pexp.replica_batch=max", "-Pexp.rendezvous_timeout=9")["exp.id"] == plain


@pytest.mark.parametrize("option, message", [
    ("-Pexp.max_batch_time=-1", "exp.max_batch_time is -1; it must be a number >= 0"),
    ("-Pexp.max_batch_time=1e12", "exp.max_batch_time is 1000000000000.0 s (over 30 days)"),
    ("-Pexp.rendezvous_timeout=0", "exp.rendezvous_timeout is 0; it must be an integer >= 1"),
    ("-Pexp.rendezvous_timeout=2.5", "exp.rendezvous_timeout is 2.5; it must be an integer >= 1"),
])
def test_validate_refuses_waits_that_mean_nothing(capsys: pytest.CaptureFixture[str],
                                                  option: str, message: str) -> None:
    assert main(["validate", *CPU, option]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_sweep_says_when_the_time_limit_cut_the_search(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", *CPU, "-Pexp.replica_batch=max",
         "-Pexp.max_batch_time=0.000001", "-Pruntime.env.DLBS_MAX_BATCH_BUDGET_MB=300",
         "-Pexp.num_batches=1", "-Pexp.num_warmup_batches=0", "-Pexp.cpu_threads=1",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "--progress-bar", "off"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["results.max_batch"] == 1
    assert facts["results.max_batch_timed_out"] is True and facts["exp.max_batch_time"] == 1e-06
    assert any("a lower bound" in w and "--max_batch_time" in w for w in facts["exp.warnings"])
