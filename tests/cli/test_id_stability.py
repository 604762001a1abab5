"""``exp.id`` (and so the log file name) of an experiment that does not use a newer parameter
stays what it was before that parameter existed: ``exp.rerun`` then resumes old sweeps."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: The id of this default experiment as dlbs computed it before the Slurm and multi-node
#: parameters (commit ddedc10, with DLBS_ROOT=/opt/dlbs and DLBS_PYTHON=/work/main/.venv/bin/python:
#: the interpreter's path is part of the command, so it is fixed here, wherever the clone is): a
#: new parameter must not change it.
PINNED = "935a1d1af8bc"
BASE = ["-Pexp.model=alexnet", "-Pexp.log_dir=/x"]


def exp_id(*params: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dlbs", "print", *BASE, *params, "--format",
                          "jsonl"], capture_output=True, text=True, check=True,
                         env={**os.environ, "DLBS_ROOT": "/opt/dlbs",
                              "DLBS_PYTHON": "/work/main/.venv/bin/python"}).stdout
    return str(json.loads(out.splitlines()[0])["exp.id"])


def test_default_experiment_keeps_its_id() -> None:
    assert exp_id() == PINNED


@pytest.mark.parametrize("param", [
    "-Pexp.scheduler=local", "-Pslurm.max_jobs=4", "-Pslurm.time=30", "-Pslurm.master_port=4000",
    "-Pexp.ignore_past_errors=true", "-Ppytorch.distributed_rank=0", "-Pexp.rerun=always",
    "-Pslurm.requeue=true", "-Pslurm.queue_timeout=30",
])
def test_run_control_and_off_values_keep_the_id(param: str) -> None:
    assert exp_id(param) == PINNED


@pytest.mark.parametrize("param", [
    "-Pexp.scheduler=slurm", "-Pslurm.partition=gpu", "-Pslurm.exclusive=false",
    "-Ppytorch.distributed_rank=1", "-Pexp.cpu_threads=2",
])
def test_what_changes_the_measurement_changes_the_id(param: str) -> None:
    assert exp_id(param) != PINNED
