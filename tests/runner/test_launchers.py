"""Launch commands as argument lists (milabench style) and the layers' shared contract (Hydra
style: one conformance suite, subclassed in three lines per layer). Nothing is run here."""
from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from dlbs.errors import ValidationError
from dlbs.launchers import LAYERS, build_command, list_layers
from dlbs.launchers.baremetal import EnvironmentLayer, PrefixLayer
from dlbs.launchers.benchmark import BenchmarkLayer
from dlbs.launchers.command import Command
from dlbs.launchers.docker import DockerLayer
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
        assert self.layer.applies(self.exp)

    def test_wrap_returns_a_new_command_of_strings(self) -> None:
        cmd = Command(argv=("python3", "bench.py", "--model", "m"), env=(("A", "1"),))
        out = self.layer.wrap(self.exp, cmd)
        assert isinstance(out, Command) and out is not cmd
        assert all(isinstance(a, str) for a in out.argv) and out.argv
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.env)
        assert cmd.argv == ("python3", "bench.py", "--model", "m")  # input untouched

    def test_wrap_is_deterministic(self) -> None:
        cmd = Command(argv=("python3", "bench.py"))
        assert self.layer.wrap(self.exp, cmd) == self.layer.wrap(self.exp, cmd)

    def test_values_stay_single_arguments(self) -> None:
        exp = dict(self.exp, **{"exp.model": NASTY, "runtime.env.FOO": NASTY})
        out = build_command(exp)
        joined = [a for a in out.argv if NASTY in a]
        assert joined and all(a in (NASTY, f"FOO={NASTY}") for a in joined)

    def test_starts_no_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a launcher layer started a process")
        monkeypatch.setattr(subprocess, "Popen", forbidden)
        monkeypatch.setattr(os, "fork", forbidden)
        monkeypatch.setattr(os, "system", forbidden)
        self.layer.wrap(self.exp, Command(argv=("python3", "bench.py")))


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


def test_every_layer_has_a_conformance_class() -> None:
    tested = {cls.layer.name for cls in LayerConformance.__subclasses__()}
    assert tested == {layer.name for layer in LAYERS}


def test_bare_metal_cpu_command() -> None:
    cmd = build_command(exp_of(runtime__launcher="numactl --cpunodebind=0 --membind=0"))
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
    argv = build_command(exp_of(**params)).argv
    assert argv[argv.index(flag) + 1] == value


def test_gpu_bare_metal_sets_visible_devices_and_torchrun() -> None:
    cmd = build_command(exp_of(**GPU2))
    assert cmd.argv[1:8] == ("-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                            "--nproc_per_node", "2")
    assert cmd.env_dict()["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert cmd.argv[cmd.argv.index("--num_gpus") + 1] == "1"
    assert "MASTER_ADDR" not in cmd.env_dict()  # NCCL: torchrun's own rendezvous


def test_cpu_replicas_run_under_torchrun_with_gloo_environment() -> None:
    cmd = build_command(exp_of(exp__cpu_replicas=2, runtime__env__OMP_NUM_THREADS="2"))
    assert "torch.distributed.run" in cmd.argv and "2" in cmd.argv
    env = cmd.env_dict()
    assert env["MASTER_ADDR"] == "127.0.0.1" and env["GLOO_SOCKET_IFNAME"] == "lo"
    assert env["OMP_NUM_THREADS"] == "2"  # runtime.env.* wins over the defaults
    assert list_layers(exp_of(exp__cpu_replicas=2)) == ["benchmark", "torchrun", "environment"]


def test_docker_gpu_command() -> None:
    cmd = build_command(exp_of(**GPU2, **DOCKER, exp__data_dir="/data/imagenet",
                               exp__docker_args="--cpus 4", exp__docker_network="none",
                               runtime__env__FOO="bar"))
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
    argv = build_command(exp_of(**DOCKER)).argv
    assert "--gpus" not in argv and argv[argv.index("--shm-size") + 1] == "1g"


@pytest.mark.parametrize("params, message", [
    pytest.param({"runtime__env__BAD-NAME": "1"}, "environment variable name", id="env-name"),
    pytest.param({"runtime__launcher": "numactl 'unclosed"}, "runtime.launcher", id="prefix"),
    pytest.param(dict(DOCKER, exp__docker_image=""), "exp.docker_image", id="no-image"),
])
def test_bad_experiments_are_validation_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build_command(exp_of(**params))
