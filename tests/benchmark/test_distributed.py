"""DistributedDataParallel under torchrun: 2 gloo processes on this CPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist
from pytorch_benchmarks.runtime.distributed import DistContext, detect

from .conftest import read_facts

SCRIPT = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"


def test_context_comes_from_the_torchrun_environment() -> None:
    assert detect({}) == DistContext()
    ctx = detect({"LOCAL_RANK": "1", "RANK": "3", "WORLD_SIZE": "4"})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.enabled, ctx.is_main) == (
        3, 1, 4, True, False)


def _torchrun(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    log = tmp_path / "ddp.log"
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), *argv, "--log_file", str(log)]
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=240)
    return done, (read_facts(log) if log.exists() else {})


@pytest.mark.torchrun
def test_ddp_trains_on_two_processes_and_only_rank_0_reports(tmp_path: Path) -> None:
    done, facts = _torchrun(tmp_path, "--model", "deep_mnist", "--batch_size", "8",
                            "--device", "cpu", "--num_batches", "3", "--num_warmup_batches", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "ddp.log").read_text()
    assert text.count("__results.status__") == 1 and facts["results.status"] == "ok"
    assert facts["exp.world_size"] == 2 and facts["exp.num_replicas"] == 2
    assert facts["exp.effective_batch"] == 16
    assert facts["results.throughput"] == pytest.approx(16000 / facts["results.time"])


@pytest.mark.torchrun
def test_ddp_failure_is_reported_and_exits_non_zero(tmp_path: Path) -> None:
    done, facts = _torchrun(tmp_path, "--model", "no_such_model", "--device", "cpu")
    assert done.returncode != 0
    assert facts["results.status"] == "failure" and "unknown model" in facts["results.error"]


@pytest.mark.torchrun
def test_ddp_reads_sharded_real_data(tmp_path: Path, image_folder: str) -> None:
    done, facts = _torchrun(tmp_path, "--model", "resnet18", "--image_size", "32",
                            "--batch_size", "2", "--device", "cpu", "--data_dir", image_folder,
                            "--num_loader_threads", "1", "--data_shuffle", "--num_batches", "5",
                            "--num_warmup_batches", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert facts["results.status"] == "ok" and facts["exp.data_backend"] == "image_folder"
    assert facts["exp.effective_batch"] == 4 and len(facts["results.time_data"]) == 5


@pytest.mark.torchrun
def test_ddp_ranks_stop_an_adaptive_run_together(tmp_path: Path) -> None:
    """Every rank decides from the same all-reduced times: no rank is left in a collective."""
    done, facts = _torchrun(tmp_path, "--model", "deep_mnist", "--batch_size", "8",
                            "--device", "cpu", "--num_batches", "4", "--num_warmup_batches", "1",
                            "--target_precision", "0.02", "--max_time", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert facts["results.status"] == "ok" and facts["exp.world_size"] == 2
    # --max_time may stop it before --num_batches on a loaded machine (CI: 1.4 s an
    # iteration, 3 done): what counts is that both ranks stopped at the same one
    assert facts["results.num_batches_done"] == len(facts["results.time_data"]) >= 1
    assert (tmp_path / "ddp.log").read_text().count("__results.num_batches_done__") == 1
    assert facts["exp.num_threads"] == 1  # OMP_NUM_THREADS=1 in the environment wins


def test_who_writes_the_log() -> None:
    """One log per node by hand (each node's local rank 0); one per job in a Slurm job."""
    node1 = {"LOCAL_RANK": "0", "RANK": "2", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}
    assert detect(node1).writes_log and not detect(node1).is_main
    assert not detect({**node1, "DLBS_LOG_PER": "job"}).writes_log
    assert detect({**node1, "RANK": "0", "DLBS_LOG_PER": "job"}).writes_log
    assert not detect({**node1, "LOCAL_RANK": "1", "RANK": "3"}).writes_log
