"""Several nodes: refused without a way to reach them (validate, and ``run --no-validation``);
by hand (DLBS's distributed recipe) with one ``experimenter run`` per node; the launch scripts
of the manual and Slurm ways; the ids and log files of the nodes."""
from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers import build_command, build_script

NODE = ['-Pexp.gpus=""', "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
        "-Pexp.num_batches=3", "-Pexp.num_warmup_batches=1", "-Pexp.num_nodes=2"]
#: The one run-time line of a Slurm node's launch script (a constant, never user text).
SLURM_RANK_LINE = 'export PET_NODE_RANK="${SLURM_NODEID:?not in a Slurm job step}"'


def facts_of(log_file: Path) -> dict[str, Any]:
    """Every fact of a log (the last occurrence of a key wins)."""
    return dict(iter_facts(log_file.read_text().splitlines()))


def dlbs(tmp_path: Path, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dlbs ACTION`` with a two-node CPU experiment and ``args``."""
    return subprocess.run([sys.executable, "-m", "dlbs", action, *NODE,
                           f"-Pexp.log_dir={tmp_path / 'logs'}", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=240, check=False)


def planned(tmp_path: Path, *args: str) -> dict[str, Any]:
    """The one experiment ``python -m dlbs print`` expands from ``NODE`` and ``args``."""
    result = dlbs(tmp_path, "print", "--format", "jsonl", *args)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    return dict(json.loads(line))


def flat(script: str) -> str:
    """A launch script with its continuation lines joined and spaces collapsed."""
    return " ".join(script.replace("\\\n", " ").split())


def exec_words(script: str) -> list[str]:
    """The words of the script's ``exec`` line as bash would see them (unquoted)."""
    line = script[script.index("\nexec ") + 1:].replace(" \\\n", " ")
    return shlex.split(line)[1:]


def test_validate_refuses_nodes_nothing_reaches(tmp_path: Path) -> None:
    result = dlbs(tmp_path, "validate")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("error: ")
    assert "exp.num_nodes is 2 but nothing reaches the other nodes" in line
    assert "-Pexp.scheduler=slurm" in line
    assert "-Ppytorch.distributed_rank=R" in line and "-Ppytorch.distributed_rendezvous" in line


def test_run_without_validation_never_claims_the_nodes(tmp_path: Path) -> None:
    result = dlbs(tmp_path, "run", "--no-validation", "--progress-bar", "off")
    assert result.returncode == 1
    assert "nothing reaches the other nodes" in result.stdout + result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    # The header holds the plan (what was asked: 2 nodes); the trailer says it did not run.
    assert facts["exp.num_nodes"] == 2
    assert facts["results.status"] == "failure" and facts["results.exit_code"] is None
    assert "nothing reaches the other nodes" in facts["results.error"]
    assert "-Pexp.scheduler=slurm" in facts["results.error"]
    # Nothing ran: no benchmark facts (world size, throughput), no launch script.
    assert not {"results.throughput", "exp.world_size", "results.time"} & facts.keys()
    assert list((tmp_path / "logs").glob("*.sh")) == []


@pytest.mark.parametrize("params, message", [
    pytest.param(["-Ppytorch.distributed_rendezvous=h;touch /tmp/x:1"], "use HOST:PORT",
                 id="shell"),
    pytest.param(["-Ppytorch.distributed_rendezvous=`id` x:29500"], "use HOST:PORT", id="subst"),
    pytest.param(["-Ppytorch.distributed_rendezvous=10.0.0.1:99999"], "port 1..65535",
                 id="port"),
    pytest.param(["-Ppytorch.distributed_rendezvous=10.0.0.1"], "use HOST:PORT", id="no-port"),
    pytest.param(["-Ppytorch.distributed_rendezvous=10.0.0.1:29500",
                  "-Ppytorch.distributed_rank=2"], "it must be 0..1", id="rank"),
])
def test_bad_rendezvous_or_rank_is_refused(tmp_path: Path, params: list[str],
                                           message: str) -> None:
    result = dlbs(tmp_path, "validate", *params)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_manual_script_names_rank_and_rendezvous(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "exp.num_replicas": 2,
                           "pytorch.distributed_rank": 1,
                           "pytorch.distributed_rendezvous": "10.1.2.3:29500"})
    script = build_script(Experiment.of(exp))
    assert ("-m torch.distributed.run --nnodes 2 --node_rank 1 --master_addr 10.1.2.3 "
            "--master_port 29500 --rdzv_conf timeout=300 --nproc_per_node 1 " in flat(script))
    assert "--standalone" not in script and "export PET_" not in script
    assert "GLOO_SOCKET_IFNAME" not in script and "MASTER_ADDR=" not in script  # a real network
    assert "export OMP_NUM_THREADS=1" in script
    assert exec_words(script) == list(build_command(Experiment.of(exp)).argv)  # every value one word


def test_manual_script_on_loopback_keeps_gloo_on_lo(make_exp: Callable[..., dict[str, Any]]
                                                    ) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "pytorch.distributed_rendezvous": "[::1]:29500"})
    script = build_script(Experiment.of(exp))
    assert "--node_rank 0 --master_addr '[::1]' --master_port 29500" in flat(script)
    assert "export GLOO_SOCKET_IFNAME=lo" in script and "MASTER_ADDR=" not in script


@pytest.mark.parametrize("zone", ["eth0", "enp0s31f6", "br-1a2b.100"])
def test_a_scoped_ipv6_rendezvous_is_accepted_and_quoted(
        make_exp: Callable[..., dict[str, Any]], zone: str) -> None:
    """A link-local address needs its interface (issue 54: ``[fe80::1%eth0]:1`` was refused)."""
    exp = make_exp(params={"exp.num_nodes": 2,
                           "pytorch.distributed_rendezvous": f"[fe80::1%{zone}]:1"})
    script = build_script(Experiment.of(exp))
    # quoted: unquoted, '[...]' is a pattern the shell may replace by a file's name
    assert f"--master_addr '[fe80::1%{zone}]' --master_port 1" in flat(script)
    assert exec_words(script) == list(build_command(Experiment.of(exp)).argv)
    assert build_command(Experiment.of(exp)).argv[build_command(Experiment.of(exp)).argv.index("--master_addr") + 1] == \
        f"[fe80::1%{zone}]"


@pytest.mark.parametrize("where", ["[fe80::1%eth0;id]:1", "[fe80::1%$(id)]:1",
                                   "[fe80::1%]:1", "[fe80::1% eth0]:1", "[10.0.0.1%eth0]:1"])
def test_a_scope_that_is_no_interface_name_is_refused(
        make_exp: Callable[..., dict[str, Any]], where: str) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "pytorch.distributed_rendezvous": where})
    with pytest.raises(ValidationError, match="use HOST:PORT"):
        build_command(Experiment.of(exp))


def test_slurm_script_takes_the_rank_at_run_time(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp(params={"exp.num_nodes": 2, "exp.scheduler": "slurm", "exp.docker": True,
                           "exp.docker_image": "img"})
    script = build_script(Experiment.of(exp))
    assert SLURM_RANK_LINE in script.splitlines()
    assert [line for line in script.splitlines() if "SLURM_NODEID" in line] == [SLURM_RANK_LINE]
    words = flat(script)
    assert "-m torch.distributed.run --nnodes 2 --rdzv_conf timeout=300 --nproc_per_node 1 " \
        in words
    assert not {"--node_rank", "--master_addr", "--master_port", "--standalone"} & set(
        words.split())
    assert "-e PET_NODE_RANK -e PET_MASTER_ADDR -e PET_MASTER_PORT" in words
    assert "--network host" in words
    assert "-e DLBS_LOG_PER=job" in words  # the nodes share the job's log: rank 0 writes it


def test_slurm_rank_line_stays_a_constant(make_exp: Callable[..., dict[str, Any]]) -> None:
    """Whatever the user sets, the run-time line is the constant and every value is quoted."""
    exp = make_exp(params={"exp.num_nodes": 2, "exp.scheduler": "slurm",
                           "runtime.env.FOO": "$(touch /tmp/owned)", "exp.model": "a b;c",
                           "pytorch.distributed_rank": 1})
    script = build_script(Experiment.of(exp))
    assert SLURM_RANK_LINE in script.splitlines()
    assert "export FOO='$(touch /tmp/owned)'" in script
    assert "--model 'a b;c'" in script
    assert exec_words(script) == list(build_command(Experiment.of(exp)).argv)


def test_slurm_node_script_fails_outside_a_job_step(make_exp: Callable[..., dict[str, Any]],
                                                    tmp_path: Path) -> None:
    script = tmp_path / "node.sh"
    script.write_text(build_script(Experiment.of(make_exp(params={"exp.num_nodes": 2,
                                                    "exp.scheduler": "slurm"}))))
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode != 0 and "not in a Slurm job step" in result.stderr


def test_single_node_refusal_is_a_validation_error(make_exp: Callable[..., dict[str, Any]]) -> None:
    with pytest.raises(ValidationError, match="nothing reaches the other nodes"):
        build_script(Experiment.of(make_exp(params={"exp.num_nodes": 3})))


def test_nodes_sharing_a_log_dir_write_different_logs(tmp_path: Path) -> None:
    where = "-Ppytorch.distributed_rendezvous=10.0.0.1:29500"
    rank0, rank1 = (planned(tmp_path, where, f"-Ppytorch.distributed_rank={r}") for r in (0, 1))
    assert rank0["exp.id"] != rank1["exp.id"]
    assert rank0["exp.log_file"] != rank1["exp.log_file"]
    assert rank0["exp.id"] in rank0["exp.log_file"] and rank1["exp.id"] in rank1["exp.log_file"]
    assert Path(rank0["exp.log_file"]).parent == Path(rank1["exp.log_file"]).parent
    # Rank 0 is the "off" value, and where the nodes meet is not what is measured.
    other_port = planned(tmp_path, "-Ppytorch.distributed_rendezvous=node0:4000")
    assert other_port["exp.id"] == rank0["exp.id"]


def test_single_node_ids_do_not_change(tmp_path: Path) -> None:
    one = ["-Pexp.num_nodes=1"]
    plain = planned(tmp_path, *one)
    assert planned(tmp_path, *one, "-Ppytorch.distributed_rank=0")["exp.id"] == plain["exp.id"]
    assert planned(tmp_path, *one, "-Ppytorch.distributed_rendezvous=h:1")["exp.id"] \
        == plain["exp.id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.torchrun
def test_two_nodes_by_hand_make_one_ddp_job(tmp_path: Path) -> None:
    where = f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *NODE, f"-Ppytorch.distributed_rank={rank}",
         f"-Ppytorch.distributed_rendezvous={where}", "-Pexp.timeout=500",
         f"-Pexp.log_dir={tmp_path / f'node{rank}'}", "--progress-bar", "off"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)]
    try:
        results = [node.communicate(timeout=600) for node in nodes]  # hang guards
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.communicate()
    assert [n.returncode for n in nodes] == [0, 0], results
    logs = [next((tmp_path / f"node{rank}").glob("*.log")) for rank in (0, 1)]
    facts = [facts_of(log) for log in logs]
    for rank, node in enumerate(facts):
        assert node["results.status"] == "ok", node.get("results.error")
        # Written by the benchmark from the processes that joined: one job of two replicas.
        assert node["exp.world_size"] == 2 and node["exp.num_replicas"] == 2, rank
        assert node["exp.effective_batch"] == 4, rank
    for key in ("exp.world_size", "exp.num_replicas", "exp.effective_batch"):
        assert facts[0][key] == facts[1][key]
    assert facts[0]["exp.id"] != facts[1]["exp.id"]  # rank 1 is in its id
