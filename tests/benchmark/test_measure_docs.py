"""The measurement docs say what the code does: CPU energy warnings, MFU never above 1, the
iterations of the TTFT/TPOT percentiles, the peak memory's scope and the trace names."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pytorch_benchmarks.measure import calibration, energy

from .conftest import FEW, NO_ENERGY, TINY_MLP, RunBench

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _text(name: str) -> str:
    """A doc with its white space collapsed (sentences break across lines)."""
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8"))


def _row(key: str) -> str:
    [row] = [line for line in (DOCS / "log-format.md").read_text().splitlines()
             if line.startswith(f"| `{key}`")]
    return row


def test_a_cpu_without_energy_counters_warns_and_the_docs_say_so(
        run_bench: RunBench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(energy.POWERCAP_ENV, str(tmp_path / "no-powercap"))
    _, facts = run_bench(*TINY_MLP, *FEW, "--peak_tflops", "1")
    assert any(w.startswith(NO_ENERGY) for w in facts["exp.warnings"])
    guide = _text("pytorch-benchmark.md")
    assert "not a warning" not in guide and f"`{NO_ENERGY} ...` on a CPU" in guide
    assert "on a CPU too" in _row("results.energy_unavailable")


def test_mfu_is_documented_as_absent_above_one() -> None:
    row = _row("results.mfu")
    assert "at most 1" in row and "would exceed 1" in row and "no MFU: achieved" in row
    assert "**MFU above 1** is never logged" in _text("pytorch-benchmark.md")


def test_the_latency_percentiles_say_which_iterations_they_cover() -> None:
    row = _row("results.ttft_p50")
    assert "results.time_data" in row and "MSER" in row and "warm-up" in row
    guide = _text("pytorch-benchmark.md")
    assert "(warm-up excluded)" not in guide
    assert "the leading timed iterations that MSER drops" in guide


def test_peak_memory_and_traces_are_documented_as_they_are() -> None:
    assert "`timed_window`" in _row("results.peak_memory_scope")
    assert "cannot be reset and covers the whole process" not in _text("pytorch-benchmark.md")
    assert "-b<batch>-<dtype>-rank<r>-<UTC time>.trace.json" in _row("results.profile_path")


@pytest.mark.parametrize("key,words", [
    pytest.param("results.peak_memory_reserved_mb", "max_memory_reserved", id="reserved"),
    pytest.param("results.num_alloc_retries", "num_alloc_retries", id="retries"),
    pytest.param("results.energy_window_s", "window", id="energy-window"),
    pytest.param("results.energy_note", "too short for the counter", id="energy-note"),
    pytest.param("results.power_capped", "not a fault", id="power-cap"),
])
def test_the_gpu_review_keys_are_documented_and_typed(key: str, words: str) -> None:
    from dlbs.logs.fact_types import FACT_TYPES  # the log parser's types (tests may import dlbs)
    assert words in _row(key) and key in FACT_TYPES


def test_the_docs_say_what_float32_means_on_a_gpu() -> None:
    assert "`cuda.matmul.allow_tf32`" in _row("exp.backend_flags")
    guide = _text("pytorch-benchmark.md")
    assert "Without it `float32` is IEEE FP32 for both" in guide
    assert "A GPU window shorter than 5 s has no energy" in guide
