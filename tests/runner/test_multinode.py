"""Several nodes: refused without a way to reach them; by hand (DLBS's distributed recipe) with
one ``experimenter run`` per node; the launch scripts of both ways."""
from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.errors import ValidationError
from dlbs.launchers import build_script

from .test_runner import facts_of

NODE = ['-Pexp.gpus=""', "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
        "-Pexp.num_batches=3", "-Pexp.num_warmup_batches=1", "-Pexp.num_nodes=2"]


def dlbs(tmp_path: Path, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", action, *NODE,
                           f"-Pexp.log_dir={tmp_path / 'logs'}", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=240, check=False)


def test_validate_refuses_nodes_nothing_reaches(tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0
    assert "exp.num_nodes is 2 but nothing reaches the other nodes" in line
    assert "-Pexp.scheduler=slurm" in line and "pytorch.distributed_rendezvous" in line


def test_run_without_validation_never_claims_the_nodes(tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", "--no-validation", "--progress-bar", "off")
    assert result.returncode == 1
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "failure"
    assert "nothing reaches the other nodes" in facts["results.error"]
    assert "results.throughput" not in facts and "exp.world_size" not in facts


@pytest.mark.parametrize("params, message", [
    (["-Ppytorch.distributed_rendezvous=h;touch /tmp/x:1"], "use HOST:PORT"),
    (["-Ppytorch.distributed_rendezvous=10.0.0.1:99999"], "use HOST:PORT"),
    (["-Ppytorch.distributed_rendezvous=10.0.0.1:29500", "-Ppytorch.distributed_rank=2"],
     "it must be 0..1"),
])
def test_bad_rendezvous_or_rank_is_refused(tmp_path: Path, params: list[str],
                                           message: str) -> None:
    result = dlbs(tmp_path, "validate", *params)
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_manual_script_names_rank_and_rendezvous(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "exp.num_replicas": 2,
                           "pytorch.distributed_rank": 1,
                           "pytorch.distributed_rendezvous": "10.1.2.3:29500"})
    script = build_script(exp)
    assert ("--nnodes 2 --node_rank 1 --master_addr 10.1.2.3 --master_port 29500"
            in " ".join(script.replace("\\\n", " ").split()))
    assert "--standalone" not in script
    assert "GLOO_SOCKET_IFNAME" not in script and "MASTER_ADDR=" not in script  # a real network


def test_slurm_script_takes_the_rank_at_run_time(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "exp.scheduler": "slurm", "exp.docker": True,
                           "exp.docker_image": "img"})
    script = build_script(exp)
    assert 'export PET_NODE_RANK="${SLURM_NODEID:?not inside a Slurm job step}"' in script
    flat = " ".join(script.replace("\\\n", " ").split())
    assert "--nnodes 2 --nproc_per_node 1" in flat and "--node_rank" not in flat
    assert "-e PET_NODE_RANK -e PET_MASTER_ADDR -e PET_MASTER_PORT" in flat
    assert "--network host" in flat
    assert "-e DLBS_LOG_PER=job" in flat  # the nodes share the job's log: rank 0 writes it


def test_single_node_refusal_is_a_validation_error(make_exp: Callable[..., dict[str, Any]]) -> None:
    with pytest.raises(ValidationError, match="nothing reaches the other nodes"):
        build_script(make_exp(params={"exp.num_nodes": 3}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.torchrun
def test_two_nodes_by_hand_make_one_ddp_job(tmp_path: Path) -> None:
    where = f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *NODE, f"-Ppytorch.distributed_rank={rank}",
         f"-Ppytorch.distributed_rendezvous={where}", "-Pexp.timeout=200",
         f"-Pexp.log_dir={tmp_path / f'node{rank}'}", "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)]
    results = [node.communicate(timeout=240) for node in nodes]
    assert [n.returncode for n in nodes] == [0, 0], results
    logs = [next((tmp_path / f"node{rank}").glob("*.log")) for rank in (0, 1)]
    facts = [facts_of(log) for log in logs]
    assert facts[0]["results.status"] == "ok", facts[0].get("results.error")
    assert facts[0]["exp.world_size"] == 2 and facts[0]["exp.num_replicas"] == 2
    assert facts[0]["exp.effective_batch"] == 4
    # rank 1's log: the same job (same replicas, same effective batch), its results on rank 0.
    assert facts[1]["results.status"] == "ok", facts[1].get("results.error")
    for key in ("exp.num_replicas", "exp.effective_batch", "exp.id"):
        assert facts[0][key] != facts[1][key] if key == "exp.id" else facts[0][key] == facts[1][key]
