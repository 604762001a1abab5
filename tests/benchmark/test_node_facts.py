"""``hw.nodes.<node>.*``: each node's CPU, memory, GPUs, driver and network settings, in the
log of a run across nodes (two torchrun "nodes" on this machine, told apart as Slurm does by
``SLURMD_NODENAME``)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from pytorch_benchmarks.runtime import nodeinfo
from pytorch_benchmarks.runtime.nodeinfo import (
    command_output,
    flatten,
    gpu_facts,
    ib_ports,
    network_env,
    node_name,
)

from .conftest import read_facts

SCRIPT = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"
IBV_DEVINFO = """hca_id:\tmlx5_0
\ttransport:\t\t\tInfiniBand (0)
\tfw_ver:\t\t\t\t20.31.1014
\tphys_port_cnt:\t\t\t1
\t\tport:\t1
\t\t\tstate:\t\t\tPORT_ACTIVE (4)
\t\t\tmax_mtu:\t\t4096 (5)
\t\t\tactive_mtu:\t\t4096 (5)
\t\t\tlink_layer:\t\tInfiniBand

hca_id:\tmlx5_1
\t\tport:\t1
\t\t\tstate:\t\t\tPORT_DOWN (1)
\t\t\tactive_mtu:\t\t1024 (3)
\t\t\tlink_layer:\t\tEthernet
"""


def test_a_node_is_named_as_slurm_names_it_and_a_key_holds_no_dot() -> None:
    assert node_name({"SLURMD_NODENAME": "n2"}) == "n2"
    assert node_name({"SLURMD_NODENAME": "gpu01.cluster.org"}) == "gpu01_cluster_org"
    assert node_name({}) == node_name({"X": "1"}) != ""
    assert "." not in node_name({"SLURMD_NODENAME": "a.b c$d"})


def test_the_network_environment_is_kept_and_nothing_else() -> None:
    env = {"NCCL_IB_HCA": "mlx5_0", "NCCL_DEBUG": "INFO", "UCX_TLS": "rc", "FI_PROVIDER": "efa",
           "OMPI_MCA_btl": "^openib", "HOME": "/root", "SECRET_NCCL": "x"}
    assert network_env(env) == {"FI_PROVIDER": "efa", "NCCL_DEBUG": "INFO",
                                "NCCL_IB_HCA": "mlx5_0", "OMPI_MCA_btl": "^openib",
                                "UCX_TLS": "rc"}


def test_ibv_devinfo_is_one_line_per_port() -> None:
    assert ib_ports(IBV_DEVINFO) == ["mlx5_0 port 1: PORT_ACTIVE, InfiniBand, mtu 4096",
                                     "mlx5_1 port 1: PORT_DOWN, Ethernet, mtu 1024"]
    assert ib_ports(None) is None
    assert ib_ports("") == []


def fake_command(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_absent_failing_or_hanging_commands_give_null(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake_command(tmp_path, "fails", "echo partial; exit 3")
    fake_command(tmp_path, "hangs", "exec sleep 600")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(nodeinfo, "COMMAND_TIMEOUT_S", 0.5)
    assert command_output(["no-such-command-here"]) is None
    assert command_output(["fails"]) is None
    assert command_output(["hangs"]) is None


def test_nvidia_smi_gives_the_driver_and_the_topology(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: a stand-in ``nvidia-smi`` prints what the real one prints."""
    # driver 580 underlines the header even into a pipe (ESC[4m ... ESC[0m), as seen on an H200
    fake_command(tmp_path, "nvidia-smi", """case "$1" in
  topo) printf '\\033[4m\\tGPU0\\tGPU1\\tCPU Affinity\\033[0m\\nGPU0\\t X \\tNV12\\nGPU1\\tNV12\\t X \\n' ;;
  *) printf '550.54.15\\n550.54.15\\n' ;;
esac""")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    facts = gpu_facts()
    assert facts["cuda_driver"] == "550.54.15"
    assert "GPU0\t X \tNV12" in facts["gpu_topology"]
    # no ESC[4m or ESC[0m; the header's leading tab stays (it lines the columns up)
    assert facts["gpu_topology"].startswith("\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X")
    assert "\x1b" not in facts["gpu_topology"]


def test_facts_are_flattened_under_their_node() -> None:
    assert flatten({"n2": {"cpu_count": 4}, "n1": {"cpu_count": 2}}) == {
        "hw.nodes.n1.cpu_count": 2, "hw.nodes.n2.cpu_count": 4}


def test_a_single_process_run_describes_its_node(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "deep_mnist", "--batch_size",
                           "2", "--num_batches", "2", "--num_warmup_batches", "1", "--device",
                           "cpu", "--log_file", str(log)],
                          env={**os.environ, "SLURMD_NODENAME": "solo"}, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    facts = read_facts(log)
    assert facts["hw.nodes.solo.hostname"] == socket.gethostname()
    assert facts["hw.nodes.solo.cpu_count"] == os.cpu_count()
    assert facts["hw.nodes.solo.gpu_count"] == 0 and facts["hw.nodes.solo.gpu_names"] == []
    assert facts["hw.nodes.solo.gpu_topology"] is None  # no nvidia-smi here: null, not a guess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def two_nodes(tmp_path: Path, one_log: bool) -> list[dict[str, Any]]:
    """Run deep_mnist on two torchrun "nodes" of one process each, named alpha and beta; the
    facts of the log of each node (one log: rank 0's only)."""
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    port = free_port()
    procs = []
    for rank, name in enumerate(("alpha", "beta")):
        env = {**os.environ, "SLURMD_NODENAME": name, "GLOO_SOCKET_IFNAME": "lo",
               "OMP_NUM_THREADS": "1", "NCCL_DEBUG": "WARN"}
        if one_log:
            env["DLBS_LOG_PER"] = "job"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}",
             "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}",
             str(SCRIPT), "--model", "deep_mnist", "--batch_size", "2", "--num_batches", "2",
             "--num_warmup_batches", "1", "--device", "cpu",
             "--log_file", str(tmp_path / f"{name}.log")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    return [read_facts(tmp_path / f"{name}.log") for name in ("alpha", "beta")
            if (tmp_path / f"{name}.log").exists()]


@pytest.mark.torchrun
@pytest.mark.parametrize("one_log", [False, True], ids=["a-log-per-node", "one-log"])
def test_every_log_of_a_two_node_run_describes_both_nodes(tmp_path: Path,
                                                          one_log: bool) -> None:
    logs = two_nodes(tmp_path, one_log)
    assert len(logs) == (1 if one_log else 2)
    for facts in logs:
        assert facts["results.status"] == "ok"
        for node in ("alpha", "beta"):
            assert facts[f"hw.nodes.{node}.cpu_count"] == os.cpu_count()
            assert facts[f"hw.nodes.{node}.network_env"] == {"NCCL_DEBUG": "WARN"}
            assert isinstance(facts[f"hw.nodes.{node}.cpu_model"], str)
        assert not [k for k in facts if k.startswith("hw.nodes.") and
                    k.split(".")[2] not in ("alpha", "beta")]
