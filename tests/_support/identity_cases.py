"""The fixtures the identity tests share: plans (their ``exp.id``) and runs (their
stored identity and comparability key, and the report's grouping of them).

Shared by ``tests/params``; plain functions, no pytest."""
from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: The environment the plans expand in: fixed, so that an id does not follow the checkout.
ENVIRON = {"DLBS_ROOT": "/opt/dlbs", "DLBS_PYTHON": "/usr/bin/python3", "PWD": "/work",
           "HOME": "/home/u", "USER": "u"}
PLANS = ("cpu_sweep.json", "first_sweep.json", "gpu_docker_sweep.json", "llama3_8b_8gpu.json",
         "transformers_cpu.json", "weak_scaling_cpu.yaml", "acceptance.json")


def plan_ids(name: str) -> list[str]:
    """The ``exp.id`` of every experiment of ``examples/NAME``, in plan order."""
    from dlbs.config import load_config_file, load_default_configs
    from dlbs.engine import build_plan, expand_plan, merge_configs

    path = ROOT / "examples" / name
    config = merge_configs([(name, load_config_file(path))],
                           params={"sys.timestamp": "20260101-000000"},
                           defaults=load_default_configs())
    return [e["exp.id"] for e in expand_plan(build_plan(config), config.specs, ENVIRON)]


def _base(**extra: Any) -> dict[str, Any]:
    """A finished run's facts, runner header and benchmark facts (a CPU inference run)."""
    facts: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": "resnet18", "exp.phase": "inference",
        "exp.replica_batch": 8, "exp.effective_batch": 8, "exp.dtype": "float32",
        "exp.device_type": "cpu", "exp.gpus": "", "exp.num_replicas": 1, "exp.num_nodes": 1,
        "exp.world_size": 1, "exp.framework_version": "2.13.0+cpu", "exp.num_threads": 2,
        "exp.cpu_threads": 0, "exp.num_batches": 10, "exp.num_warmup_batches": 2,
        "exp.data": "synthetic", "exp.docker": False, "exp.docker_image": "img:1",
        "exp.input_shape": [3, 224, 224], "exp.model_config": {}, "exp.seq_len": 0,
        "exp.generate": 0, "exp.code_version": "v1", "exp.id": "abc", "exp.repeat_index": 0,
        "exp.log_file": "/logs/a.log", "exp.start_time": "2026-11-01T10:00:00+00:00",
        "hw.cpu_model": "AMD EPYC", "hw.num_cpus": 2, "hw.hostname": "vm",
        "pytorch.compile": False, "pytorch.cudnn_benchmark": True, "pytorch.seed": 0,
        "results.status": "ok", "results.throughput": 100.0, "results.time": 80.0,
    }
    facts.update(extra)
    return facts


#: One run per case: the base run, then the base with one fact changed.
RUN_CASES: dict[str, dict[str, Any]] = {
    "base": {},
    "other model": {"exp.model": "resnet50"},
    "batch 16": {"exp.replica_batch": 16, "exp.effective_batch": 16},
    "float16": {"exp.dtype": "float16"},
    "training": {"exp.phase": "training"},
    "torch 2.14": {"exp.framework_version": "2.14.0+cpu"},
    "100 batches": {"exp.num_batches": 100},
    "5 warm-up batches": {"exp.num_warmup_batches": 5},
    "4 threads": {"exp.num_threads": 4, "exp.cpu_threads": 4},
    "cpu_threads 2 (as resolved)": {"exp.cpu_threads": 2},
    "code v2": {"exp.code_version": "v2"},
    "another host": {"hw.hostname": "vm2"},
    "another cpu": {"hw.cpu_model": "Intel Xeon"},
    "in docker": {"exp.docker": True},
    "other image, no docker": {"exp.docker_image": "img:2"},
    "compiled": {"pytorch.compile": True},
    "seed 1": {"pytorch.seed": 1},
    "generate 16": {"exp.generate": 16},
    "seq_len 128": {"exp.seq_len": 128},
    "fsdp": {"exp.parallelism": "fsdp"},
    "adamw (inference)": {"exp.optimizer": "adamw"},
    "gpus 0,1": {"exp.gpus": "0,1"},
    "repeat 1, other log": {"exp.repeat_index": 1, "exp.log_file": "/logs/b.log",
                            "exp.start_time": "2026-11-02T10:00:00+00:00"},
    "cuda 12.4": {"hw.cuda_version": "12.4"},
    "model config": {"exp.model_config": {"layers": 2}},
    # a synthetic run reads no data set: its loader settings change nothing it measures
    "synthetic, 0 loaders": {"pytorch.num_loader_threads": 0},
    "other data folder": {"exp.data_dir": "/data/b"},
}


#: Real-data runs (issue 57's review): one base, then one loader setting changed; each is
#: another input pipeline, kept apart by the report and the database alike.
REAL_DATA_CASES: dict[str, dict[str, Any]] = {
    "real base": {"exp.data": "real", "exp.data_dir": "/data/a"},
    "real, 0 loaders": {"exp.data": "real", "exp.data_dir": "/data/a",
                        "pytorch.num_loader_threads": 0},
    "real, shuffled": {"exp.data": "real", "exp.data_dir": "/data/a",
                       "pytorch.data_shuffle": True},
    "real, image folder": {"exp.data": "real", "exp.data_dir": "/data/a",
                           "pytorch.data_backend": "image_folder"},
    "real, other folder": {"exp.data": "real", "exp.data_dir": "/data/b"},
}


def real_data_cases() -> dict[str, dict[str, Any]]:
    return {name: _base(**change) for name, change in REAL_DATA_CASES.items()}


def run_cases() -> dict[str, dict[str, Any]]:
    """Every case's facts."""
    return {name: _base(**change) for name, change in RUN_CASES.items()}


def fixture_logs() -> dict[str, dict[str, Any]]:
    """The parsed records of the log fixtures (``tests/logs/fixtures``) that have facts."""
    from dlbs.logs.parser import parse_log

    folder = ROOT / "tests" / "logs" / "fixtures"
    out = {}
    for path in sorted(folder.rglob("*.log")):
        record = parse_log(path).record
        if record:
            out[str(path.relative_to(folder))] = record
    return out
