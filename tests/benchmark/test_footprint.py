"""A model whose state cannot fit the device is refused before any weight is allocated: the
weights, and in training a gradient and the optimizer's states per weight (DDP: its buckets too),
counted on the meta device (issue "Sharded LLM training": the memory plan's first part)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.models import create_model
from pytorch_benchmarks.run import footprint
from torch import nn

BENCH = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"
CPU = torch.device("cpu")


def test_the_state_is_counted_by_part_and_tied_weights_once() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 10, bias=False))
    params = 10 * 20 + 20 + 20 * 10
    assert footprint.footprint(model, training=False).total == 4 * params
    trained = footprint.footprint(model, training=True)
    assert (trained.weights, trained.gradients, trained.optimizer, trained.buckets) == (
        4 * params, 4 * params, 4 * params, 0)
    assert footprint.footprint(model, training=True, ddp=True).total == 16 * params
    tied = create_model("llama3_1b", num_classes=64, hidden=32, layers=1, heads=4,
                        kv_heads=2, intermediate=64)
    distinct = {id(p) for p in tied.parameters()}
    assert footprint.footprint(tied, False).parameters == sum(
        p.numel() for p in tied.parameters()) and len(distinct) == len(list(tied.parameters()))
    frozen = nn.Linear(4, 4)
    frozen.weight.requires_grad_(False)
    assert footprint.footprint(frozen, training=True).gradients == 4 * 4  # the bias only


def test_a_state_beyond_the_free_memory_is_refused_naming_its_parts() -> None:
    with torch.device("meta"):
        model = create_model("llama3_8b")
    need = footprint.footprint(model, training=True)
    assert need.parameters == 8_030_261_248 and need.total == 3 * 4 * 8_030_261_248
    with pytest.raises(BenchmarkError) as caught:
        footprint.check_fits("llama3_8b", model, CPU, training=True, free=40 * 10**9)
    message = str(caught.value)
    assert "96.4 GB before any activation" in message and "40.0 GB available" in message
    assert "gradients 32.1 GB" in message and "inference (--forward_only)" in message
    # the weights alone (32.1 GB) fit 40 GB: inference is let through
    footprint.check_fits("llama3_8b", model, CPU, training=False, free=40 * 10**9)
    # two torchrun ranks on one host share its memory
    with pytest.raises(BenchmarkError, match="for each of its 2 processes"):
        footprint.check_fits("llama3_8b", model, CPU, training=False, free=40 * 10**9,
                             sharing=2)
    with pytest.raises(BenchmarkError) as caught:  # not even the weights: no inference advice
        footprint.check_fits("llama3_8b", model, CPU, training=True, free=10**9)
    assert "--forward_only" not in str(caught.value)
    assert "shard it over ranks (--parallelism fsdp under torchrun)" in str(caught.value)
    with pytest.raises(BenchmarkError) as caught:  # already sharded over 8: more ranks
        footprint.check_fits("llama3_8b", model, CPU, training=True, free=10**9, shards=8,
                             sharded=True)
    assert "shard it over more ranks, " in str(caught.value)
    assert "12.0 GB before any activation" in str(caught.value)  # 96.4 GB / 8, no buckets


def test_nothing_is_refused_when_the_free_memory_is_unknown(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\n", encoding="ascii")
    assert footprint.available_bytes(CPU, str(meminfo)) is None
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n", encoding="ascii")
    assert footprint.available_bytes(CPU, str(meminfo)) == 2048 * 1024
    assert footprint.available_bytes(CPU, str(tmp_path / "none")) is None
    with torch.device("meta"):
        model = create_model("llama3_70b")
    need = footprint.footprint(model, training=True)
    assert footprint.refusal("llama3_70b", need, CPU, None, training=True) is None


def test_a_cuda_device_reads_its_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU the free bytes come from torch.cuda.mem_get_info (simulated here: no GPU);
    an error reading it refuses nothing."""
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 * 10**9, 80 * 10**9))
    assert footprint.available_bytes(torch.device("cuda", 0)) == 5 * 10**9

    def broken(device: object = None) -> tuple[int, int]:
        raise RuntimeError("CUDA driver initialization failed")
    monkeypatch.setattr(torch.cuda, "mem_get_info", broken)
    assert footprint.available_bytes(torch.device("cuda", 0)) is None


def test_a_70b_model_on_this_cpu_fails_in_seconds_without_allocating() -> None:
    """The user's path: the benchmark refuses llama3_70b (AdamW, its own optimizer) on a host
    without 1.1 TB with status failure and the reason (before, the kernel's OOM killer ended
    it). The memory plan judges it first, against this node's available memory (the plan
    detects it when --device_memory_gb is 0)."""
    done = subprocess.run([sys.executable, str(BENCH), "--model", "llama3_70b",
                           "--batch_size", "1", "--num_batches", "1", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert '__results.status__="failure"' in done.stdout
    assert ("the memory plan of one rank peaks at 1137.3 GB (weights 282.2, gradients 282.2, "
            "optimizer 564.4") in done.stdout
    assert "of this node's available memory" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_model_that_cannot_be_built_on_meta_is_not_checked() -> None:
    def needs_values() -> nn.Module:
        layer = nn.Linear(2, 2)
        if layer.weight.sum().item() > 1e9:  # reads a value: impossible on meta
            pass
        return layer
    assert footprint.meta_model(needs_values) is None
    assert footprint.meta_model(lambda: nn.Linear(2, 2)) is not None
