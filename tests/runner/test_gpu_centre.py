"""Slurm at GPU centres (issue 22): GPU resources as sbatch options, checked against the GPUs
an experiment uses, and every script a run would submit written for review without
submitting. GRES cannot be scheduled on the test cluster: the batch scripts are golden files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.errors import ValidationError
from dlbs.launchers.slurm import build_batch_script, gres_gpus

from .conftest import BASE_EXPERIMENT
from .test_cli_run import check_golden

GPU8 = {"exp.gpus": "0,1,2,3,4,5,6,7", "exp.device_type": "gpu", "exp.num_gpus": 16,
        "exp.num_local_gpus": 8, "exp.num_local_replicas": 8,
        "runtime.visible_gpus": "0,1,2,3,4,5,6,7", "slurm.gpus_per_node": 8}


def _exp(**params: Any) -> dict[str, Any]:
    exp = dict(BASE_EXPERIMENT, **{"exp.id": "abc123", "exp.log_file": "/logs/a.log",
                                   "exp.log_dir": "/logs", "exp.scheduler": "slurm",
                                   "exp.num_nodes": 2}, **GPU8)
    exp.update({k.replace("__", "."): v for k, v in params.items()})
    return exp


def test_a_dgx_style_job_asks_for_typed_gpus_features_and_memory_per_gpu() -> None:
    exp = _exp(slurm__partition="dgx", slurm__gres="gpu:a100:8", slurm__cpus_per_gpu=12,
               slurm__mem_per_gpu="120G", slurm__constraint="a100&ib",
               slurm__reservation="bench", slurm__licenses="fs_lustre:1")
    text = build_batch_script(exp, "/logs/a.sh", "/logs/a.log.end")
    check_golden("slurm_dgx_gres.sbatch", text)
    lines = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:a100:8" in lines and "#SBATCH --cpus-per-gpu=12" in lines
    assert not any("--gpus-per-node" in line for line in lines)  # the gres asks for them


def test_gpus_per_task_replaces_gpus_per_node() -> None:
    text = build_batch_script(_exp(slurm__gpus_per_task=8), "/logs/a.sh", "/logs/a.log.end")
    assert "#SBATCH --gpus-per-task=8" in text and "--gpus-per-node" not in text


@pytest.mark.parametrize("params,words", [
    ({"slurm__gres": "gpu:a100:4"}, ("slurm.gres asks for 4 GPU(s) per node but the "
                                    "experiment uses 8")),
    ({"slurm__gpus_per_task": 2}, "slurm.gpus_per_task asks for 2 GPU(s)"),
    ({"slurm__mem": "64G", "slurm__mem_per_gpu": "8G"}, "slurm.mem and slurm.mem_per_gpu"),
    ({"slurm__cpus_per_task": 16, "slurm__cpus_per_gpu": 2},
     "slurm.cpus_per_task and slurm.cpus_per_gpu"),
    ({"slurm__gres": "gpu:a100:eight"}, "not a GPU request"),
    ({"slurm__constraint": "a100 & ib"}, "slurm.constraint"),
    ({"slurm__reservation": "$(id)"}, "slurm.reservation"),
    # forms sbatch itself refuses (checked against sbatch 22.05 of the test cluster)
    ({"slurm__mem_per_gpu": "16X"}, "'slurm.mem_per_gpu' = '16X' is not what sbatch takes"),
    ({"slurm__mem_per_gpu": "1.5G"}, "'slurm.mem_per_gpu' = '1.5G' is not what sbatch takes"),
    ({"slurm__mem": "16GiB"}, "'slurm.mem' = '16GiB' is not what sbatch takes"),
    ({"slurm__time": "abc"}, "'slurm.time' = 'abc' is not what sbatch takes"),
    ({"slurm__time": "1:2:3:4"}, "'slurm.time' = '1:2:3:4' is not what sbatch takes"),
])
def test_impossible_or_unsafe_requests_are_refused(params: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        build_batch_script(_exp(**params), "/logs/a.sh", "/logs/a.log.end")


@pytest.mark.parametrize("name,value", [
    ("slurm.mem", "16"), ("slurm.mem", "64G"), ("slurm.mem", "16gb"), ("slurm.mem", "0"),
    ("slurm.mem_per_gpu", "80G"), ("slurm.mem_per_gpu", "512M"), ("slurm.time", "90"),
    ("slurm.time", "10:00"), ("slurm.time", "02:00:00"), ("slurm.time", "1-0"),
    ("slurm.time", "2-3:4"), ("slurm.time", "1-00:00:00"), ("slurm.time", "UNLIMITED"),
    ("slurm.time", "infinite")])
def test_sizes_and_time_limits_sbatch_takes_are_accepted(name: str, value: str) -> None:
    exp = _exp(**{name.replace(".", "__"): value, "slurm__signal": ""})
    assert f"={value}" in build_batch_script(exp, "/logs/a.sh", "/logs/a.log.end")


@pytest.mark.parametrize("gres,count", [("gpu", 1), ("gpu:8", 8), ("gpu:a100", 1),
                                        ("gpu:a100:8", 8), ("gpu:a100:4,gpu:v100:2", 6),
                                        ("shard:4", None), ("", None)])
def test_gres_gpu_counts_follow_slurms_syntax(gres: str, count: int | None) -> None:
    assert gres_gpus({"slurm.gres": gres}) == count


def _experimenter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd=cwd, env=dict(os.environ))


def test_validate_refuses_eight_gpus_per_node_with_a_gres_of_four(tmp_path: Path) -> None:
    done = _experimenter("validate", "-Pexp.scheduler=slurm", "-Pexp.gpus=0,1,2,3,4,5,6,7",
                         "-Pslurm.gres=gpu:a100:4", "-Pexp.model=resnet50",
                         f"-Pexp.log_dir={tmp_path / 'logs'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "slurm.gres asks for 4 GPU(s) per node but the experiment uses 8" in done.stderr


def test_build_scripts_writes_what_a_run_would_submit_and_nothing_else(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    plan = tmp_path / "plan.json"
    built = _experimenter("build", "-Pexp.scheduler=slurm", "-Vexp.model=[\"resnet50\", \"alexnet\"]",
                          "-Pexp.gpus=0,1,2,3", "-Pslurm.gres=gpu:a100:4", f"-Pexp.log_dir={logs}",
                          "--output", str(plan), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    done = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "review"),
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "review" / "index.json").read_text())
    assert [e["exp.model"] for e in index] == ["resnet50", "alexnet"]
    for entry in index:
        batch = (tmp_path / "review" / entry["batch_script"]).read_text()
        assert "#SBATCH --gres=gpu:a100:4" in batch
        assert entry["runs_as"] in batch  # the launch script where the run would write it
        assert (tmp_path / "review" / entry["launch_script"]).read_text().startswith("#!")
        assert entry["submitted_as"].startswith(str(logs))
    assert not logs.exists()  # nothing run, no log folder made
    again = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "review"),
                          cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    linked = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "link"),
                           cwd=tmp_path)
    assert linked.returncode == 2 and "symbolic link" in linked.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_a_bad_experiment_writes_no_script(tmp_path: Path) -> None:
    done = _experimenter("build", "-Pexp.scheduler=slurm", "-Pexp.gpus=0,1,2,3",
                         "-Pslurm.gres=gpu:a100:2", f"-Pexp.log_dir={tmp_path / 'logs'}",
                         "--scripts", str(tmp_path / "review"), cwd=tmp_path)
    assert done.returncode != 0 and "slurm.gres asks for 2" in done.stderr
    assert not (tmp_path / "review").exists()
