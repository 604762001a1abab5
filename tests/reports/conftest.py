"""Fixtures of the report tests: a deterministic set of benchmark records and golden files.

The records cover two models on 1, 2 and 4 GPUs at replica batches 16, 32 and 64, three
repeated runs each, with one experiment out of memory, one noisy and one with a failed repeat.
Golden files live in ``golden/``; ``DLBS_UPDATE_GOLDEN=1`` rewrites them instead of comparing.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import format_fact

GOLDEN_DIR = Path(__file__).parent / "golden"
MODELS = {"resnet50": ("ResNet-50", 400.0), "alexnet": ("AlexNet", 2400.0)}
REPEATS = (1.0, 1.01, 0.99)
NOISY_REPEATS = (1.0, 1.3, 0.72)


def _throughput(speed: float, replica_batch: int, devices: int) -> float:
    """A plausible throughput: saturates with batch, ~90% efficiency per doubling of devices."""
    return speed * replica_batch / (replica_batch + 8) * devices * 0.9 ** math.log2(devices)


def _status(model: str, batch: int, devices: int, repeat: int) -> str:
    if model == "resnet50" and batch == 64 and devices == 1:
        return "oom"
    if model == "alexnet" and batch == 16 and devices == 2 and repeat == 2:
        return "failure"
    return "ok"


def make_record(model: str, batch: int, devices: int, repeat: int, speedup: float = 1.0
                ) -> dict[str, Any]:
    """One run's record, as the parser would give it."""
    title, speed = MODELS[model]
    noisy = model == "alexnet" and batch == 32 and devices == 4
    factor = (NOISY_REPEATS if noisy else REPEATS)[repeat] * speedup
    throughput = _throughput(speed, batch, devices) * factor
    effective = batch * devices
    time = effective * 1000.0 / throughput
    record: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": model, "exp.model_title": title,
        "exp.phase": "training", "exp.dtype": "float32", "exp.device_type": "gpu",
        "exp.gpus": ",".join(str(g) for g in range(devices)), "exp.num_gpus": devices,
        "exp.num_replicas": devices, "exp.replica_batch": batch, "exp.effective_batch": effective,
        "exp.num_nodes": 1, "exp.docker": False, "pytorch.cudnn_benchmark": True,
        "exp.id": f"{model}-{batch}-{devices}",
        "exp.log_file": f"/logs/{model}_{batch}_{devices}_{repeat}.log",
        "results.exit_code": 0, "results.duration": 10.0,
    }
    status = _status(model, batch, devices, repeat)
    record["results.status"] = status
    if status != "ok":
        record["results.error"] = "CUDA out of memory" if status == "oom" else "worker crashed"
        record["results.exit_code"] = 1
        return record
    spread = [time * (1.0 + d) for d in (-0.02, -0.01, 0.0, 0.01, 0.02)]
    record.update({"results.time": time, "results.throughput": throughput,
                   "results.time_data": spread, "results.time_std": time * 0.0158,
                   "results.time_p50": time})
    return record


def make_records(speedups: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Every run of the data set; ``speedups`` scales a model's throughput (for comparisons)."""
    speedups = speedups or {}
    return [make_record(m, b, d, r, speedups.get(m, 1.0))
            for m in MODELS for d in (1, 2, 4) for b in (16, 32, 64) for r in range(3)]


def write_logs(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write records as log files (header, noise, results, trailer) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, record in enumerate(records):
        lines = [format_fact(k, v) for k, v in record.items() if not k.startswith("results.")]
        lines += ["noise: starting benchmark", "iteration 1 ..."]
        lines += [format_fact(k, v) for k, v in record.items() if k.startswith("results.")]
        path = folder / f"run_{number:03d}.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return make_records()


@pytest.fixture
def new_records() -> list[dict[str, Any]]:
    """The data set again, AlexNet 10% faster and ResNet-50 unchanged (for --compare)."""
    return make_records({"alexnet": 1.10})


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with ``golden/<name>``, or rewrite it when DLBS_UPDATE_GOLDEN=1."""
    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get("DLBS_UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}; run with DLBS_UPDATE_GOLDEN=1 to create it"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{name} differs from its golden file; if the change is " \
            "intended, rerun with DLBS_UPDATE_GOLDEN=1 and review the diff"
    return check


@pytest.fixture
def logs_of() -> Callable[[list[dict[str, Any]], Path], list[Path]]:
    """``write_logs`` as a fixture: turn records into log files in a folder."""
    return write_logs
