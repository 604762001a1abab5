"""Logs DLBS wrote (hand-made here from DLBS's documented format: every parameter as a
``__key__=json`` line, the framework's output, then ``results.*``; no trailer of ours) read as
DLBS read them, and a weak-scaling report over its 1- and 2-GPU logs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from dlbs.logs.parser import parse_log


def dlbs_log(folder: Path, name: str, gpus: str, throughput: float | None,
             **extra: Any) -> Path:
    """A DLBS PyTorch log of ResNet50, replica batch 32, on the GPUs ``gpus``."""
    n = len(gpus.split(","))
    params: dict[str, Any] = {
        "exp.status": "ok", "exp.framework": "pytorch", "exp.framework_title": "PyTorch",
        "exp.model": "resnet50", "exp.model_title": "ResNet50", "exp.num_warmup_batches": 1,
        "exp.num_batches": 100, "exp.phase": "training", "exp.data": "synthetic",
        "exp.dtype": "float32", "exp.effective_batch": 32 * n, "exp.replica_batch": 32,
        "exp.gpus": gpus, "exp.num_local_replicas": n, "exp.num_local_gpus": n,
        "exp.num_replicas": n, "exp.num_gpus": n, "exp.device_type": "gpu",
        "exp.id": f"id{n}", "exp.log_file": f"/dlbs/logs/{name}", "exp.num_nodes": 1,
        "exp.docker": True, "exp.docker_image": "nvcr.io/nvidia/pytorch:18.06-py3",
        # launcher plumbing, different in every log: it must not split the report's rows
        "pytorch.launcher": "/dlbs/scripts/launchers/pytorch.sh", "pytorch.env": "",
        "pytorch.args": f"--model resnet50 --num_gpus {n} --batch_size 32",
        "pytorch.docker_args": f"-i --ipc=host -e CUDA_VISIBLE_DEVICES={gpus}",
        "runtime.EXPORT_CUDA_VISIBLE_DEVICES": f"CUDA_VISIBLE_DEVICES={gpus}",
        **extra,
    }
    lines = [f"__{key}__={json.dumps(value)}" for key, value in params.items()]
    lines += ["=> creating model 'resnet50'", "  Epoch: [0][10/100]  Time 0.33 (0.34)"]
    if throughput is not None:
        time_ms = 1000.0 * 32 * n / throughput
        lines += [f"__results.time__={time_ms}", f"__results.throughput__={throughput}",
                  f"__results.time_data__={json.dumps([time_ms] * 4)}"]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dlbs_logs_read_as_dlbs_read_them(tmp_path: Path) -> None:
    ok = parse_log(dlbs_log(tmp_path, "ok.log", "0", 100.0))
    assert ok.record is not None and ok.record["results.status"] == "ok" and not ok.warnings
    failed = parse_log(dlbs_log(tmp_path, "failed.log", "0", None))
    assert failed.record is not None and failed.record["results.status"] == "failure"
    assert "no results" in failed.record["results.error"] and not failed.warnings
    skipped = parse_log(dlbs_log(tmp_path, "skipped.log", "0", None, **{"exp.status": "skipped"}))
    assert skipped.record is not None and skipped.record["results.status"] == "skipped"
    zero = parse_log(dlbs_log(tmp_path, "zero.log", "0", None,
                              **{"results.throughput": 0, "results.time": -1}))
    assert zero.record is not None and zero.record["results.status"] == "failure"


def test_standalone_benchmark_log_is_not_truncated(tmp_path: Path) -> None:
    log = tmp_path / "alone.log"
    log.write_text('__exp.model__="alexnet"\n__results.throughput__=48.2\n'
                   '__results.status__="ok"\n')
    result = parse_log(log)
    assert result.record is not None and result.record["results.status"] == "ok"
    assert not result.warnings


def test_weak_scaling_report_over_dlbs_logs(tmp_path: Path) -> None:
    dlbs_log(tmp_path, "resnet50_1.log", "0", 100.0)
    dlbs_log(tmp_path, "resnet50_2.log", "0,1", 190.0)
    parsed = subprocess.run([sys.executable, "-m", "dlbs", "parse", str(tmp_path)],
                            capture_output=True, text=True, check=True)
    records = json.loads(parsed.stdout)["data"]
    assert sorted(r["results.throughput"] for r in records) == [100.0, 190.0]
    report = subprocess.run([sys.executable, "-m", "dlbs", "report", "--type", "weak",
                             str(tmp_path)], capture_output=True, text=True, check=False)
    assert report.returncode == 0, report.stderr
    rows = [line.split() for line in report.stdout.splitlines() if line.startswith("ResNet50")]
    assert rows == [["ResNet50", "gpu", "32", "320.00", "336.84"],  # batch time (ms)
                    ["ResNet50", "gpu", "32", "100.00", "190.00"],  # throughput
                    ["ResNet50", "gpu", "32", "1.00", "1.90"],  # speedup: one row, not two
                    ["ResNet50", "gpu", "32", "100.0", "95.0"]]  # efficiency (%)
