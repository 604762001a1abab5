"""MFU never above 1 and against a stated peak: the CPU's matmul rate is calibrated on the
matmuls models run, as the best of repeats, and logged as its own fact (never MFU's
denominator: issue 19); a bad cached entry is measured again; a run that beats its peak logs a
null MFU with the reason."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pytorch_benchmarks.measure import calibration, cpu_peak, energy
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec

from .conftest import FEW, TINY_MLP, RunBench, own_warnings


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The calibration cache file (in tmp_path), and no powercap folder."""
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(energy.POWERCAP_ENV, str(tmp_path / "no-powercap"))
    return tmp_path / "cache" / calibration.CACHE_FILE


def _write(path: Path, dtype: str, entry: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({calibration.cache_key(dtype): entry}))


def _cached(path: Path, dtype: str) -> Any:
    return json.loads(path.read_text()).get(calibration.cache_key(dtype)) if path.exists() \
        else None


# -- (a) the matmuls models run, the best of them ------------------------------------------
def test_the_calibration_takes_the_fastest_of_the_matmuls_models_run() -> None:
    """Plain ``a @ b`` 10x slower than ``x @ W.T`` (bfloat16 on AVX2): the peak is the
    latter's, not the former's."""
    rates = {"linear": 0.0146, "mm": 0.0013, "mm_ta": 0.01}

    def clock(op: str, size: int, dtype: torch.dtype) -> float:
        return 2 * size**3 / (rates[op] * 1e12)

    tflops, _, op = calibration.measure_matmul_tflops("bfloat16", clock)
    assert op == "linear" and tflops == pytest.approx(0.0146)
    assert set(calibration.OPS) == {"linear", "mm", "mm_ta"}


def _linear_tflops(size: int, dtype: torch.dtype, repeats: int = 3) -> float:
    x = torch.randn(size, size).to(dtype)
    w = torch.randn(size, size).to(dtype)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        F.linear(x, w)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def test_a_real_bfloat16_peak_is_not_below_what_f_linear_reaches() -> None:
    """The reviewer's case: torch.mm-only calibration gave 1.3 GFLOP/s in bfloat16 where
    F.linear reached 14.6 (MFU 8), a tenth. Two rates of a possibly busy machine are compared,
    so F.linear is timed just before and just after the calibration and the slower of the two
    counts (the load the calibration saw), and a quarter of it leaves room for noise."""
    before = _linear_tflops(512, torch.bfloat16)
    peak = calibration.measure_matmul_tflops("bfloat16")[0]
    after = _linear_tflops(512, torch.bfloat16)
    assert peak >= 0.25 * min(before, after), (peak, before, after)


# -- (b) a peak is a maximum: best of repeats, and a re-check that only raises it -------------
def test_the_peak_is_the_best_sample_not_a_mean() -> None:
    """Every matmul's samples vary (other work on the machine); the fastest one counts."""
    samples = iter([0.9, 0.1, 0.5, 0.7] * 100)

    def clock(op: str, size: int, dtype: torch.dtype) -> float:
        return next(samples) * 2 * size**3 / 1e12  # 1/0.9 .. 1/0.1 TFLOPS

    tflops, _, _ = calibration.measure_matmul_tflops("float32", clock)
    assert tflops == pytest.approx(10.0)


def test_the_rate_logged_is_timed_now_and_the_cache_keeps_the_best_seen(cache: Path) -> None:
    """Issue 19: the figure is a fact of this run (under its load), not the cache's best, so a
    busy re-check logs its own lower rate; the cache keeps the side and the best rate seen."""
    _write(cache, "float32", {"tflops": 0.0788, "size": 2048, "op": "linear"})
    measured: list[str] = []
    tflops, source = calibration.matmul_peak(
        "float32", lambda d: measured.append(d) or calibration.Calibration(1, 256, "mm"),
        lambda dtype, size, op: 0.15)
    assert tflops == 0.15 and not measured and "2048x2048 x @ W.T" in source
    assert _cached(cache, "float32")["tflops"] == 0.15
    tflops, source = calibration.matmul_peak("float32", None, lambda dtype, size, op: 0.1)
    assert tflops == 0.1 and "best of 2 calls now; best seen on this host 0.15 TFLOPS" in source
    assert _cached(cache, "float32")["tflops"] == 0.15  # never lowered


def test_the_recheck_times_the_cached_matmul() -> None:
    calls: list[tuple[str, int, torch.dtype]] = []

    def clock(op: str, size: int, dtype: torch.dtype) -> float:
        calls.append((op, size, dtype))
        return [0.5, 0.25][len(calls) - 1]

    assert calibration.recheck_tflops("bfloat16", 512, "mm_ta", clock) == pytest.approx(
        2 * 512**3 / 0.25 / 1e12)
    assert calls == [("mm_ta", 512, torch.bfloat16)] * calibration.RECHECK


# -- (d) a semantically bad cache entry is measured again -------------------------------------
@pytest.mark.parametrize("entry", [
    pytest.param('{"tflops": 0, "size": 512, "op": "linear"}', id="zero"),
    pytest.param('{"tflops": -0.5, "size": 512, "op": "linear"}', id="negative"),
    pytest.param('{"tflops": NaN, "size": 512, "op": "linear"}', id="nan"),
    pytest.param('{"tflops": Infinity, "size": 512, "op": "linear"}', id="inf"),
    pytest.param('{"tflops": "fast", "size": 512, "op": "linear"}', id="string"),
    pytest.param('{"tflops": true, "size": 512, "op": "linear"}', id="bool"),
    pytest.param('{"size": 512, "op": "linear"}', id="missing"),
    pytest.param('{"tflops": 0.5, "size": 333, "op": "linear"}', id="unknown-size"),
    pytest.param('{"tflops": 0.5, "size": 512, "op": "conv"}', id="unknown-op"),
    pytest.param('{"tflops": 0.5, "size": 512}', id="torch-mm-only-calibration"),
    pytest.param('0.5', id="not-an-object"),
    pytest.param('null', id="null"),
])
def test_a_bad_cache_entry_is_measured_again(cache: Path, entry: str) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(f'{{"{calibration.cache_key("float32")}": {entry}}}')
    measured: list[str] = []

    def measure(dtype: str) -> calibration.Calibration:
        measured.append(dtype)
        return calibration.Calibration(0.25, 1024, "mm_ta")

    def recheck(dtype: str, size: int, op: str) -> float:
        raise AssertionError("a bad entry is not re-checked, it is measured")

    assert calibration.matmul_peak("float32", measure, recheck)[0] == 0.25
    assert measured == ["float32"]
    assert _cached(cache, "float32") == {"tflops": 0.25, "size": 1024, "op": "mm_ta"}


def test_a_calibration_without_a_usable_rate_is_not_cached_and_logs_null(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before issue 19 it left the run without MFU; now MFU has its stated peak and only the
    measured rate is null."""
    monkeypatch.setattr(calibration, "measure_matmul_tflops",
                        lambda dtype: calibration.Calibration(0.0, 256, "mm"))
    monkeypatch.setattr(cpu_peak, "theoretical_peak", lambda *a, **k: (1.0, "theoretical: x"))
    warnings: list[str] = []
    measures = _measurements(warnings)
    measures.prepare()
    assert not cache.exists()
    measures.flops = 1e9
    facts = measures._flop_facts(100.0, 1)
    assert facts["results.matmul_peak_measured"] is None
    assert "not a valid figure" in facts["results.matmul_peak_source"]
    assert facts["results.mfu"] == pytest.approx(0.1)


def test_a_run_with_a_zero_cached_peak_measures_again(run_bench: RunBench, cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ZeroDivisionError (status failure)."""
    _write(cache, "float32", {"tflops": 0})
    monkeypatch.setattr(calibration, "measure_matmul_tflops",
                        lambda dtype: calibration.Calibration(1.0, 512, "linear"))
    code, facts = run_bench(*TINY_MLP, *FEW)
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["results.matmul_peak_measured"] == 1.0 and 0 < facts["results.mfu"] <= 1


# -- (c) above the peak: no MFU, a warning, a measured peak forgotten -------------------------
def _measurements(warnings: list[str], peak: float = 0.0, device: str = "cpu",
                  dtype: str = "float32") -> Measurements:
    return Measurements(MeasureSpec(peak_tflops=peak), "m", 4,
                        DeviceSetup(torch.device(device), dtype=dtype), DistContext(),
                        "inference", warnings.append)


@pytest.mark.parametrize("quiet, busy", [(0.5, 0.05), (0.2, 0.19)])
def test_the_measured_matmul_rate_does_not_move_mfu(
        cache: Path, monkeypatch: pytest.MonkeyPatch, quiet: float, busy: float) -> None:
    """Issue 19: one gpt2 run's MFU was 33% or 8.7% by whether the calibration ran quiet or
    busy. The rate is logged, and MFU is the same whatever it is."""
    monkeypatch.setattr(cpu_peak, "theoretical_peak", lambda *a, **k: (0.01, "theoretical: x"))
    found = []
    for rate in (quiet, busy):
        _write(cache, "float32", {"tflops": 1.0, "size": 512, "op": "mm"})
        monkeypatch.setattr(calibration, "recheck_tflops", lambda d, s, o, r=rate: r)
        measures = _measurements([])
        measures.prepare()
        measures.flops = 4e7  # x 100 samples/s = 0.004 TFLOP/s
        found.append(measures._flop_facts(100.0, 1))
    assert [f["results.matmul_peak_measured"] for f in found] == [quiet, busy]
    assert found[0]["results.mfu"] == found[1]["results.mfu"] == pytest.approx(0.4)
    assert all(f["results.peak_source"] == "theoretical: x" for f in found)
    assert all(set(f["results.matmul_peak_load"]) >= {"seconds", "load_avg_before",
                                                      "other_cpu_seconds"} for f in found)


def test_a_run_above_the_theoretical_cpu_peak_has_a_null_mfu_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_peak, "theoretical_peak",
                        lambda *a, **k: (0.001, "theoretical: 1 of 1 physical cores"))
    warnings: list[str] = []
    measures = _measurements(warnings, peak=0.0, dtype="bfloat16")
    measures.peak = measures._find_peak()
    measures.flops = 4e7  # per sample; x 100 samples/s = 0.004 TFLOP/s: 4x the peak
    facts = measures._flop_facts(100.0, 1)
    assert facts["results.mfu"] is None
    assert facts["results.tflops"] == pytest.approx(0.004)
    assert facts["results.peak_tflops"] == 0.001  # still logged, with its source
    [warning] = [w for w in warnings if w.startswith("no MFU")]
    assert facts["results.mfu_note"] == warning
    assert "achieved 0.004 TFLOP/s exceeds the peak 0.001 TFLOP/s (theoretical: 1 of 1" \
        in warning and "MFU would be 4 > 1" in warning and "--peak_tflops" in warning


def test_a_cpu_without_a_stated_peak_has_a_null_mfu_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_peak, "theoretical_peak",
                        lambda *a, **k: "no CPU peak: no known float32 vector unit")
    warnings: list[str] = []
    measures = _measurements(warnings)
    measures.peak = measures._find_peak()
    measures.flops = 1e9
    facts = measures._flop_facts(100.0, 1)
    assert facts["results.mfu"] is None and "results.peak_tflops" not in facts
    assert facts["results.mfu_note"].startswith("no CPU peak: no known float32 vector unit")
    assert "--peak_tflops" in facts["results.mfu_note"]
    assert any(w.startswith("no MFU: no CPU peak") for w in warnings)


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_given_peak_below_the_achieved_rate_gives_no_mfu(replicas: int) -> None:
    warnings: list[str] = []
    measures = _measurements(warnings, peak=1.0)
    measures.prepare()
    measures.flops = 1e10
    facts = measures._flop_facts(150.0 * replicas, replicas)  # 1.5 TFLOP/s per replica
    assert facts["results.mfu"] is None and "--peak_tflops given" in facts["results.mfu_note"]
    assert any(w.startswith(f"no MFU: achieved {1.5 * replicas:.4g} TFLOP/s exceeds the peak "
                            f"{replicas:.4g} TFLOP/s") and "(--peak_tflops)" in w
               and "--peak_tflops given is below" in w for w in warnings)


def test_a_gpu_table_peak_below_the_achieved_rate_gives_no_mfu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 as set up on a GPU
    warnings: list[str] = []
    measures = _measurements(warnings, device="cuda")
    measures.peak = measures._find_peak()
    measures.flops = 1e13
    facts = measures._flop_facts(100.0, 1)  # 1000 TFLOP/s: more than any H100 column
    assert facts["results.mfu"] is None and "(table: NVIDIA H100" in facts["results.mfu_note"]
    assert any("achieved 1000 TFLOP/s exceeds the peak" in w and "(table: NVIDIA H100" in w
               and "--peak_tflops" in w for w in warnings)


def test_an_mfu_of_at_most_one_is_logged() -> None:
    warnings: list[str] = []
    measures = _measurements(warnings, peak=2.0)
    measures.prepare()
    measures.flops = 1e10
    assert measures._flop_facts(200.0, 1)["results.mfu"] == pytest.approx(1.0)
    assert not [w for w in warnings if "MFU" in w]


def test_a_whole_run_with_a_tiny_cached_rate_keeps_its_mfu(
        run_bench: RunBench, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before issue 19 a cached rate below the run's gave no MFU and was dropped; the rate is
    no denominator now: it is logged as measured, and MFU is against the stated peak."""
    _write(cache, "float32", {"tflops": 1e-9, "size": 256, "op": "linear"})
    monkeypatch.setattr(calibration, "recheck_tflops", lambda dtype, size, op: 1e-9)
    monkeypatch.setattr(cpu_peak, "theoretical_peak", lambda *a, **k: (1.0, "theoretical: x"))
    code, facts = run_bench(*TINY_MLP, *FEW)
    assert code == 0 and facts["results.status"] == "ok"
    assert facts["results.matmul_peak_measured"] == 1e-9
    assert 0 < facts["results.mfu"] <= 1 and facts["results.peak_source"] == "theoretical: x"
    assert not [w for w in own_warnings(facts) if w.startswith("no MFU")]


def test_a_peak_that_could_not_be_cached_says_so(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(calibration.CACHE_ENV, str(blocker))  # a file: no folder can be made
    tflops, source = calibration.matmul_peak(
        "float32", lambda d: calibration.Calibration(0.2, 256, "mm"), lambda *a: 0.0)
    assert tflops == 0.2 and source.endswith(")") and "not cached (" in source
    assert "cached " + str(blocker) not in source.replace("not cached", "")
