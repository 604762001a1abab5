"""Launch commands as argument lists (milabench style) and the layers' shared contract (Hydra
style: one conformance suite, subclassed in three lines per layer). Nothing is run here."""
from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers import LAYERS, build_command, list_layers
from dlbs.launchers.apptainer import ApptainerLayer
from dlbs.launchers.baremetal import EnvironmentLayer, PrefixLayer
from dlbs.launchers.benchmark import BenchmarkLayer
from dlbs.launchers.command import Command
from dlbs.launchers.docker import DockerLayer
from dlbs.launchers.podman import PodmanLayer
from dlbs.launchers.pyxis import PyxisLayer
from dlbs.launchers.torchrun import TorchrunLayer

from .conftest import BASE_EXPERIMENT

NASTY = "x; touch /tmp/owned $(id) `id` 'q' \"d\"\nnext"


def exp_of(**params: Any) -> dict[str, Any]:
    """A CPU experiment with ``params`` set (dots written as ``__`` in keyword names)."""
    exp = dict(BASE_EXPERIMENT, **{"exp.id": "abc123", "exp.log_file": "/logs/a.log",
                                    "pytorch.bench_path": "/opt/dlbs/python",
                                    "runtime.python": "/usr/bin/python3"})
    exp.update({k.replace("__", "."): v for k, v in params.items()})
    return exp


GPU2 = {"exp__gpus": "0,1", "exp__device_type": "gpu", "exp__num_local_gpus": 2,
        "exp__num_local_replicas": 2, "runtime__visible_gpus": "0,1"}
DOCKER = {"exp__docker": True, "exp__docker_image": "img:1",
          "pytorch__bench_path": "/workspace/python", "runtime__code_dir": "/src/python",
          "runtime__docker_python": "python3"}


class LayerConformance:
    """What every launcher layer must do; subclass with ``layer`` and ``exp``."""

    layer: Any
    exp: dict[str, Any]

    def test_applies_to_its_experiment(self) -> None:
        assert self.layer.applies(Experiment.of(self.exp))

    def test_wrap_returns_a_new_command_of_strings(self) -> None:
        cmd = Command(argv=("python3", "bench.py", "--model", "m"), env=(("A", "1"),))
        out = self.layer.wrap(Experiment.of(self.exp), cmd)
        assert isinstance(out, Command) and out is not cmd
        assert all(isinstance(a, str) for a in out.argv) and out.argv
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.env)
        assert cmd.argv == ("python3", "bench.py", "--model", "m")  # input untouched

    def test_wrap_is_deterministic(self) -> None:
        cmd = Command(argv=("python3", "bench.py"))
        view = Experiment.of(self.exp)
        assert self.layer.wrap(view, cmd) == self.layer.wrap(view, cmd)

    def test_values_stay_single_arguments(self) -> None:
        exp = dict(self.exp, **{"exp.model": NASTY, "runtime.env.FOO": NASTY})
        out = build_command(Experiment.of(exp))
        joined = [a for a in out.argv if NASTY in a]
        assert joined and all(a in (NASTY, f"FOO={NASTY}") for a in joined)

    def test_starts_no_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a launcher layer started a process")
        monkeypatch.setattr(subprocess, "Popen", forbidden)
        monkeypatch.setattr(os, "fork", forbidden)
        monkeypatch.setattr(os, "system", forbidden)
        self.layer.wrap(Experiment.of(self.exp), Command(argv=("python3", "bench.py")))


class TestBenchmarkLayer(LayerConformance):
    layer, exp = BenchmarkLayer(), exp_of()


class TestTorchrunLayer(LayerConformance):
    layer, exp = TorchrunLayer(), exp_of(exp__cpu_replicas=2, exp__num_local_replicas=2)


class TestPrefixLayer(LayerConformance):
    layer, exp = PrefixLayer(), exp_of(runtime__launcher="numactl --cpunodebind=0")


class TestEnvironmentLayer(LayerConformance):
    layer, exp = EnvironmentLayer(), exp_of(runtime__env__FOO="bar")


class TestDockerLayer(LayerConformance):
    layer, exp = DockerLayer(), exp_of(**DOCKER)


class TestPodmanLayer(LayerConformance):
    layer, exp = PodmanLayer(), exp_of(**DOCKER, exp__container_runtime="podman")


class TestApptainerLayer(LayerConformance):
    layer, exp = ApptainerLayer(), exp_of(**DOCKER, exp__container_runtime="apptainer")


class TestPyxisLayer(LayerConformance):
    layer, exp = PyxisLayer(), exp_of(**DOCKER, exp__container_runtime="pyxis",
                                      exp__scheduler="slurm")


def test_every_layer_has_a_conformance_class() -> None:
    tested = {cls.layer.name for cls in LayerConformance.__subclasses__()}
    assert tested == {layer.name for layer in LAYERS}


def test_bare_metal_cpu_command() -> None:
    cmd = build_command(Experiment.of(exp_of(runtime__launcher="numactl --cpunodebind=0 --membind=0")))
    assert cmd.argv[:4] == ("numactl", "--cpunodebind=0", "--membind=0", "/usr/bin/python3")
    assert cmd.argv[4] == "/opt/dlbs/python/pytorch_benchmarks/benchmarks.py"
    flags = dict(zip(cmd.argv[5::2], cmd.argv[6::2], strict=True))
    assert flags["--model"] == "ok" and flags["--device"] == "cpu"
    assert flags["--batch_size"] == "4" and flags["--num_gpus"] == "0"
    assert flags["--forward_only"] == "false"
    assert cmd.env_dict() == {"CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.parametrize("params, flag, value", [
    pytest.param({"exp__phase": "inference"}, "--forward_only", "true", id="inference"),
    pytest.param({"exp__dtype": "bfloat16"}, "--dtype", "bfloat16", id="dtype"),
    pytest.param({"exp__data_dir": "/data/x", "exp__data": "real"}, "--data_dir", "/data/x",
                 id="data-dir"),
    pytest.param({"pytorch__channels_last": True}, "--channels_last", "true", id="bool-true"),
    pytest.param({"pytorch__seed": 7}, "--seed", "7", id="int"),
])
def test_benchmark_flags(params: dict[str, Any], flag: str, value: str) -> None:
    argv = build_command(Experiment.of(exp_of(**params))).argv
    assert argv[argv.index(flag) + 1] == value


def test_gpu_bare_metal_sets_visible_devices_and_torchrun() -> None:
    cmd = build_command(Experiment.of(exp_of(**GPU2)))
    assert cmd.argv[1:8] == ("-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                            "--nproc_per_node", "2")
    assert cmd.env_dict()["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert cmd.argv[cmd.argv.index("--num_gpus") + 1] == "1"
    assert "MASTER_ADDR" not in cmd.env_dict()  # NCCL: torchrun's own rendezvous


def test_cpu_replicas_run_under_torchrun_with_gloo_environment() -> None:
    cmd = build_command(Experiment.of(exp_of(exp__cpu_replicas=2, runtime__env__OMP_NUM_THREADS="2")))
    assert "torch.distributed.run" in cmd.argv and "2" in cmd.argv
    env = cmd.env_dict()
    assert env["MASTER_ADDR"] == "127.0.0.1" and env["GLOO_SOCKET_IFNAME"] == "lo"
    assert env["OMP_NUM_THREADS"] == "2"  # runtime.env.* wins over the defaults
    assert list_layers(Experiment.of(exp_of(exp__cpu_replicas=2))) == ["benchmark", "torchrun", "environment"]


def test_docker_gpu_command() -> None:
    cmd = build_command(Experiment.of(exp_of(**GPU2, **DOCKER, exp__data_dir="/data/imagenet",
                               exp__docker_args="--cpus 4", exp__docker_network="none",
                               runtime__env__FOO="bar")))
    argv = list(cmd.argv)
    assert argv[:7] == ["docker", "run", "--rm", "--init", "--name", "dlbs-abc123", "--network"]
    assert argv[argv.index("--gpus") + 1] == '"device=0,1"'
    assert argv[argv.index("--ipc") + 1] == "host" and "--shm-size" not in argv
    assert "/data/imagenet:/data/imagenet:ro" in argv
    assert "/src/python:/workspace/python:ro" in argv
    assert argv[argv.index("-e") + 1] == "FOO=bar"
    image = argv.index("img:1")
    assert argv[image - 2:image] == ["--cpus", "4"]
    assert argv[image + 1:image + 3] == ["python3", "-m"]
    assert cmd.env == ()  # everything went into -e: CUDA_VISIBLE_DEVICES is docker's job
    assert "CUDA_VISIBLE_DEVICES=0,1" not in argv


def test_docker_cpu_command_has_no_gpus_and_a_shm_size() -> None:
    argv = build_command(Experiment.of(exp_of(**DOCKER))).argv
    assert "--gpus" not in argv and argv[argv.index("--shm-size") + 1] == "1g"


@pytest.mark.parametrize("params, message", [
    pytest.param({"runtime__env__BAD-NAME": "1"}, "environment variable name", id="env-name"),
    pytest.param({"runtime__launcher": "numactl 'unclosed"}, "runtime.launcher", id="prefix"),
    pytest.param(dict(DOCKER, exp__docker_image=""), "exp.docker_image", id="no-image"),
])
def test_bad_experiments_are_validation_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build_command(Experiment.of(exp_of(**params)))


# Several nodes (docs/running.md#several-nodes): by hand, in a Slurm job, refused otherwise.

MANUAL = {"exp__num_nodes": 2, "pytorch__distributed_rank": 1,
          "pytorch__distributed_rendezvous": "10.0.0.1:29500"}
SLURM2 = {"exp__num_nodes": 2, "exp__scheduler": "slurm"}


def torchrun_options(argv: tuple[str, ...]) -> list[str]:
    """The words between ``torch.distributed.run`` and the benchmark script."""
    start = argv.index("torch.distributed.run") + 1
    return list(argv[start:argv.index("/opt/dlbs/python/pytorch_benchmarks/benchmarks.py")])


def test_manual_nodes_apply_torchrun_even_with_one_replica_per_node() -> None:
    assert list_layers(Experiment.of(exp_of(**MANUAL))) == ["benchmark", "torchrun", "environment"]
    cmd = build_command(Experiment.of(exp_of(**MANUAL)))
    assert torchrun_options(cmd.argv) == ["--nnodes", "2", "--node_rank", "1", "--master_addr",
                                          "10.0.0.1", "--master_port", "29500",
                                          "--rdzv_conf", "timeout=300", "--nproc_per_node", "1"]
    # gloo over the network: neither 127.0.0.1 nor lo, which would break it on a cluster.
    assert cmd.env_dict() == {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.parametrize("host, master_addr", [
    ("127.0.0.1", "127.0.0.1"), ("127.8.9.1", "127.8.9.1"), ("localhost", "localhost"),
    ("[::1]", "[::1]"),
])
def test_manual_nodes_on_loopback_keep_gloo_on_lo(host: str, master_addr: str) -> None:
    cmd = build_command(Experiment.of(exp_of(**dict(MANUAL, pytorch__distributed_rendezvous=f"{host}:29500"))))
    assert cmd.argv[cmd.argv.index("--master_addr") + 1] == master_addr
    env = cmd.env_dict()
    assert env["GLOO_SOCKET_IFNAME"] == "lo" and "MASTER_ADDR" not in env


def test_manual_nodes_user_environment_wins() -> None:
    cmd = build_command(Experiment.of(exp_of(**MANUAL, exp__cpu_threads=3, runtime__env__GLOO_SOCKET_IFNAME="ib0",
                               runtime__env__MASTER_ADDR="10.0.0.1")))
    env = cmd.env_dict()
    assert env["GLOO_SOCKET_IFNAME"] == "ib0" and env["MASTER_ADDR"] == "10.0.0.1"
    assert env["OMP_NUM_THREADS"] == "3"


def test_manual_gpu_nodes() -> None:
    cmd = build_command(Experiment.of(exp_of(**GPU2, **MANUAL)))
    assert torchrun_options(cmd.argv)[-2:] == ["--nproc_per_node", "2"]
    assert "--standalone" not in cmd.argv and "MASTER_ADDR" not in cmd.env_dict()
    assert cmd.env_dict()["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_slurm_nodes_take_rank_and_rendezvous_at_run_time() -> None:
    cmd = build_command(Experiment.of(exp_of(**GPU2, **SLURM2)))
    assert torchrun_options(cmd.argv) == ["--nnodes", "2", "--rdzv_conf", "timeout=300",
                                          "--nproc_per_node", "2"]
    assert cmd.runtime_env == (("PET_NODE_RANK", "slurm_node_rank"),)
    assert "CUDA_VISIBLE_DEVICES" not in cmd.env_dict()  # Slurm sets it to the job's GPUs
    cpu = build_command(Experiment.of(exp_of(**SLURM2)))
    assert torchrun_options(cpu.argv) == ["--nnodes", "2", "--rdzv_conf", "timeout=300",
                                          "--nproc_per_node", "1"]
    assert not {"MASTER_ADDR", "GLOO_SOCKET_IFNAME"} & cpu.env_dict().keys()


def test_runtime_env_wins_over_a_run_time_value() -> None:
    cmd = build_command(Experiment.of(exp_of(**SLURM2, runtime__env__PET_NODE_RANK="0")))
    assert cmd.runtime_env == () and cmd.env_dict()["PET_NODE_RANK"] == "0"


@pytest.mark.parametrize("params", [
    pytest.param({}, id="cpu"), pytest.param(GPU2, id="gpu"),
])
def test_single_node_slurm_command_is_the_local_one(params: dict[str, Any]) -> None:
    local, slurm = build_command(Experiment.of(exp_of(**params))), build_command(
        Experiment.of(exp_of(**params, exp__scheduler="slurm")))
    assert slurm.argv == local.argv and slurm.runtime_env == ()
    assert ("--standalone" in slurm.argv) == bool(params)  # several replicas: torchrun


def test_docker_manual_nodes_use_the_host_network() -> None:
    argv = build_command(Experiment.of(exp_of(**DOCKER, **MANUAL))).argv
    assert argv[argv.index("--network") + 1] == "host"
    assert "PET_NODE_RANK" not in argv and "-e" in argv
    assert argv[argv.index("--master_addr") + 1] == "10.0.0.1"
    chosen = build_command(Experiment.of(exp_of(**DOCKER, **MANUAL, exp__docker_network="fabric"))).argv
    assert chosen[chosen.index("--network") + 1] == "fabric"
    assert "--network" not in build_command(Experiment.of(exp_of(**DOCKER))).argv  # one node: as before


def test_docker_slurm_nodes_pass_the_rendezvous_through() -> None:
    cmd = build_command(Experiment.of(exp_of(**DOCKER, **SLURM2)))
    argv = list(cmd.argv)
    image = argv.index("img:1")
    passed = argv[image - 6:image]
    assert passed == ["-e", "PET_NODE_RANK", "-e", "PET_MASTER_ADDR", "-e", "PET_MASTER_PORT"]
    assert argv[argv.index("--network") + 1] == "host"
    assert cmd.runtime_env == (("PET_NODE_RANK", "slurm_node_rank"),)  # exported on the host


NODES_HELP = ("exp.num_nodes is 2 but nothing reaches the other nodes: use -Pexp.scheduler=slurm "
              ".*-Ppytorch.distributed_rank=R.*-Ppytorch.distributed_rendezvous=HOST:PORT")


@pytest.mark.parametrize("params, message", [
    pytest.param({"exp__num_nodes": 2}, NODES_HELP, id="nothing-reaches"),
    pytest.param({"exp__num_nodes": 2, "pytorch__distributed_rank": 1}, NODES_HELP,
                 id="rank-alone"),
    pytest.param(dict(DOCKER, exp__num_nodes=2), NODES_HELP, id="docker"),
    pytest.param(dict(MANUAL, pytorch__distributed_rank=2), "distributed_rank is 2.*0..1",
                 id="rank-high"),
    pytest.param(dict(MANUAL, pytorch__distributed_rank=-1), "distributed_rank is -1",
                 id="rank-negative"),
    pytest.param({"pytorch__distributed_rank": 1}, "exp.num_nodes=1 it must be 0..0",
                 id="rank-one-node"),
    pytest.param(dict(SLURM2, pytorch__distributed_rank=5), "distributed_rank is 5",
                 id="rank-slurm"),
    pytest.param(dict(MANUAL, pytorch__distributed_rendezvous=NASTY), "use HOST:PORT",
                 id="nasty"),
    pytest.param(dict(MANUAL, pytorch__distributed_rendezvous="::1:29500"), "use HOST:PORT",
                 id="ipv6-no-brackets"),
    pytest.param(dict(MANUAL, pytorch__distributed_rendezvous="-h:29500"), "use HOST:PORT",
                 id="option-like"),
    pytest.param(dict(MANUAL, pytorch__distributed_rendezvous="10.0.0.1:0"), "port 1..65535",
                 id="port-0"),
    pytest.param(dict(MANUAL, pytorch__distributed_rendezvous="300.0.0.1:1"), "use HOST:PORT",
                 id="bad-ipv4"),
])
def test_nodes_that_cannot_run_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build_command(Experiment.of(exp_of(**params)))


def test_run_time_values_are_constants_only() -> None:
    with pytest.raises(ValidationError, match="no run-time value"):
        Command(argv=("x",)).with_runtime_env("X", "echo $(id)")
