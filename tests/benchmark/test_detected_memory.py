"""Without ``--device_memory_gb`` a Llama's training plan is judged against the memory of the
device that runs it (``runtime/device_memory.py``): a CUDA device's ``total_memory`` (torch's
device properties, simulated here: this machine has no GPU), ``nvidia-smi``'s for ``validate``
(a fake one on PATH), else a CPU rank's share of its node's ``MemTotal``. The log keeps the
plan's peak beside the measured one, and the limit with where it came from."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pytorch_benchmarks.preflight import preflight
from pytorch_benchmarks.runtime import device_memory
from pytorch_benchmarks.runtime.device_memory import Detected

from .conftest import FEW

TINY = {"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2,
        "intermediate": 64}
TINY_LLAMA = ["--model", "llama3_1b", "--model_config", json.dumps(TINY), "--seq_len", "16",
              "--batch_size", "2"]
H100 = SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=85_520_809_984)


def _meminfo(tmp_path: Path, kib: int, available: int | None = None) -> str:
    path = tmp_path / "meminfo"
    extra = f"MemAvailable:   {available} kB\n" if available is not None else ""
    path.write_text(f"MemTotal:       {kib} kB\nMemFree:        1 kB\n{extra}", encoding="utf-8")
    return str(path)


def test_a_cpu_rank_gets_its_share_of_the_nodes_available_memory(tmp_path: Path) -> None:
    """Less what a process holds besides its tensors (the torch runtime, measured ~0.33 GB)."""
    path = _meminfo(tmp_path, 32_000_000, available=24_000_000)
    one = device_memory.node_share(1, path)
    assert one is not None and one.gb == pytest.approx(24.576 - 0.4)
    assert one.source == ("this node's available memory (24.6 GB, less 0.4 GB a process for "
                          "torch itself)")
    four = device_memory.node_share(4, path)
    assert four is not None and four.gb == pytest.approx(24.576 / 4 - 0.4)
    assert four.source == ("this node's available memory (24.6 GB over 4 ranks, less 0.4 GB a "
                           "process for torch itself)")
    old_kernel = device_memory.node_share(1, _meminfo(tmp_path, 32_000_000))  # no MemAvailable
    assert old_kernel is not None and old_kernel.gb == pytest.approx(32.768 - 0.4)
    assert device_memory.node_share(1, str(tmp_path / "missing")) is None


def test_a_cuda_rank_gets_its_devices_total_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: asked.append(index) or H100)
    found = device_memory.of_run("auto", 11, 8)
    assert found == Detected(85.520809984, "the detected NVIDIA H100 80GB HBM3")
    assert asked == [3]  # the rank's own device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = device_memory.of_run("auto", 0, 2)
    assert cpu is not None and cpu.source.startswith("this node's available memory (")


def _fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\nprintf '{output}'\n", encoding="utf-8")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_validate_reads_the_smallest_gpu_of_nvidia_smi(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, monkeypatch, "NVIDIA H100 80GB HBM3, 81559\\nNVIDIA A100-SXM4-40GB, "
                                     "40960\\nnot a row\\n")
    found = device_memory.of_host("gpu", 8)
    assert found is not None and found.gb == pytest.approx(40960 * 2**20 / 1e9)
    assert found.source == "this host's NVIDIA A100-SXM4-40GB (nvidia-smi)"
    # a CPU's is the node's share; MemAvailable moves between two reads (tests beside this
    # one allocate), so both see one figure
    monkeypatch.setattr(device_memory, "node_memory_bytes", lambda *args: 16 << 30)
    assert device_memory.of_host("cpu", 1) == device_memory.node_share(1)


def test_a_plan_beyond_the_detected_gpu_is_refused_by_validate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, monkeypatch, "NVIDIA H100 80GB HBM3, 81559\\n")
    argv = ["--model", "llama3_8b", "--device", "gpu", "--batch_size", "2", "--seq_len", "8192",
            "--dtype", "bfloat16", "--parallelism", "fsdp"]
    found = preflight(argv, 8, True, host=True, detect_memory=True)
    assert [r.check for r in found] == ["memory_plan_fits"]
    assert ("more than the 85.5 GB of this host's NVIDIA H100 80GB HBM3 (nvidia-smi) "
            "(--device_memory_gb sets another limit); the smallest change that fits: "
            "--activation_checkpointing selective") in found[0].message
    # judged only where asked (an experiment this host runs), and never over a given limit
    assert preflight(argv, 8, True, host=True) == []
    assert preflight(argv, 8, True, host=False, detect_memory=True) == []
    assert preflight([*argv, "--device_memory_gb", "200"], 8, True, host=True,
                     detect_memory=True) == []


def test_the_run_refuses_a_plan_beyond_its_device_and_logs_the_plan(
        run_bench: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    code, facts = run_bench(*TINY_LLAMA, *FEW)
    assert code == 0
    planned = facts["exp.memory_plan_mb"]
    assert 0 < planned < facts["results.peak_memory_mb"] * 10
    assert facts["exp.memory_limit_source"].startswith("this node's available memory (")
    # the limit is the available memory the run saw, less a process's overhead (what is
    # available moves while tests beside this one allocate: read from the run's own source)
    seen = re.match(r"this node's available memory \(([\d.]+) GB, less ([\d.]+) GB",
                    facts["exp.memory_limit_source"])
    assert seen, facts["exp.memory_limit_source"]
    assert facts["exp.memory_limit_gb"] == pytest.approx(
        float(seen.group(1)) - float(seen.group(2)), abs=0.1)
    code, facts = run_bench(*TINY_LLAMA, *FEW, "--device_memory_gb", "80")
    assert code == 0 and facts["exp.memory_limit_gb"] == 80
    assert facts["exp.memory_limit_source"] == "--device_memory_gb"

    monkeypatch.setattr(device_memory, "of_run",
                        lambda device, rank, ranks: Detected(planned * 2**20 / 2e9,
                                                             "the detected Tiny GPU"))
    code, facts = run_bench(*TINY_LLAMA, *FEW)
    assert code != 0
    error = facts["results.error"]
    assert facts["results.status"] == "failure" and error.startswith(
        "the memory plan of one rank peaks at")
    assert "of the detected Tiny GPU (--device_memory_gb sets another limit)" in error
    code, facts = run_bench(*TINY_LLAMA, *FEW, "--forward_only")  # inference: no plan
    assert code == 0 and "exp.memory_plan_mb" not in facts


def test_the_batch_search_counts_a_plan_beyond_the_limit_as_not_fitting(tmp_path: Path) -> None:
    """--batch_size max with a memory limit: a probe whose plan exceeds it does not fit (the
    search goes on below it), it is not a failure of the run. In a process of its own: the
    search forks its probes, which a process whose OpenMP threads already ran (the tests'
    in-process runs) cannot do safely."""
    import subprocess
    import sys

    from pytorch_benchmarks.checks import Subject
    from pytorch_benchmarks.models import get_model_info
    from pytorch_benchmarks.plan.memory_plan import Case, LlamaShape

    from .conftest import read_facts

    info = get_model_info("llama3_1b", TINY)
    shape = LlamaShape.of(info.settings)
    assert shape is not None

    def peak(batch: int) -> float:
        subject = Subject(model="llama3_1b", seq_len=16, batch_size=batch, device="cpu")
        return Case.of(subject, info, shape).plan().peak / 1e9

    limit = (peak(5) + peak(6)) / 2  # 5 fits the plan, 6 does not
    log = tmp_path / "search.log"
    script = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / \
        "benchmarks.py"
    done = subprocess.run([sys.executable, str(script), *TINY_LLAMA[:-2], "--batch_size",
                           "max", "--device", "cpu", "--num_batches", "2",
                           "--num_warmup_batches", "1", "--device_memory_gb", f"{limit:.9f}",
                           "--max_batch_time", "60", "--log_file", str(log)],
                          capture_output=True, text=True, timeout=300, check=False)
    facts = read_facts(log)
    assert done.returncode == 0, done.stderr[-2000:]
    assert facts["results.max_batch"] == 5 and facts["exp.effective_batch"] == 5
