"""config/base.json and config/pytorch.json: every parameter documented; DLBS's derivations."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import dlbs
from dlbs.config import default_config_files

BASE = dlbs.PROJECT_ROOT / "config" / "base.json"
PYTORCH = dlbs.PROJECT_ROOT / "config" / "pytorch.json"

#: docs/architecture.md: the parameters the runner and the benchmark rely on, with their types.
ARCHITECTURE_TYPES = {
    "exp.framework": "str", "exp.model": "str", "exp.phase": "str", "exp.replica_batch": "int",
    "exp.num_warmup_batches": "int", "exp.num_batches": "int", "exp.dtype": "str",
    "exp.gpus": "str", "exp.cpu_replicas": "int", "exp.num_nodes": "int",
    "exp.num_local_gpus": "int", "exp.num_local_replicas": "int", "exp.num_gpus": "int",
    "exp.num_replicas": "int", "exp.device_type": "str", "exp.effective_batch": "int",
    "exp.data_dir": "str", "exp.data": "str", "exp.docker": "bool", "exp.docker_image": "str",
    "exp.docker_launcher": "str", "exp.docker_args": "str", "exp.id": "str",
    "exp.log_dir": "str", "exp.log_file": "str", "exp.rerun": "str", "exp.status": "str",
    "exp.timeout": "int", "runtime.launcher": "str", "runtime.python": "str",
    "runtime.visible_gpus": "str", "monitor.frequency": "float",
    "sys.plan_builder.var_order": "str", "sys.timestamp": "str",
    "pytorch.data_dir": "str", "pytorch.data_backend": "str", "pytorch.data_shuffle": "bool",
    "pytorch.num_loader_threads": "int", "pytorch.cudnn_benchmark": "bool",
    "pytorch.cudnn_fastest": "bool", "pytorch.channels_last": "bool", "pytorch.compile": "bool",
    "pytorch.seed": "int", "pytorch.data_loader_only": "bool", "pytorch.docker_image": "str",
    "pytorch.bench_path": "str",
}
DOMAINS = {
    "exp.phase": ["training", "inference", "serve"], "exp.dtype": ["float32", "float16", "bfloat16", "float"],
    "exp.device_type": ["gpu", "cpu"], "exp.data": ["synthetic", "real"],
    "exp.rerun": ["never", "onfail", "always"],
    # exp.status has no domain: as in DLBS, any value but disabled/inactive/simulate runs.
    "pytorch.data_backend": ["caffe_lmdb", "image_folder"],
}


def _definitions() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for path in default_config_files():
        merged.update(json.loads(path.read_text())["parameters"])
    return merged


DEFINITIONS = _definitions()


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_every_default_parameter_is_a_documented_definition(name: str) -> None:
    definition = DEFINITIONS[name]
    assert isinstance(definition, dict), f"{name} is a plain value, not a definition"
    assert {"val", "type", "desc"} <= set(definition), name
    assert definition["type"] in ("int", "str", "float", "bool")
    desc = definition["desc"]
    assert (desc if isinstance(desc, str) else "".join(desc)).strip(), f"{name}: empty desc"


@pytest.mark.parametrize("name,type_", sorted(ARCHITECTURE_TYPES.items()))
def test_architecture_parameters_have_their_documented_type(name: str, type_: str) -> None:
    assert DEFINITIONS[name]["type"] == type_


@pytest.mark.parametrize("name,domain", sorted(DOMAINS.items()))
def test_domains(name: str, domain: list[str]) -> None:
    assert DEFINITIONS[name]["val_domain"] == domain


def test_base_holds_exp_runtime_monitor_sys_and_pytorch_holds_pytorch() -> None:
    base = json.loads(BASE.read_text())["parameters"]
    pytorch = json.loads(PYTORCH.read_text())["parameters"]
    assert all(name.split(".")[0] in ("exp", "runtime", "monitor", "sys") for name in base)
    assert all(name.startswith("pytorch.") for name in pytorch)


# --- derivations, through the CLI -----------------------------------------------------------

def _print(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("print", "--format", "jsonl", "-Pexp.model=resnet50", *args)
    assert result.code == 0, result.err
    [experiment] = result.jsonl()
    return experiment


LAYOUT_KEYS = ("exp.num_local_gpus", "exp.num_local_replicas", "exp.num_gpus",
               "exp.num_replicas", "exp.device_type", "exp.effective_batch",
               "runtime.visible_gpus")


@pytest.mark.parametrize("args,expected", [
    pytest.param([], (1, 1, 1, 1, "gpu", 16, "0"), id="default-gpu0"),
    pytest.param(["-Pexp.gpus=0,1,2,3"], (4, 4, 4, 4, "gpu", 64, "0,1,2,3"), id="4-replicas"),
    pytest.param(["-Pexp.gpus=0:1,2:3"], (4, 2, 4, 2, "gpu", 32, "0,1,2,3"), id="2x2-gpus"),
    pytest.param(["-Pexp.gpus=0:1"], (2, 1, 2, 1, "gpu", 16, "0,1"), id="1-replica-2-gpus"),
    pytest.param(["-Pexp.gpus=0,1", "-Pexp.num_nodes=2"], (2, 2, 4, 4, "gpu", 64, "0,1"),
                 id="2-nodes"),
    pytest.param(["-Pexp.gpus="], (0, 1, 0, 1, "cpu", 16, ""), id="cpu"),
    pytest.param(["-Pexp.gpus=", "-Pexp.num_nodes=4"], (0, 1, 0, 4, "cpu", 64, ""),
                 id="cpu-4-nodes"),
    pytest.param(["-Pexp.gpus=", "-Pexp.cpu_replicas=2"], (0, 2, 0, 2, "cpu", 32, ""),
                 id="cpu-2-replicas"),
    pytest.param(["-Pexp.gpus=3", "-Pexp.replica_batch=64"], (1, 1, 1, 1, "gpu", 64, "3"),
                 id="int-gpus-from-json"),
])
def test_device_layout_derivations(cli: Any, args: list[str], expected: tuple) -> None:
    experiment = _print(cli, *args)
    assert tuple(experiment[key] for key in LAYOUT_KEYS) == expected


def test_data_is_synthetic_without_data_dir_and_real_with_one(cli: Any) -> None:
    synthetic = _print(cli)
    assert (synthetic["exp.data_dir"], synthetic["exp.data"]) == ("", "synthetic")
    real = _print(cli, "-Ppytorch.data_dir=/data/imagenet")
    assert (real["exp.data_dir"], real["exp.data"]) == ("/data/imagenet", "real")


def test_bench_path_depends_on_docker(cli: Any) -> None:
    assert _print(cli)["pytorch.bench_path"] == f"{dlbs.PROJECT_ROOT}/python"
    docker = _print(cli, "-Pexp.docker=true")
    assert docker["pytorch.bench_path"] == "/workspace/python"
    assert docker["exp.docker_image"] == "dlbs/pytorch:latest"


def test_runtime_python_and_log_file(cli: Any, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    monkeypatch.delenv("DLBS_PYTHON", raising=False)
    experiment = _print(cli, "-Psys.timestamp=20260101-120000", "-Pexp.replica_batch=32")
    assert experiment["runtime.python"] == sys.executable
    assert experiment["exp.log_dir"] == f"{tmp_path}/logs/20260101-120000"
    assert experiment["exp.log_file"] == (f"{tmp_path}/logs/20260101-120000/pytorch_gpu_resnet50"
                                          f"_b32_{experiment['exp.id']}.log")
    assert len(experiment["exp.id"]) == 12 and int(experiment["exp.id"], 16) >= 0


def test_typed_defaults_come_out_typed(cli: Any) -> None:
    experiment = _print(cli)
    assert experiment["exp.framework"] == "pytorch"
    assert experiment["exp.phase"] == "training"
    assert experiment["exp.dtype"] == "float32"
    assert experiment["exp.docker"] is False
    assert experiment["pytorch.cudnn_benchmark"] is True
    assert experiment["monitor.frequency"] == 0
    assert experiment["sys.plan_builder.var_order"] == ""
