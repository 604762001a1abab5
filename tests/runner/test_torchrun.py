"""Several replicas on one node: two CPU processes under torchrun give one result."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .test_runner import facts_of

pytestmark = pytest.mark.torchrun


def test_two_process_torchrun_experiment(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={tmp_path / 'logs'}",
         '-Pexp.gpus=""', "-Pexp.cpu_replicas=2", "-Pexp.model=deep_mnist",
         "-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1",
         "-Pexp.timeout=240"],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    text = log.read_text()
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.world_size"] == 2
    assert facts["results.throughput"] > 0
    assert text.count("__results.throughput__") == 1  # one result for all ranks
    script = log.with_suffix(".sh").read_text()
    assert "torch.distributed.run" in script and "--nproc_per_node 2" in script
    assert "export GLOO_SOCKET_IFNAME=lo" in script and "export MASTER_ADDR=127.0.0.1" in script


def test_a_sharded_experiment_of_one_process_runs_under_torchrun(tmp_path: Path) -> None:
    """exp.parallelism fsdp with one replica: torchrun starts it (FSDP2 over one rank, what a
    one-GPU host measures), and validate does not refuse it."""
    config = ('{"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2, '
              '"intermediate": 64}')
    params = [f"-Pexp.log_dir={tmp_path / 'logs'}", '-Pexp.gpus=""', "-Pexp.model=llama3_1b",
              f"-Ppytorch.model_config={config}", "-Pexp.seq_len=16", "-Pexp.replica_batch=2",
              "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", "-Pexp.timeout=240",
              '-Pexp.parallelism="fsdp"']
    checked = subprocess.run([sys.executable, "-m", "dlbs", "validate", *params], check=False,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = subprocess.run([sys.executable, "-m", "dlbs", "run", *params], check=False,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.world_size"] == 1
    assert (facts["exp.parallelism"], facts["exp.mesh_shape"]) == ("fsdp", [1])
    script = log.with_suffix(".sh").read_text()
    assert "torch.distributed.run" in script and "--nproc_per_node 1" in script
