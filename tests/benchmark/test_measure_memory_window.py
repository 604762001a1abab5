"""CPU peak memory over the timed window: what ran before it (a cold CPU peak calibration,
model building) is not in ``results.peak_memory_mb``; where the high-water mark cannot be reset
the process's is logged, and ``results.peak_memory_scope`` says which."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.measure import calibration, energy, memory
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec

from .conftest import FEW, TINY_MLP, read_facts

RESETTABLE = sys.platform == "linux" and os.access(memory.CLEAR_REFS, os.W_OK)
BENCHMARK = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / \
    "benchmarks.py"
BALLAST_MIB = 256


def _measurements() -> Measurements:
    return Measurements(MeasureSpec(peak_tflops=1.0), "m", 2, DeviceSetup(torch.device("cpu")),
                        DistContext(), "inference", lambda _: None)


def _ballast() -> float:
    """Make the process hold BALLAST_MIB more for a moment; the process peak after it."""
    ballast = torch.ones(BALLAST_MIB * 1024 * 1024 // 4)  # written: resident
    del ballast
    peak = memory.max_rss_mib()
    assert peak is not None
    return peak


@pytest.mark.skipif(not RESETTABLE, reason="needs Linux's /proc/self/clear_refs")
def test_memory_freed_before_the_timed_window_is_not_in_its_peak() -> None:
    process_peak = _ballast()
    measures = _measurements()
    x = torch.randn(64, 64)
    with measures.window():
        for _ in range(3):
            x @ x
    facts = measures.results(10.0, 3, 2, 1)
    assert facts["results.peak_memory_mb"] < process_peak - BALLAST_MIB / 2
    assert facts["results.peak_memory_scope"] == "timed_window"


@pytest.mark.skipif(not RESETTABLE, reason="needs Linux's /proc/self/clear_refs")
def test_memory_the_window_adds_is_in_its_peak() -> None:
    measures = _measurements()
    with measures.window():
        before = memory.vm_hwm_mib()
        assert before is not None
        _ballast()
    facts = measures.results(10.0, 3, 2, 1)
    assert facts["results.peak_memory_mb"] >= before + BALLAST_MIB * 0.9


def test_without_a_resettable_mark_the_process_peak_is_logged_and_said(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(memory, "CLEAR_REFS", str(tmp_path / "no" / "clear_refs"))
    process_peak = _ballast()
    measures = _measurements()
    with measures.window():
        pass
    facts = measures.results(10.0, 3, 2, 1)
    assert facts["results.peak_memory_scope"] == "process"
    assert facts["results.peak_memory_mb"] >= process_peak


def _fresh_run(cache: Path, log: Path) -> dict[str, object]:
    """One benchmark in a new process (its own memory history, never one forked from the
    tests' fork server), cache in ``cache``."""
    env = {**os.environ, calibration.CACHE_ENV: str(cache),
           energy.POWERCAP_ENV: str(cache / "no-powercap"), "DLBS_TEST_FORKSERVER": "0"}
    subprocess.run([sys.executable, str(BENCHMARK), *TINY_MLP, *FEW, "--log_file", str(log)],
                   env=env, check=True, capture_output=True, timeout=300)
    return read_facts(log)


@pytest.mark.skipif(not RESETTABLE, reason="needs Linux's /proc/self/clear_refs")
def test_a_cold_and_a_warm_calibration_cache_give_the_same_peak_memory(
        tmp_path: Path) -> None:
    """The cold run calibrates (2048-square matrices where the CPU is fast enough), the warm
    one reads the cache: the same run, so nearly the same peak (before: +61.5 MiB, 20 %,
    cold)."""
    cold = _fresh_run(tmp_path / "cache", tmp_path / "cold.log")
    warm = _fresh_run(tmp_path / "cache", tmp_path / "warm.log")
    assert cold["results.status"] == warm["results.status"] == "ok"
    cold_mib, warm_mib = cold["results.peak_memory_mb"], warm["results.peak_memory_mb"]
    assert isinstance(cold_mib, float) and isinstance(warm_mib, float)
    # The defect this guards was +61.5 MiB (20 %). What is left after the calibration frees
    # and trims its heap is not zero: +12 MiB on the idle machine, +25 to +28 MiB (5.5 to
    # 6.3 %) on a loaded CI machine, where two of six full runs failed a 5 % bound: 10 %.
    assert abs(cold_mib - warm_mib) <= 0.10 * warm_mib, (cold_mib, warm_mib)
    assert cold["results.peak_memory_scope"] == warm["results.peak_memory_scope"] == \
        "timed_window"
